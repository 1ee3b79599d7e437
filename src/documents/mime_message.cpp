#include "assemblyline/mime_message.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "assemblyline/error.hpp"
#include "assemblyline/html_text.hpp"

namespace al {
namespace {

constexpr char const* crlf = "\r\n";
constexpr std::size_t max_line = 76;  // RFC 2045 for encoded bodies; 78 for headers

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void refuse_crlf(std::string_view value, std::string const& field) {
  if (value.find_first_of("\r\n") != std::string_view::npos)
    throw Error{"header injection: CR/LF in " + field};
}

std::string random_hex(std::size_t n_bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string raw(n_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(n_bytes)) != 1)
    throw Error{"mime: no random bytes from OpenSSL", true};
  std::string out;
  for (unsigned char const c : raw) {
    out += digits[c >> 4];
    out += digits[c & 0x0f];
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto const v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                   static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (auto const rest = in.size() - i; rest > 0) {
    auto v = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    if (rest == 2) v |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_lines(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 57)
    out += base64(in.substr(i, 57)) + crlf;  // 57 bytes -> 76 chars
  return out;
}

/// Quoted-printable (RFC 2045 6.7) with CRLF hard breaks for any input line end.
std::string quoted_printable(std::string_view in) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  std::string line;
  auto const flush_line = [&](bool hard) {
    out += line;
    if (hard) out += crlf;
    line.clear();
  };
  auto const put = [&](std::string_view token) {
    if (line.size() + token.size() > max_line - 1) {  // keep room for the soft break '='
      line += '=';
      out += line + crlf;
      line.clear();
    }
    line += token;
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto const c = static_cast<unsigned char>(in[i]);
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ++i;
      flush_line(true);
      continue;
    }
    bool const at_line_end = i + 1 == in.size() || in[i + 1] == '\r' || in[i + 1] == '\n';
    // Trailing blanks would be stripped in transit; a leading '.' upsets naive SMTP code.
    bool const literal = (c >= 33 && c <= 126 && c != '=' && !(c == '.' && line.empty())) ||
                         ((c == ' ' || c == '\t') && !at_line_end);
    if (literal) {
      put(std::string_view{reinterpret_cast<char const*>(&in[i]), 1});
    } else {
      char const enc[3] = {'=', digits[c >> 4], digits[c & 0x0f]};
      put(std::string_view{enc, 3});
    }
  }
  if (!line.empty()) flush_line(false);
  return out;
}

bool is_plain_ascii(std::string_view s) {
  for (char const ch : s) {
    auto const c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return s.find("=?") == std::string_view::npos;  // would read as an encoded-word
}

/// RFC 2047 B encoded-words for `text`, folded with CRLF SP so that no line
/// passes 76 characters; `used` is how much of the first line is taken.
std::string encoded_words(std::string_view text, std::size_t used) {
  static constexpr std::size_t overhead = 12;  // "=?UTF-8?B?" + "?="
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (used + overhead + 8 > max_line) {  // not even two characters fit: fold first
      out += "\r\n ";
      used = 1;
    }
    auto const max_bytes = (max_line - used - overhead) / 4 * 3;
    auto n = std::min(max_bytes, text.size() - pos);
    // Never split a UTF-8 sequence across two words (RFC 2047 section 5).
    while (n > 0 && pos + n < text.size() && (static_cast<unsigned char>(text[pos + n]) & 0xC0) == 0x80) --n;
    if (n == 0) n = std::min(max_bytes, text.size() - pos);  // not UTF-8: split anywhere
    auto const word = "=?UTF-8?B?" + base64(text.substr(pos, n)) + "?=";
    out += word;
    used += word.size();
    pos += n;
    if (pos < text.size()) {
      out += "\r\n ";
      used = 1;
    }
  }
  return out;
}

/// An ASCII header value folded at blanks to stay within 78 characters where it can.
std::string fold_ascii(std::string_view text, std::size_t used) {
  std::string out;
  std::size_t pos = 0;
  while (text.size() - pos + used > 78) {
    auto const limit = pos + (78 - std::min<std::size_t>(used, 77));
    auto const cut = text.rfind(' ', limit);
    if (cut == std::string_view::npos || cut <= pos) break;  // one long word: leave it
    out += text.substr(pos, cut - pos);
    out += "\r\n";
    pos = cut;  // the blank starts the continuation line
    used = 0;
  }
  out += text.substr(pos);
  return out;
}

/// An unstructured value (Subject): plain when it is printable ASCII, else encoded-words.
std::string header_text(std::string_view value, std::size_t used) {
  if (is_plain_ascii(value)) {
    auto folded = fold_ascii(value, used);
    bool too_long = false;
    std::size_t line_start = 0;
    for (auto p = folded.find(crlf);; p = folded.find(crlf, line_start)) {
      auto const end = p == std::string::npos ? folded.size() : p;
      if (end - line_start + (line_start == 0 ? used : 0) > 998) too_long = true;
      if (p == std::string::npos) break;
      line_start = p + 2;
    }
    if (!too_long) return folded;
  }
  return encoded_words(value, used);
}

struct Mailbox {
  std::string display;
  std::string address;
};

Mailbox split_mailbox(std::string_view value) {
  value = trim(value);
  auto const lt = value.rfind('<');
  if (lt == std::string_view::npos || value.empty() || value.back() != '>')
    return {std::string{}, std::string{value}};
  auto display = trim(value.substr(0, lt));
  std::string name;
  if (display.size() >= 2 && display.front() == '"' && display.back() == '"') {
    display = display.substr(1, display.size() - 2);
    for (std::size_t i = 0; i < display.size(); ++i) {
      if (display[i] == '\\' && i + 1 < display.size()) ++i;
      name += display[i];
    }
  } else {
    name = display;
  }
  return {name, std::string{trim(value.substr(lt + 1, value.size() - lt - 2))}};
}

Mailbox parse_mailbox(std::string const& value, std::string const& field) {
  refuse_crlf(value, field);
  auto mailbox = split_mailbox(value);
  if (mailbox.address.empty()) throw Error{"mime: no address in " + field};
  if (!is_valid_email(mailbox.address))
    throw Error{"mime: invalid e-mail address in " + field + ": \"" + mailbox.address + "\""};
  return mailbox;
}

bool is_atext_phrase(std::string_view s) {
  for (char const c : s) {
    bool const ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
                    std::string_view{"!#$%&'*+-/=?^_`{|}~"}.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

/// "Name <addr>" for a header whose name (with ": ") takes `used` characters.
std::string format_mailbox(Mailbox const& mailbox, std::size_t used) {
  if (mailbox.display.empty()) return mailbox.address;
  std::string phrase;
  if (is_plain_ascii(mailbox.display) && mailbox.display.size() <= 200) {
    if (is_atext_phrase(mailbox.display)) {
      phrase = mailbox.display;
    } else {
      phrase = "\"";
      for (char const c : mailbox.display) {
        if (c == '"' || c == '\\') phrase += '\\';
        phrase += c;
      }
      phrase += '"';
    }
    return phrase + " <" + mailbox.address + ">";
  }
  phrase = encoded_words(mailbox.display, used);
  auto const last_break = phrase.rfind('\n');
  auto const line_used =
      last_break == std::string::npos ? used + phrase.size() : phrase.size() - last_break - 1;
  auto const addr = "<" + mailbox.address + ">";
  return phrase + (line_used + 1 + addr.size() > 78 ? "\r\n " : " ") + addr;
}

std::string rfc5322_date(std::time_t now) {
  static constexpr char const* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr char const* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&now, &tm);
  // Written by hand: strftime's %a and %b follow the locale.
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool is_domain(std::string_view d) {
  if (d == "localhost") return true;
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.' || d.front() == '-') return false;
  if (d.find("..") != std::string_view::npos || d.find('.') == std::string_view::npos) return false;
  for (char const c : d)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return false;
  return true;
}

std::string message_id(MailMessage const& m, Mailbox const& from) {
  if (!m.message_id.empty()) {
    refuse_crlf(m.message_id, "message_id");
    std::string_view id = trim(m.message_id);
    if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
    auto const at = id.find('@');
    if (at == std::string_view::npos || at == 0 || id.find_first_of(" \t<>\"") != std::string_view::npos ||
        !is_domain(id.substr(at + 1)))
      throw Error{"mime: invalid message_id \"" + m.message_id + "\""};
    return "<" + std::string{id} + ">";
  }
  refuse_crlf(m.message_id_domain, "message_id_domain");
  auto const domain =
      m.message_id_domain.empty() ? from.address.substr(from.address.find('@') + 1) : m.message_id_domain;
  if (!is_domain(domain)) throw Error{"mime: invalid message_id_domain \"" + domain + "\""};
  return "<" + random_hex(16) + "@" + domain + ">";
}

/// A text part: quoted-printable for mostly-ASCII text, base64 when QP would bloat it.
std::string text_part(std::string const& subtype, std::string const& body) {
  std::size_t high = 0;
  for (char const c : body) high += static_cast<unsigned char>(c) >= 0x80;
  bool const b64 = high * 3 > body.size();
  std::string out = "Content-Type: text/" + subtype + "; charset=UTF-8" + crlf +
                    "Content-Transfer-Encoding: " + (b64 ? "base64" : "quoted-printable") + crlf + crlf;
  out += b64 ? base64_lines(body) : quoted_printable(body) + crlf;
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (char const ch : s) {
    auto const c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
        c == '_') {
      out += ch;
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0x0f];
    }
  }
  return out;
}

std::string attachment_part(Attachment const& a) {
  refuse_crlf(a.filename, "attachment filename");
  refuse_crlf(a.content_type, "attachment content_type");
  auto const type = a.content_type.empty() ? std::string{"application/octet-stream"} : a.content_type;
  if (type.find('/') == std::string::npos || type.find_first_of("\"\\") != std::string::npos)
    throw Error{"mime: invalid attachment content_type \"" + type + "\""};
  // An ASCII fallback name for old readers, the exact one as RFC 2231 for the rest.
  std::string fallback;
  bool exact = true;
  for (char const ch : a.filename) {
    auto const c = static_cast<unsigned char>(ch);
    bool const plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '/';
    fallback += plain ? ch : '_';
    exact = exact && plain;
  }
  if (fallback.empty()) fallback = "attachment";
  std::string out = "Content-Type: " + type + "; name=\"" + fallback + "\"" + crlf;
  out += "Content-Disposition: attachment;" + std::string{crlf} + " filename=\"" + fallback + "\"";
  if (!exact && !a.filename.empty())
    out += ";" + std::string{crlf} + " filename*=UTF-8''" + percent_encode(a.filename);
  out += crlf;
  out += "Content-Transfer-Encoding: base64" + std::string{crlf} + crlf;
  out += base64_lines(a.bytes);
  return out;
}

std::string multipart(std::string const& boundary, std::vector<std::string> const& parts) {
  std::string out;
  for (auto const& part : parts) out += "--" + boundary + crlf + part;
  out += "--" + boundary + "--" + crlf;
  return out;
}

std::string content_type_multipart(std::string const& subtype, std::string const& boundary) {
  return "Content-Type: multipart/" + subtype + ";" + crlf + " boundary=\"" + boundary + "\"" + crlf;
}

}  // namespace

