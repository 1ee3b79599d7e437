#include "assemblyline/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

#include "assemblyline/error.hpp"
#include "delivery/curl_global.hpp"

namespace al {
namespace {

constexpr std::size_t max_body_in_error = 300;

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

std::size_t keep_start_of_body(char* buffer, std::size_t size, std::size_t nitems, void* userdata) {
  auto* body = static_cast<std::string*>(userdata);
  auto const n = size * nitems;
  if (body->size() < max_body_in_error) body->append(buffer, std::min(n, max_body_in_error - body->size()));
  return n;  // the rest is read and dropped
}

}  // namespace

HttpResult post_json(std::string const& url, std::string const& body,
                     std::vector<std::pair<std::string, std::string>> const& headers, int timeout_s) {
  HttpResult result;
  detail::ensure_curl_global_init();
  std::unique_ptr<curl_slist, SlistDeleter> header_list{
      curl_slist_append(nullptr, "Content-Type: application/json")};
  for (auto const& [name, value] : headers) {
    if ((name + value).find_first_of("\r\n") != std::string::npos || name.empty() ||
        name.find(':') != std::string::npos) {
      result.error = "header injection: CR/LF or bad name in header \"" + name.substr(0, 60) + "\"";
      return result;
    }
    // Appending to a non-empty list keeps its head, so the owner stays valid.
    if (curl_slist_append(header_list.get(), (name + ": " + value).c_str()) == nullptr) {
      result.error = "http: out of memory";
      return result;
    }
  }
  std::unique_ptr<CURL, CurlDeleter> const curl{curl_easy_init()};
  if (!curl) {
    result.error = "http: curl_easy_init failed";
    return result;
  }
  char error[CURL_ERROR_SIZE] = {};
  std::string response;
  CURL* const c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect would turn the POST into a GET
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(timeout_s));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(timeout_s));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &keep_start_of_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "assemblyline/0.1");

  auto const rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &result.status);
  if (rc != CURLE_OK) {
    result.error = curl_easy_strerror(rc);
    if (error[0] != '\0') result.error += std::string{": "} + error;
    return result;
  }
  result.ok = result.status >= 200 && result.status < 300;
  if (!result.ok) {
    result.error = "HTTP " + std::to_string(result.status);
    if (!response.empty()) result.error += ": " + response;
  }
  return result;
}

}  // namespace al
