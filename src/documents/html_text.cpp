#include "assemblyline/html_text.hpp"

#include <array>
#include <cctype>
#include <string_view>
#include <utility>

namespace al {
namespace {

void append_utf8(std::string& out, char32_t cp) {
  // Surrogates, NUL and out-of-range values are not characters: use U+FFFD.
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

constexpr std::array<std::pair<std::string_view, char32_t>, 28> named_entities{{
    {"amp", U'&'},        {"lt", U'<'},          {"gt", U'>'},          {"quot", U'"'},
    {"apos", U'\''},      {"nbsp", U' '},        {"copy", U'\u00A9'},   {"reg", U'\u00AE'},
    {"euro", U'\u20AC'},  {"ndash", U'\u2013'},  {"mdash", U'\u2014'},  {"hellip", U'\u2026'},
    {"lsquo", U'\u2018'}, {"rsquo", U'\u2019'},  {"ldquo", U'\u201C'},  {"rdquo", U'\u201D'},
    {"laquo", U'\u00AB'}, {"raquo", U'\u00BB'},  {"auml", U'\u00E4'},   {"ouml", U'\u00F6'},
    {"uuml", U'\u00FC'},  {"Auml", U'\u00C4'},   {"Ouml", U'\u00D6'},   {"Uuml", U'\u00DC'},
    {"szlig", U'\u00DF'}, {"eacute", U'\u00E9'}, {"egrave", U'\u00E8'}, {"bull", U'\u2022'},
}};

/// Decodes the entity starting at html[pos] == '&'; returns the characters
/// consumed, or 0 when it is not an entity (then '&' is literal text).
std::size_t decode_entity(std::string_view html, std::size_t pos, std::string& decoded) {
  auto const semi = html.find(';', pos + 1);
  if (semi == std::string_view::npos || semi - pos > 12) return 0;
  auto const name = html.substr(pos + 1, semi - pos - 1);
  if (name.size() >= 2 && name[0] == '#') {
    bool const hex = name[1] == 'x' || name[1] == 'X';
    auto const digits = name.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    char32_t cp = 0;
    for (char const c : digits) {
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (hex && c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return 0;
      cp = cp * (hex ? 16 : 10) + static_cast<char32_t>(d);
      if (cp > 0x10FFFF) cp = 0x110000;  // stays invalid, cannot overflow
    }
    append_utf8(decoded, cp);
    return semi - pos + 1;
  }
  for (auto const& [entity, cp] : named_entities) {
    if (entity == name) {
      append_utf8(decoded, cp);
      return semi - pos + 1;
    }
  }
  return 0;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool is_one_of(std::string_view name, std::initializer_list<std::string_view> names) {
  for (auto const n : names)
    if (n == name) return true;
  return false;
}

class TextBuilder {
 public:
  void text(char c) {
    if (m_pre == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')) {
      m_pending_space = true;
      return;
    }
    flush_space();
    if (c != '\r') m_out += c;
  }
  void literal(std::string_view s) {
    flush_space();
    m_out += s;
  }
  void space() { m_pending_space = true; }
  void line_break() {
    m_pending_space = false;
    m_out += '\n';
  }
  /// Starts a new line unless already at the start of one: block elements.
  void block_boundary() {
    m_pending_space = false;
    if (!m_out.empty() && m_out.back() != '\n') m_out += '\n';
  }
  void enter_pre() { ++m_pre; }
  void leave_pre() {
    if (m_pre > 0) --m_pre;
  }

  /// Trims each line, keeps at most one blank line in a row and none at the ends.
  [[nodiscard]] std::string finish() const {
    std::string result;
    int blank_run = 0;
    std::size_t start = 0;
    while (start <= m_out.size()) {
      auto end = m_out.find('\n', start);
      if (end == std::string::npos) end = m_out.size();
      std::string_view line{m_out.data() + start, end - start};
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
      if (line.empty()) {
        ++blank_run;
      } else {
        if (!result.empty()) result += blank_run > 0 ? "\n\n" : "\n";
        result += line;
        blank_run = 0;
      }
      start = end + 1;
    }
    return result;
  }

 private:
  void flush_space() {
    if (m_pending_space && !m_out.empty() && m_out.back() != '\n') m_out += ' ';
    m_pending_space = false;
  }

  std::string m_out;
  bool m_pending_space = false;
  int m_pre = 0;
};

}  // namespace

std::string html_to_text(std::string const& input) {
  std::string_view const html{input};
  TextBuilder out;
  std::size_t i = 0;
  while (i < html.size()) {
    char const c = html[i];
    if (c == '&') {
      std::string decoded;
      if (auto const n = decode_entity(html, i, decoded); n > 0) {
        out.literal(decoded);
        i += n;
      } else {
        out.literal("&");
        ++i;
      }
      continue;
    }
    bool const starts_tag = c == '<' && i + 1 < html.size() &&
                            (std::isalpha(static_cast<unsigned char>(html[i + 1])) || html[i + 1] == '/' ||
                             html[i + 1] == '!' || html[i + 1] == '?');
    if (!starts_tag) {
      out.text(c);
      ++i;
      continue;
    }
    if (html.compare(i, 4, "<!--") == 0) {
      auto const end = html.find("-->", i + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    // Read the tag name, then skip attributes up to '>' (quoted values may hold '>').
    std::size_t j = i + 1;
    bool const closing = html[j] == '/';
    if (closing) ++j;
    std::string name;
    while (j < html.size() && std::isalnum(static_cast<unsigned char>(html[j])))
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(html[j++])));
    char quote = 0;
    bool self_closing = false;
    for (; j < html.size(); ++j) {
      if (quote) {
        if (html[j] == quote) quote = 0;
      } else if (html[j] == '"' || html[j] == '\'') {
        quote = html[j];
      } else if (html[j] == '>') {
        self_closing = j > i && html[j - 1] == '/';
        break;
      }
    }
    i = j < html.size() ? j + 1 : html.size();

    if (!closing && !self_closing && (name == "script" || name == "style")) {
      // Their content is code, never text: skip to the matching end tag.
      std::size_t k = i;
      for (; k < html.size(); ++k) {
        if (html[k] == '<' && k + 2 + name.size() <= html.size() && html[k + 1] == '/' &&
            iequals(html.substr(k + 2, name.size()), name))
          break;
      }
      auto const gt = html.find('>', k);
      i = gt == std::string_view::npos ? html.size() : gt + 1;
      continue;
    }
    if (name == "br") {
      out.line_break();
    } else if (name == "hr") {
      out.block_boundary();
    } else if (name == "pre") {
      out.block_boundary();
      closing ? out.leave_pre() : out.enter_pre();
    } else if (name == "p" || (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6')) {
      // Paragraphs and headings stand apart by a blank line, as in a text mail.
      out.block_boundary();
      if (closing) out.line_break();
    } else if (name == "li") {
      out.block_boundary();
      if (!closing) out.literal("- ");
    } else if (is_one_of(name, {"div", "tr", "ul", "ol", "table", "blockquote", "section", "article",
                                "header", "footer", "address", "dl", "dt", "dd", "tbody", "thead"})) {
      out.block_boundary();
    } else if (closing && (name == "td" || name == "th")) {
      out.space();
    }
  }
  return out.finish();
}

}  // namespace al