bool is_valid_email(std::string const& address) {
  if (address.empty() || address.size() > 254) return false;
  auto const at = address.find('@');
  if (at == std::string::npos || at == 0 || address.find('@', at + 1) != std::string::npos) return false;
  if (at > 64) return false;
  for (char const ch : std::string_view{address}.substr(0, at)) {
    auto const c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || std::string_view{"<>()[],;:\"\\"}.find(ch) != std::string_view::npos)
      return false;
  }
  return is_domain(std::string_view{address}.substr(at + 1));
}

std::string mailbox_address(std::string const& mailbox) { return split_mailbox(mailbox).address; }

std::string build_mime(MailMessage const& m, std::time_t now) {
  // Every header value is checked before anything is assembled.
  auto const from = parse_mailbox(m.from, "from");
  auto const to = parse_mailbox(m.to, "to");
  refuse_crlf(m.reply_to, "reply_to");
  refuse_crlf(m.subject, "subject");
  std::string out;
  out += "Date: " + rfc5322_date(now) + crlf;
  out += "From: " + format_mailbox(from, 6) + crlf;
  out += "To: " + format_mailbox(to, 4) + crlf;
  if (!trim(m.reply_to).empty())
    out += "Reply-To: " + format_mailbox(parse_mailbox(m.reply_to, "reply_to"), 10) + crlf;
  out += "Subject: " + header_text(m.subject, 9) + crlf;
  out += "Message-ID: " + message_id(m, from) + crlf;
  out += "MIME-Version: 1.0" + std::string{crlf};

  auto const text = m.text.empty() && !m.html.empty() ? html_to_text(m.html) : m.text;
  std::string body_headers;
  std::string body;
  if (m.html.empty()) {
    auto const part = text_part("plain", text);
    auto const split = part.find("\r\n\r\n");
    body_headers = part.substr(0, split + 2);
    body = part.substr(split + 4);
  } else {
    auto const boundary = "=_al_alt_" + random_hex(12);
    body_headers = content_type_multipart("alternative", boundary);
    body = multipart(boundary, {text_part("plain", text), text_part("html", m.html)});
  }
  if (m.attachments.empty()) return out + body_headers + crlf + body;

  std::vector<std::string> parts{body_headers + crlf + body};
  for (auto const& a : m.attachments) parts.push_back(attachment_part(a));
  auto const boundary = "=_al_mix_" + random_hex(12);
  out += content_type_multipart("mixed", boundary) + crlf;
  out += "This is a multi-part message in MIME format." + std::string{crlf};
  out += multipart(boundary, parts);
  return out;
}

}  // namespace al
