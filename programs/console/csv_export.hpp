// CSV for spreadsheets: RFC 4180 quoting, and values that a spreadsheet would
// run as a formula (= + - @ tab CR first) neutralised with a leading quote
// (OWASP "CSV injection").
#pragma once

#include <string>
#include <vector>

namespace al::console {

/// The byte-order mark that makes spreadsheet programs read the file as UTF-8.
inline constexpr const char* utf8_bom = "\xEF\xBB\xBF";

/// One field, neutralised and quoted when it needs to be.
[[nodiscard]] std::string csv_field(const std::string& value);

/// One line of fields, ending in CRLF.
[[nodiscard]] std::string csv_line(const std::vector<std::string>& fields);

}  // namespace al::console
