// Outgoing HTTP for webhooks: one JSON POST, no redirects followed, through
// libcurl (kept out of this header). Failures are results, not exceptions, so
// the notifier can keep the event in its outbox and try again later.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace al {

struct HttpResult {
  bool ok = false;      ///< a 2xx response arrived
  long status = 0;      ///< HTTP status, 0 when no response arrived
  std::string error{};  ///< why not ok: curl's message, or the status and the start of the body
};

/// POSTs `body` with Content-Type: application/json and the extra `headers`
/// (name, value), e.g. an HMAC signature from digest.hpp. Only http and https
/// URLs are allowed; a header value with CR/LF is refused without sending.
[[nodiscard]] HttpResult post_json(std::string const& url, std::string const& body,
                                   std::vector<std::pair<std::string, std::string>> const& headers,
                                   int timeout_s);

}  // namespace al
