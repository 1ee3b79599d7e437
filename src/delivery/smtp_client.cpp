#include "assemblyline/smtp_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include "assemblyline/error.hpp"
#include "delivery/curl_global.hpp"

namespace al {

struct SmtpClient::Handle {
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  std::vector<std::string> replies;  // the server's reply lines of this message
  std::string_view upload;
  std::size_t upload_pos = 0;

  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);  // sends QUIT on an open connection
  }

  static std::size_t read_body(char* buffer, std::size_t size, std::size_t nitems, void* userdata) {
    auto* self = static_cast<Handle*>(userdata);
    auto const n = std::min(size * nitems, self->upload.size() - self->upload_pos);
    std::memcpy(buffer, self->upload.data() + self->upload_pos, n);
    self->upload_pos += n;
    return n;
  }

  // libcurl hands SMTP server replies to the header callback, one line each.
  static std::size_t read_reply(char* buffer, std::size_t size, std::size_t nitems, void* userdata) {
    auto* self = static_cast<Handle*>(userdata);
    std::string_view line{buffer, size * nitems};
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty() && self->replies.size() < 64) self->replies.emplace_back(line.substr(0, 512));
    return size * nitems;
  }
};

SmtpClient::SmtpClient(SmtpSettings settings)
    : m_settings{std::move(settings)}, m_handle{std::make_unique<Handle>()} {
  detail::ensure_curl_global_init();
  m_handle->curl = curl_easy_init();
  if (m_handle->curl == nullptr) throw Error{"smtp: curl_easy_init failed", true};
  CURL* const c = m_handle->curl;
  // Options that hold for every message; the handle keeps the connection alive between them.
  curl_easy_setopt(c, CURLOPT_URL, m_settings.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_USE_SSL,
                   static_cast<long>(m_settings.starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
  if (!m_settings.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, m_settings.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, m_settings.password.c_str());
  }
  if (!m_settings.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, m_settings.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(m_settings.timeout_s));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(m_settings.timeout_s));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM in a threaded daemon
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, m_handle->error);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &Handle::read_body);
  curl_easy_setopt(c, CURLOPT_READDATA, m_handle.get());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Handle::read_reply);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, m_handle.get());
}

SmtpClient::~SmtpClient() = default;

SmtpResult SmtpClient::send(std::string const& envelope_from, std::string const& rcpt,
                            std::string const& mime) {
  SmtpResult result;
  // These reach the SMTP dialogue verbatim: a line break would inject commands.
  for (auto const* value : {&envelope_from, &rcpt}) {
    if (value->find_first_of("\r\n<>") != std::string::npos || value->empty()) {
      result.permanent = true;
      result.reply = "smtp: refused envelope address \"" + value->substr(0, 100) + "\"";
      return result;
    }
  }
  auto& h = *m_handle;
  h.error[0] = '\0';
  h.replies.clear();
  h.upload = mime;
  h.upload_pos = 0;

  curl_slist* recipients = curl_slist_append(nullptr, rcpt.c_str());
  if (recipients == nullptr) {
    result.reply = "smtp: out of memory";
    return result;
  }
  curl_easy_setopt(h.curl, CURLOPT_MAIL_FROM, envelope_from.c_str());
  curl_easy_setopt(h.curl, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(h.curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(mime.size()));
  auto const rc = curl_easy_perform(h.curl);
  curl_easy_setopt(h.curl, CURLOPT_MAIL_RCPT, nullptr);
  curl_slist_free_all(recipients);
  h.upload = {};

  long code = 0;
  curl_easy_getinfo(h.curl, CURLINFO_RESPONSE_CODE, &code);
  result.code = static_cast<int>(code);
  result.ok = rc == CURLE_OK;
  // The reply that carries the code, not the "221 Bye" that may follow it.
  std::string reply = h.replies.empty() ? std::string{} : h.replies.back();
  auto const code_text = std::to_string(code);
  for (auto it = h.replies.rbegin(); code != 0 && it != h.replies.rend(); ++it) {
    if (it->compare(0, 3, code_text) == 0) {
      reply = *it;
      break;
    }
  }
  if (result.ok) {
    result.reply = reply;
    return result;
  }
  // A 5xx reply is the server's final word; no reply (refused, timeout, TLS) is worth a retry.
  result.permanent = code >= 500 && code < 600;
  result.reply = curl_easy_strerror(rc);
  if (h.error[0] != '\0' && std::strcmp(h.error, curl_easy_strerror(rc)) != 0)
    result.reply += std::string{": "} + h.error;
  if (!reply.empty()) result.reply += "; server said: " + reply;
  return result;
}

}  // namespace al
