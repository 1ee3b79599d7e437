// SMTP submission of ready-made MIME messages (see mime_message.hpp) through
// libcurl, kept out of this header. One client holds one connection open across
// messages; it is not thread-safe, so use one per worker thread.
// SMTP failures are results, not exceptions: the publisher decides on retries.
#pragma once

#include <memory>
#include <string>

namespace al {

struct SmtpSettings {
  std::string url{};       ///< smtp://host:port or smtps://host:port; a path sets the EHLO name
  bool starttls = false;   ///< on smtp://, require STARTTLS (fail rather than send in clear)
  std::string username{};  ///< AUTH only when not empty
  std::string password{};
  std::string ca_file{};  ///< PEM file of CAs to trust instead of the system's (a private CA)
  int timeout_s = 30;  ///< per message, connecting included
};

struct SmtpResult {
  bool ok = false;
  int code = 0;            ///< last SMTP reply code, 0 when none was received
  bool permanent = false;  ///< a 5xx reply: sending again will fail again
  std::string reply{};     ///< curl's error and the server's last reply line
};

class SmtpClient {
 public:
  /// Throws al::Error only when libcurl cannot make a handle.
  explicit SmtpClient(SmtpSettings settings);
  ~SmtpClient();
  SmtpClient(SmtpClient const&) = delete;
  SmtpClient& operator=(SmtpClient const&) = delete;

  /// Sends `mime` (CRLF lines) to one recipient. `envelope_from` and `rcpt`
  /// are bare addresses. Connection failures and timeouts come back with
  /// permanent == false: try again later.
  [[nodiscard]] SmtpResult send(std::string const& envelope_from, std::string const& rcpt,
                                std::string const& mime);

 private:
  struct Handle;
  SmtpSettings m_settings;
  std::unique_ptr<Handle> m_handle;
};

}  // namespace al
