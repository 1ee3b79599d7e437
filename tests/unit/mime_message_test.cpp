#include "assemblyline/mime_message.hpp"

#include <gtest/gtest.h>

#include <string_view>

#include "assemblyline/error.hpp"

namespace {

std::string base64_decode(std::string_view in) {
  auto const value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char const c : in) {
    int const v = value(c);
    if (v < 0) continue;  // padding, line breaks
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

std::string qp_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '=' && in.substr(i + 1, 2) == "\r\n") {
      i += 2;  // soft line break
    } else if (in[i] == '=') {
      out += static_cast<char>(std::stoi(std::string{in.substr(i + 1, 2)}, nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

/// The unfolded value of header `name` (first occurrence in the top-level header block).
std::string header(std::string const& mime, std::string const& name) {
  auto const head = mime.substr(0, mime.find("\r\n\r\n") + 2);
  auto pos = head.find(name + ": ");
  if (pos == std::string::npos) return "<missing>";
  pos += name.size() + 2;
  std::string value;
  while (true) {
    auto const end = head.find("\r\n", pos);
    value += head.substr(pos, end - pos);
    if (end + 2 >= head.size() || (head[end + 2] != ' ' && head[end + 2] != '\t')) break;
    pos = end + 2;  // a folded continuation line
  }
  return value;
}

/// Decodes RFC 2047 B encoded-words; the folding blanks between adjacent words vanish.
std::string decode_words(std::string const& value) {
  std::string out;
  std::size_t pos = 0;
  bool previous_was_word = false;
  while (pos < value.size()) {
    auto const start = value.find("=?UTF-8?B?", pos);
    auto const gap = value.substr(pos, start == std::string::npos ? std::string::npos : start - pos);
    if (!(previous_was_word && start != std::string::npos &&
          gap.find_first_not_of(" \t") == std::string::npos))
      out += gap;
    if (start == std::string::npos) break;
    auto const end = value.find("?=", start + 10);
    out += base64_decode(value.substr(start + 10, end - start - 10));
    pos = end + 2;
    previous_was_word = true;
  }
  return out;
}

al::MailMessage sample() {
  al::MailMessage m;
  m.from = "Billing <billing@example.com>";
  m.to = "Ada Lovelace <ada@example.org>";
  m.subject = "Your invoice";
  m.html = "<p>Hello <b>Ada</b></p>";
  return m;
}

TEST(MimeMessage, EncodesNonAsciiSubjectAndDisplayNamesAsEncodedWords) {
  auto m = sample();
  m.subject = "Grüße an Herrn Müller aus Łódź und 東京 — eine lange Betreffzeile, die gefaltet werden muss";
  m.to = "Jürgen Müller-Łódź 東京 <juergen@example.org>";
  m.from = "\"Müller, Hans\" <hans@example.com>";
  auto const mime = al::build_mime(m, 1700000000);

  auto const subject = header(mime, "Subject");
  EXPECT_EQ(decode_words(subject), m.subject) << "raw: " << subject;
  auto const to = header(mime, "To");
  EXPECT_EQ(decode_words(to), "Jürgen Müller-Łódź 東京 <juergen@example.org>") << "raw: " << to;
  EXPECT_EQ(decode_words(header(mime, "From")), "Müller, Hans <hans@example.com>");

  auto const head = mime.substr(0, mime.find("\r\n\r\n"));
  for (char const c : head) EXPECT_LT(static_cast<unsigned char>(c), 0x80) << "raw 8-bit byte in a header";
  std::size_t start = 0;
  while (start < head.size()) {
    auto end = head.find("\r\n", start);
    if (end == std::string::npos) end = head.size();
    EXPECT_LE(end - start, 78u) << "header line too long: " << head.substr(start, end - start);
    start = end + 2;
  }
}

TEST(MimeMessage, RejectsCrLfInEveryHeaderField) {
  struct Case {
    std::string field;
    void (*poison)(al::MailMessage&);
  };
  Case const cases[] = {
      {"subject", [](al::MailMessage& m) { m.subject = "Hi\r\nBcc: victim@example.net"; }},
      {"to", [](al::MailMessage& m) { m.to = "ada@example.org\nBcc: victim@example.net"; }},
      {"from", [](al::MailMessage& m) { m.from = "Evil\r <billing@example.com>"; }},
      {"reply_to", [](al::MailMessage& m) { m.reply_to = "x@example.com\r\nX-Evil: 1"; }},
      {"attachment filename",
       [](al::MailMessage& m) {
         m.attachments.push_back({"a\r\n.pdf", "application/pdf", "x"});
       }},
  };
  for (auto const& c : cases) {
    auto m = sample();
    c.poison(m);
    try {
      (void)al::build_mime(m, 0);
      ADD_FAILURE() << "want al::Error for CR/LF in " << c.field;
    } catch (al::Error const& e) {
      EXPECT_EQ(std::string{e.what()}, "header injection: CR/LF in " + c.field);
      EXPECT_FALSE(e.retryable());
    }
  }
}

TEST(MimeMessage, RejectsInvalidRecipientAddress) {
  auto m = sample();
  m.to = "Ada <not an address>";
  EXPECT_THROW((void)al::build_mime(m, 0), al::Error);
}

TEST(MimeMessage, ValidatesAddressesPragmatically) {
  struct Case {
    std::string address;
    bool want;
  };
  Case const cases[] = {
      {"ada@example.org", true},
      {"a.b+tag@mail.example.co.uk", true},
      {"root@localhost", true},
      {"", false},
      {"ada", false},
      {"@example.org", false},
      {"ada@", false},
      {"ada@@example.org", false},
      {"a@b@example.org", false},
      {"ada@example", false},
      {"ada lovelace@example.org", false},
      {"ada@exam ple.org", false},
      {"ada@example.org\r\n", false},
      {"ada@.example.org", false},
      {"ada@example..org", false},
      {"<ada@example.org>", false},
      {"müller@example.org", false},
  };
  for (auto const& c : cases) EXPECT_EQ(al::is_valid_email(c.address), c.want) << "address: " << c.address;
}

TEST(MimeMessage, ExtractsTheBareAddressOfAMailbox) {
  EXPECT_EQ(al::mailbox_address("Ada Lovelace <ada@example.org>"), "ada@example.org");
  EXPECT_EQ(al::mailbox_address("\"Müller, Hans\" < hans@example.com >"), "hans@example.com");
  EXPECT_EQ(al::mailbox_address("  ada@example.org "), "ada@example.org");
}

TEST(MimeMessage, WritesStandardHeadersAndCrlfLineEnds) {
  auto m = sample();
  m.reply_to = "support@example.com";
  auto const mime = al::build_mime(m, 0);
  EXPECT_EQ(header(mime, "Date"), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(header(mime, "From"), "Billing <billing@example.com>");
  EXPECT_EQ(header(mime, "To"), "Ada Lovelace <ada@example.org>");
  EXPECT_EQ(header(mime, "Reply-To"), "support@example.com");
  EXPECT_EQ(header(mime, "Subject"), "Your invoice");
  EXPECT_EQ(header(mime, "MIME-Version"), "1.0");
  auto const id = header(mime, "Message-ID");
  EXPECT_EQ(id.front(), '<');
  EXPECT_NE(id.find("@example.com>"), std::string::npos) << "got: " << id;
  EXPECT_NE(header(mime, "Content-Type").find("multipart/alternative"), std::string::npos);
  for (std::size_t i = 0; i < mime.size(); ++i) {
    if (mime[i] == '\n') {
      ASSERT_TRUE(i > 0 && mime[i - 1] == '\r') << "bare LF at byte " << i;
    } else if (mime[i] == '\r') {
      ASSERT_TRUE(i + 1 < mime.size() && mime[i + 1] == '\n') << "bare CR at byte " << i;
    }
  }
}

TEST(MimeMessage, UsesTheGivenMessageIdDomainAndLeavesOutAnEmptyReplyTo) {
  auto m = sample();
  m.message_id_domain = "mail.example.net";
  auto const mime = al::build_mime(m, 0);
  EXPECT_NE(header(mime, "Message-ID").find("@mail.example.net>"), std::string::npos);
  EXPECT_EQ(header(mime, "Reply-To"), "<missing>");
}

TEST(MimeMessage, CarriesTextAndHtmlAlternativesThatDecodeBackExactly) {
  auto m = sample();
  m.text =
      "Price = 10 €, Müller\nA line that is long enough to need a soft line break because it has more "
      "than seventy-six characters.\n.starts with a dot\ntrailing blank ";
  auto const mime = al::build_mime(m, 0);
  auto const plain =
      mime.find("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable");
  ASSERT_NE(plain, std::string::npos) << mime;
  auto const body_start = mime.find("\r\n\r\n", plain) + 4;
  auto const body_end = mime.find("\r\n--=_al_alt_", body_start);
  auto const body = mime.substr(body_start, body_end - body_start);
  auto want = m.text;
  for (auto p = want.find('\n'); p != std::string::npos; p = want.find('\n', p + 2))
    want.replace(p, 1, "\r\n");
  EXPECT_EQ(qp_decode(body), want);
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find("\r\n", start);
    if (end == std::string::npos) end = body.size();
    EXPECT_LE(end - start, 76u) << "QP line too long";
    start = end + 2;
  }
  EXPECT_NE(mime.find("Content-Type: text/html; charset=UTF-8"), std::string::npos);
}

TEST(MimeMessage, MakesTheTextPartFromHtmlWhenNoTextIsGiven) {
  auto const mime = al::build_mime(sample(), 0);
  EXPECT_NE(mime.find("\r\n\r\nHello Ada\r\n--=_al_alt_"), std::string::npos) << mime;
}

TEST(MimeMessage, WrapsAttachmentsInMultipartMixedAsBase64) {
  auto m = sample();
  std::string pdf = "%PDF-1.4\n";
  for (int i = 0; i < 300; ++i) pdf += static_cast<char>(i % 256);
  m.attachments.push_back({"Rechnung Müller.pdf", "application/pdf", pdf});
  m.attachments.push_back({"data.csv", "text/csv", "a,b\n1,2\n"});
  auto const mime = al::build_mime(m, 0);

  auto const type = header(mime, "Content-Type");
  EXPECT_NE(type.find("multipart/mixed"), std::string::npos) << "got: " << type;
  EXPECT_NE(mime.find("Content-Type: multipart/alternative"), std::string::npos);
  EXPECT_NE(mime.find("filename*=UTF-8''Rechnung%20M%C3%BCller.pdf"), std::string::npos);
  EXPECT_NE(mime.find("filename=\"data.csv\""), std::string::npos);

  auto const part = mime.find("Content-Type: application/pdf");
  ASSERT_NE(part, std::string::npos);
  auto const body_start = mime.find("\r\n\r\n", part) + 4;
  auto const body_end = mime.find("\r\n--=_al_mix_", body_start);
  auto const body = mime.substr(body_start, body_end - body_start);
  EXPECT_EQ(base64_decode(body), pdf);
  std::size_t start = 0;
  while (start < body.size()) {
    auto end = body.find("\r\n", start);
    if (end == std::string::npos) end = body.size();
    EXPECT_LE(end - start, 76u) << "base64 line too long";
    start = end + 2;
  }
  EXPECT_NE(mime.rfind("--\r\n"), std::string::npos) << "closing boundary missing";
}

}  // namespace
