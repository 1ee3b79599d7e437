#include "delivery/curl_global.hpp"

#include <curl/curl.h>

#include <mutex>

#include "assemblyline/error.hpp"

namespace al::detail {

void ensure_curl_global_init() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) throw Error{std::string{"curl: global init: "} + curl_easy_strerror(result)};
}

}  // namespace al::detail
