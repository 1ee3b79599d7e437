// Print streams: many letters in one PDF for the print shop (libharu, kept out
// of this header). Each letter starts on a new sheet, its address sits in the
// DIN 5008 window of a C5/DL envelope, its body wraps on A4 and runs on over
// as many pages as it needs, each numbered "Page i of n" within the letter.
#pragma once

#include <string>
#include <vector>

namespace al {

struct PrintLetter {
  std::string address_block{};  ///< UTF-8 lines separated by '\n'
  std::string body_text{};      ///< UTF-8; '\n' ends a paragraph, long lines wrap
  std::string reference{};      ///< one line printed below the window (e.g. a record id)
};

struct PrintOptions {
  /// Two-sided printing: each letter is padded to an even page count, so the
  /// next letter starts on the front of a new sheet.
  bool duplex = false;
  // DIN 5008 form B window, in millimetres from the top-left corner of the page.
  double window_left_mm = 20;
  double window_top_mm = 45;
  double window_width_mm = 85;
  double window_height_mm = 45;
  // Body margins (DIN 5008: left 25 mm, right at least 20 mm).
  double margin_left_mm = 25;
  double margin_right_mm = 20;
  double margin_top_mm = 20;
  double margin_bottom_mm = 25;
  double font_size_pt = 10;
  /// A Unicode TrueType font, embedded when the file exists (Debian package
  /// fonts-dejavu-core). Empty or missing: the base font Helvetica with
  /// WinAnsiEncoding (CP1252), where characters outside CP1252 print as '?'.
  std::string ttf_font_path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
};

struct PrintStreamResult {
  std::string pdf{};  ///< the PDF bytes; identical input gives identical bytes
  int pages = 0;      ///< pages in the PDF, padding pages included
  int sheets = 0;     ///< paper sheets needed (pages, or half of them in duplex)
  std::vector<int> letter_pages{};  ///< pages of each letter, padding included, in input order
};

/// Lays out and renders `letters` in order. Throws al::Error (not retryable)
/// for no letters or an address block that does not fit the window, and for
/// libharu failures (retryable only when memory ran out).
[[nodiscard]] PrintStreamResult build_print_stream(std::vector<PrintLetter> const& letters,
                                                   PrintOptions const& opts = {});

}  // namespace al
