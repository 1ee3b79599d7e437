// The one formatter every alctl sub-command prints through: aligned columns
// for people, RFC 4180 CSV for spreadsheets, a JSON array of objects for
// scripts. Cells remember their SQL kind so JSON keeps numbers as numbers.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pqxx { class result; }

namespace alctl {

enum class Format { table, csv, json };

struct Cell {
  enum class Kind { null, text, number, boolean, json, timestamp };
  Kind kind = Kind::null;
  std::string text;

  static Cell null() { return {}; }
  static Cell of(std::string text) { return {Kind::text, std::move(text)}; }
  static Cell of(long long number) { return {Kind::number, std::to_string(number)}; }
};

class Table {
public:
  explicit Table(std::vector<std::string> columns) : m_columns(std::move(columns)) {}

  /// Every row and column of a query result, kinds taken from the column types.
  [[nodiscard]] static Table from_result(const pqxx::result& result);

  void add_row(std::vector<Cell> row) { m_rows.push_back(std::move(row)); }
  [[nodiscard]] std::size_t size() const { return m_rows.size(); }
  [[nodiscard]] bool empty() const { return m_rows.empty(); }
  [[nodiscard]] const std::vector<std::string>& columns() const { return m_columns; }
  [[nodiscard]] const std::vector<std::vector<Cell>>& rows() const { return m_rows; }
  /// Appends the columns of `other` not already here, its first row to this first row.
  void merge_record(const Table& other);
  /// Drops rows beyond `n` (a query asks for one more to know there are more).
  void truncate(std::size_t n);

  /// Prints the rows: aligned columns, CSV with a header line, or a JSON array.
  void print(std::ostream& out, Format format) const;
  /// Prints the first row as "column: value" lines (table), else as print() does.
  void print_record(std::ostream& out, Format format) const;

  [[nodiscard]] nlohmann::ordered_json to_json() const;
  [[nodiscard]] nlohmann::ordered_json row_to_json(std::size_t row) const;

private:
  std::vector<std::string> m_columns;
  std::vector<std::vector<Cell>> m_rows;
};

}  // namespace alctl
