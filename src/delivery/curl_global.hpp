// Internal: libcurl's process-wide initialisation, done once for every client.
#pragma once

namespace al::detail {

/// curl_global_init(CURL_GLOBAL_DEFAULT) exactly once per process, before the
/// first easy handle; it is not thread-safe itself, hence the std::call_once.
void ensure_curl_global_init();

}  // namespace al::detail
