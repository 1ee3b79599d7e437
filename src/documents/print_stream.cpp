#include "assemblyline/print_stream.hpp"

#include <hpdf.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string_view>

#include "assemblyline/error.hpp"

namespace al {
namespace {

constexpr double pt_per_mm = 72.0 / 25.4;
constexpr double line_spacing = 1.25;     // leading as a multiple of the font size
constexpr double address_inset_mm = 5;    // text starts this far right of the window edge
constexpr double address_zone_mm = 17.7;  // DIN 5008 form B: remark zone above the address

/// libharu reports errors through a callback and then returns an error code;
/// throwing from inside its C frames is not safe, so the callback records the
/// first error and `check` throws once control is back in C++.
struct HpdfErrors {
  HPDF_STATUS error = HPDF_OK;
  HPDF_STATUS detail = 0;
};

void record_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void* user_data) {
  auto* errors = static_cast<HpdfErrors*>(user_data);
  if (errors->error == HPDF_OK) {
    errors->error = error_no;
    errors->detail = detail_no;
  }
}

void check(HpdfErrors const& errors, std::string_view what) {
  if (errors.error == HPDF_OK) return;
  char code[64];
  std::snprintf(code, sizeof code, "libharu error 0x%04lX (detail %lu)",
                static_cast<unsigned long>(errors.error), static_cast<unsigned long>(errors.detail));
  throw Error{"print stream: " + std::string{what} + ": " + code, errors.error == HPDF_FAILD_TO_ALLOC_MEM};
}

struct DocDeleter {
  void operator()(HPDF_Doc doc) const noexcept { HPDF_Free(doc); }
};
using DocPtr = std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, DocDeleter>;

/// Bytes of one character at text[pos] in the font's encoding.
std::size_t char_len(std::string_view text, std::size_t pos, bool utf8) {
  if (!utf8) return 1;
  auto const c = static_cast<unsigned char>(text[pos]);
  std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  return std::min(n, text.size() - pos);
}

/// Decodes UTF-8, calling `emit` per code point; invalid bytes give U+FFFD.
template <typename Emit>
void for_each_code_point(std::string_view s, Emit emit) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto const c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = n > 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      auto const cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms and surrogates are not valid UTF-8 either.
    if (ok && ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
               (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (!ok) {
      emit(U'\uFFFD');
      ++i;
    } else {
      emit(cp);
      i += n;
    }
  }
}

/// CP1252 byte for a code point, or '?' when CP1252 has no such character.
char to_cp1252(char32_t cp) {
  if (cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF)) return static_cast<char>(cp);
  // The 0x80-0x9F block of CP1252, in byte order (0 = unassigned).
  static constexpr char32_t block[32] = {0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                         0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
                                         0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                         0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};
  for (int i = 0; i < 32; ++i)
    if (block[i] == cp) return static_cast<char>(0x80 + i);
  return '?';
}

void append_utf8(std::string& out, char32_t cp) {
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

/// One line of UTF-8 input in the font's encoding: valid UTF-8 (TrueType) or
/// CP1252 (base font). Control characters become blanks; they have no glyphs
/// and NUL would end libharu's C string.
std::string encode_line(std::string_view line, bool utf8) {
  std::string out;
  for_each_code_point(line, [&](char32_t cp) {
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) cp = U' ';
    if (utf8)
      append_utf8(out, cp);
    else
      out += to_cp1252(cp);
  });
  return out;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (true) {
    auto const end = text.find('\n', start);
    auto line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return lines;
}

class Typesetter {
 public:
  Typesetter(HPDF_Font font, double size, bool utf8) : m_font{font}, m_size{size}, m_utf8{utf8} {}

  [[nodiscard]] double width(std::string_view encoded) const {
    auto const w = HPDF_Font_TextWidth(m_font, reinterpret_cast<HPDF_BYTE const*>(encoded.data()),
                                       static_cast<HPDF_UINT>(encoded.size()));
    return w.width * m_size / 1000.0;
  }

  /// Greedy word wrap of one encoded paragraph; words wider than a line are
  /// cut between characters. An empty paragraph stays as one blank line.
  void wrap(std::string_view para, double max_width, std::vector<std::string>& out) const {
    std::string line;
    std::size_t pos = 0;
    bool any = false;
    while (pos < para.size()) {
      if (para[pos] == ' ') {
        ++pos;
        continue;
      }
      auto end = para.find(' ', pos);
      if (end == std::string_view::npos) end = para.size();
      std::string_view word = para.substr(pos, end - pos);
      pos = end;
      auto candidate = line.empty() ? std::string{word} : line + " " + std::string{word};
      if (width(candidate) <= max_width) {
        line = std::move(candidate);
        continue;
      }
      if (!line.empty()) {
        out.push_back(std::move(line));
        any = true;
        line.clear();
      }
      while (width(word) > max_width) {  // a word longer than the line: cut it
        std::size_t cut = 0;
        while (cut < word.size()) {
          auto const next = cut + char_len(word, cut, m_utf8);
          if (cut > 0 && width(word.substr(0, next)) > max_width) break;
          cut = next;
        }
        out.emplace_back(word.substr(0, cut));
        any = true;
        word.remove_prefix(cut);
      }
      line = std::string{word};
    }
    if (!line.empty() || !any) out.push_back(std::move(line));
  }

 private:
  HPDF_Font m_font;
  double m_size;
  bool m_utf8;
};

struct Geometry {
  double page_w = 0, page_h = 0;
  double leading = 0;
  double body_left = 0, body_width = 0;
  double first_body_top = 0;  // distance from the page top, in points
  double next_body_top = 0;
  double body_bottom = 0;  // distance from the page top
  [[nodiscard]] int lines_on_page(bool first) const {
    auto const top = first ? first_body_top : next_body_top;
    return std::max(1, static_cast<int>((body_bottom - top) / leading));
  }
};

}  // namespace

