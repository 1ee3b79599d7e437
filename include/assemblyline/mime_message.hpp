// E-mail messages as RFC 5322 + MIME text, ready for SMTP: multipart/alternative
// (text/plain + text/html, UTF-8), wrapped in multipart/mixed for attachments.
// Header values come from records, so CR/LF in any of them is refused (header
// injection) and non-ASCII goes out as RFC 2047 encoded-words. No mail library.
#pragma once

#include <ctime>
#include <string>
#include <vector>

namespace al {

struct Attachment {
  std::string filename{};      ///< as the recipient sees it; non-ASCII allowed (RFC 2231)
  std::string content_type{};  ///< "application/pdf"; empty means application/octet-stream
  std::string bytes{};
};

struct MailMessage {
  std::string from{};      ///< "addr" or "Display Name <addr>"
  std::string to{};        ///< one mailbox, same forms as `from`
  std::string reply_to{};  ///< optional
  std::string subject{};
  std::string html{};  ///< optional; with it the message is multipart/alternative
  std::string text{};  ///< optional; made from `html` by html_to_text when empty
  std::vector<Attachment> attachments{};
  std::string message_id_domain{};  ///< right side of Message-ID; default: the domain of `from`
  std::string message_id{};         ///< optional "<id@domain>"; a random one is made when empty
};

/// The whole message, CRLF line ends, lines within 78 characters where the
/// format allows. Date is `now` in UTC. Throws al::Error (not retryable) for
/// "header injection: CR/LF in <field>", an invalid address or a missing From/To.
[[nodiscard]] std::string build_mime(MailMessage const& message, std::time_t now);

/// Pragmatic check for an addr-spec: one '@', non-empty local part and domain,
/// printable ASCII only (we do not speak SMTPUTF8), none of <>()[],;:"\ or
/// whitespace; the domain is letters, digits, '-' and '.', with an inner dot
/// and no empty label, or is "localhost".
[[nodiscard]] bool is_valid_email(std::string const& address);

/// The bare address of "Name <addr>" (or of "addr"), trimmed; not validated.
[[nodiscard]] std::string mailbox_address(std::string const& mailbox);

}  // namespace al
