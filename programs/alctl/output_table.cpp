// Aligned / CSV / JSON rendering of query results for alctl.
#include "output_table.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <pqxx/pqxx>

namespace alctl {
namespace {

// PostgreSQL type oids (pg_type.dat); stable across versions.
Cell::Kind kind_of(pqxx::oid type) {
  switch (type) {
    case 16: return Cell::Kind::boolean;                                  // bool
    case 20: case 21: case 23: case 26: case 700: case 701: case 1700:    // int8 int2 int4 oid float4 float8 numeric
      return Cell::Kind::number;
    case 114: case 3802: return Cell::Kind::json;                         // json jsonb
    case 1114: case 1184: return Cell::Kind::timestamp;                   // timestamp timestamptz
    default: return Cell::Kind::text;
  }
}

// Width in characters, counting UTF-8 continuation bytes as nothing.
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// What a cell shows in the aligned table: one line, seconds precision, bounded length.
std::string table_text(const Cell& cell) {
  if (cell.kind == Cell::Kind::null) return "";
  std::string text = cell.text;
  if (cell.kind == Cell::Kind::boolean) return text == "t" ? "yes" : "no";
  if (cell.kind == Cell::Kind::timestamp) {
    // "2024-05-01 12:00:00.123456+00" → "2024-05-01 12:00:00+00"
    const auto dot = text.find('.');
    if (dot != std::string::npos) {
      auto end = dot + 1;
      while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
      text.erase(dot, end - dot);
    }
    return text;
  }
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  constexpr std::size_t limit = 100;
  if (display_width(text) > limit) {
    std::size_t bytes = 0, chars = 0;
    while (bytes < text.size() && chars < limit - 1) {
      ++bytes;
      while (bytes < text.size() && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80) ++bytes;
      ++chars;
    }
    text = text.substr(0, bytes) + "…";
  }
  return text;
}

std::string csv_field(const Cell& cell) {
  if (cell.kind == Cell::Kind::null) return "";
  std::string text = cell.kind == Cell::Kind::boolean ? (cell.text == "t" ? "true" : "false") : cell.text;
  // A spreadsheet runs a text cell that starts with = + - @ as a formula
  // (CSV injection): a leading apostrophe keeps it text. Numbers stay as they are.
  if (cell.kind == Cell::Kind::text && !text.empty() && std::string_view("=+-@").find(text[0]) != std::string_view::npos)
    text.insert(0, 1, '\'');
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_header(const std::string& name) { return csv_field(Cell::of(name)); }

nlohmann::ordered_json cell_json(const Cell& cell) {
  switch (cell.kind) {
    case Cell::Kind::null: return nullptr;
    case Cell::Kind::boolean: return cell.text == "t" || cell.text == "true";
    case Cell::Kind::number:
    case Cell::Kind::json: {
      auto parsed = nlohmann::ordered_json::parse(cell.text, nullptr, false);
      return parsed.is_discarded() ? nlohmann::ordered_json(cell.text) : parsed;
    }
    default: return cell.text;
  }
}

}  // namespace

Table Table::from_result(const pqxx::result& result) {
  std::vector<std::string> columns;
  std::vector<Cell::Kind> kinds;
  for (pqxx::row_size_type c = 0; c < result.columns(); ++c) {
    columns.emplace_back(result.column_name(c));
    kinds.push_back(kind_of(result.column_type(c)));
  }
  Table table(std::move(columns));
  for (const auto& row : result) {
    std::vector<Cell> cells;
    for (pqxx::row_size_type c = 0; c < row.size(); ++c)
      cells.push_back(row[c].is_null() ? Cell::null() : Cell{kinds[c], row[c].c_str()});
    table.add_row(std::move(cells));
  }
  return table;
}

void Table::truncate(std::size_t n) {
  if (m_rows.size() > n) m_rows.resize(n);
}

void Table::merge_record(const Table& other) {
  for (std::size_t c = 0; c < other.m_columns.size(); ++c) {
    if (std::find(m_columns.begin(), m_columns.end(), other.m_columns[c]) != m_columns.end()) continue;
    m_columns.push_back(other.m_columns[c]);
    if (!m_rows.empty()) m_rows[0].push_back(other.m_rows.empty() ? Cell::null() : other.m_rows[0][c]);
  }
}

nlohmann::ordered_json Table::row_to_json(std::size_t row) const {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (std::size_t c = 0; c < m_columns.size(); ++c)
    object[m_columns[c]] = c < m_rows[row].size() ? cell_json(m_rows[row][c]) : nullptr;
  return object;
}

nlohmann::ordered_json Table::to_json() const {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (std::size_t r = 0; r < m_rows.size(); ++r) array.push_back(row_to_json(r));
  return array;
}

void Table::print(std::ostream& out, Format format) const {
  if (format == Format::json) {
    out << to_json().dump(2) << '\n';
    return;
  }
  if (format == Format::csv) {
    for (std::size_t c = 0; c < m_columns.size(); ++c) out << (c ? "," : "") << csv_header(m_columns[c]);
    out << "\r\n";
    for (const auto& row : m_rows) {
      for (std::size_t c = 0; c < row.size(); ++c) out << (c ? "," : "") << csv_field(row[c]);
      out << "\r\n";
    }
    return;
  }
  std::vector<std::vector<std::string>> texts;
  std::vector<std::size_t> widths;
  for (const auto& name : m_columns) widths.push_back(display_width(name));
  for (const auto& row : m_rows) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line.push_back(table_text(row[c]));
      widths[c] = std::max(widths[c], display_width(line.back()));
    }
    texts.push_back(std::move(line));
  }
  std::vector<bool> numeric(m_columns.size(), false);
  for (const auto& row : m_rows)
    for (std::size_t c = 0; c < row.size(); ++c)
      if (row[c].kind == Cell::Kind::number) numeric[c] = true;
  const auto emit = [&](const std::vector<std::string>& line) {
    std::string text;
    for (std::size_t c = 0; c < line.size(); ++c) {
      const std::size_t pad = widths[c] - display_width(line[c]);
      const bool right = numeric[c];
      if (c) text += "  ";
      if (right) text += std::string(pad, ' ') + line[c];
      else text += line[c] + (c + 1 < line.size() ? std::string(pad, ' ') : "");
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  emit(m_columns);
  for (const auto& line : texts) emit(line);
  if (m_rows.empty()) out << "(none)\n";
}

void Table::print_record(std::ostream& out, Format format) const {
  if (format != Format::table || m_rows.empty()) {
    if (format == Format::json && !m_rows.empty()) out << row_to_json(0).dump(2) << '\n';
    else print(out, format);
    return;
  }
  std::size_t width = 0;
  for (const auto& name : m_columns) width = std::max(width, display_width(name));
  for (std::size_t c = 0; c < m_columns.size(); ++c) {
    const std::string value = table_text(m_rows[0][c]);
    out << m_columns[c] << ':' << (value.empty() ? "" : std::string(width - display_width(m_columns[c]) + 1, ' ') + value)
        << '\n';
  }
}

}  // namespace alctl