PrintStreamResult build_print_stream(std::vector<PrintLetter> const& letters, PrintOptions const& opts) {
  if (letters.empty()) throw Error{"print stream: no letters to print"};
  HpdfErrors errors;
  DocPtr const doc{HPDF_New(record_error, &errors)};
  if (!doc) throw Error{"print stream: HPDF_New failed (out of memory?)", true};
  HPDF_SetCompressionMode(doc.get(), HPDF_COMP_ALL);
  HPDF_SetInfoAttr(doc.get(), HPDF_INFO_CREATOR, "Assembly Line");
  check(errors, "create document");

  HPDF_Font font = nullptr;
  bool utf8 = false;
  std::error_code ec;
  if (!opts.ttf_font_path.empty() && std::filesystem::is_regular_file(opts.ttf_font_path, ec)) {
    HPDF_UseUTFEncodings(doc.get());
    HPDF_SetCurrentEncoder(doc.get(), "UTF-8");
    char const* name = HPDF_LoadTTFontFromFile(doc.get(), opts.ttf_font_path.c_str(), HPDF_TRUE);
    if (name != nullptr && errors.error == HPDF_OK) font = HPDF_GetFont(doc.get(), name, "UTF-8");
    if (font != nullptr && errors.error == HPDF_OK) {
      utf8 = true;
    } else {
      // An unreadable font file costs the non-Latin characters, not the print run.
      font = nullptr;
      HPDF_ResetError(doc.get());
      errors = {};
    }
  }
  if (font == nullptr) font = HPDF_GetFont(doc.get(), "Helvetica", "WinAnsiEncoding");
  check(errors, "load font");

  auto const size = opts.font_size_pt;
  Typesetter const typesetter{font, size, utf8};
  Geometry g;
  g.page_w = 210 * pt_per_mm;
  g.page_h = 297 * pt_per_mm;
  g.leading = size * line_spacing;
  g.body_left = opts.margin_left_mm * pt_per_mm;
  g.body_width = g.page_w - g.body_left - opts.margin_right_mm * pt_per_mm;
  auto const window_bottom = (opts.window_top_mm + opts.window_height_mm) * pt_per_mm;
  auto const reference_top = window_bottom + 2 * g.leading;
  g.first_body_top = reference_top + 3 * g.leading;
  g.next_body_top = opts.margin_top_mm * pt_per_mm;
  g.body_bottom = g.page_h - opts.margin_bottom_mm * pt_per_mm;
  if (g.body_width < 20 * size || g.body_bottom - g.next_body_top < 4 * g.leading)
    throw Error{"print stream: margins leave no room for text"};

  // Draws `text` with its top at `top` points below the page's upper edge.
  auto const text_out = [&](HPDF_Page page, double x, double top, std::string const& text) {
    HPDF_Page_TextOut(page, static_cast<HPDF_REAL>(x), static_cast<HPDF_REAL>(g.page_h - top - size),
                      text.c_str());
  };
  auto const new_page = [&] {
    HPDF_Page page = HPDF_AddPage(doc.get());
    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    return page;
  };

  PrintStreamResult result;
  for (std::size_t n = 0; n < letters.size(); ++n) {
    auto const& letter = letters[n];
    auto const where = "letter " + std::to_string(n + 1) +
                       (letter.reference.empty() ? std::string{} : " (" + letter.reference + ")");

    // Address: in the DIN address zone when it fits there, else higher up in the window.
    std::vector<std::string> address;
    for (auto const line : split_lines(letter.address_block)) {
      auto encoded = encode_line(line, utf8);
      if (encoded.find_first_not_of(' ') != std::string::npos) address.push_back(std::move(encoded));
    }
    while (!address.empty() && address.back().empty()) address.pop_back();
    auto const window_h = opts.window_height_mm * pt_per_mm;
    auto const address_h = static_cast<double>(address.size()) * g.leading;
    auto const inset = 2 * pt_per_mm;
    if (address.empty()) throw Error{"print stream: " + where + ": empty address block"};
    if (address_h > window_h - 2 * inset)
      throw Error{"print stream: " + where + ": address block of " + std::to_string(address.size()) +
                  " lines does not fit the window"};
    auto const address_top =
        opts.window_top_mm * pt_per_mm + std::min(address_zone_mm * pt_per_mm, window_h - inset - address_h);
    auto const address_left = (opts.window_left_mm + address_inset_mm) * pt_per_mm;
    auto const address_width = (opts.window_width_mm - address_inset_mm) * pt_per_mm - inset;
    for (auto const& line : address)
      if (typesetter.width(line) > address_width)
        throw Error{"print stream: " + where + ": address line too wide for the window"};

    std::vector<std::string> body;
    for (auto const line : split_lines(letter.body_text))
      typesetter.wrap(encode_line(line, utf8), g.body_width, body);
    while (!body.empty() && body.back().empty()) body.pop_back();

    // Paginate first: "Page i of n" needs n before the first page is drawn.
    std::vector<std::pair<std::size_t, std::size_t>> page_ranges;  // [begin, end) into body
    std::size_t next = 0;
    do {
      auto const take = static_cast<std::size_t>(g.lines_on_page(page_ranges.empty()));
      auto const end = std::min(body.size(), next + take);
      page_ranges.emplace_back(next, end);
      next = end;
    } while (next < body.size());

    auto const total = static_cast<int>(page_ranges.size());
    for (int p = 0; p < total; ++p) {
      HPDF_Page page = new_page();
      HPDF_Page_BeginText(page);
      HPDF_Page_SetFontAndSize(page, font, static_cast<HPDF_REAL>(size));
      double top = g.next_body_top;
      if (p == 0) {
        for (std::size_t i = 0; i < address.size(); ++i)
          text_out(page, address_left, address_top + static_cast<double>(i) * g.leading, address[i]);
        if (!letter.reference.empty())
          text_out(page, g.body_left, reference_top, encode_line(letter.reference, utf8));
        top = g.first_body_top;
      }
      auto const [begin, end] = page_ranges[static_cast<std::size_t>(p)];
      for (auto i = begin; i < end; ++i, top += g.leading)
        if (!body[i].empty()) text_out(page, g.body_left, top, body[i]);
      auto const footer = "Page " + std::to_string(p + 1) + " of " + std::to_string(total);
      auto const footer_top = g.page_h - opts.margin_bottom_mm * pt_per_mm / 2 - size;
      text_out(page, g.page_w - opts.margin_right_mm * pt_per_mm - typesetter.width(footer), footer_top,
               footer);
      HPDF_Page_EndText(page);
      check(errors, where + ": page " + std::to_string(p + 1));
    }
    int pages = total;
    if (opts.duplex && pages % 2 == 1) {
      new_page();  // blank back side: the next letter starts on a new sheet
      ++pages;
    }
    result.pages += pages;
    result.sheets += opts.duplex ? pages / 2 : pages;
    result.letter_pages.push_back(pages);
    check(errors, where);
  }

  HPDF_SaveToStream(doc.get());
  check(errors, "save");
  auto const bytes = HPDF_GetStreamSize(doc.get());
  result.pdf.resize(bytes);
  HPDF_ResetStream(doc.get());
  HPDF_UINT32 done = 0;
  while (done < bytes) {
    HPDF_UINT32 n = bytes - done;
    auto const status =
        HPDF_ReadFromStream(doc.get(), reinterpret_cast<HPDF_BYTE*>(result.pdf.data()) + done, &n);
    done += n;
    // libharu signals the end of its stream as an "error"; it is not one here.
    if (status == HPDF_STREAM_EOF || n == 0) break;
    check(errors, "read back");
  }
  if (done != bytes)
    throw Error{"print stream: read back " + std::to_string(done) + " of " + std::to_string(bytes) +
                " bytes"};
  return result;
}

}  // namespace al
