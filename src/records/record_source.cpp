// JSONL and CSV record sources for al.submit_job_file.
#include "assemblyline/record_source.hpp"

#include "assemblyline/error.hpp"

namespace al {

bool read_csv_row(std::istream& in, std::vector<std::string>& fields, long& lines) {
  fields.clear();
  std::string field;
  bool in_quotes = false;
  bool any = false;
  char c;
  while (in.get(c)) {
    any = true;
    if (in_quotes) {
      if (c == '"') {
        if (in.peek() == '"') {
          in.get(c);
          field += '"';
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++lines;
        field += c;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      ++lines;
      if (!field.empty() && field.back() == '\r') field.pop_back();
      fields.push_back(std::move(field));
      return true;
    } else {
      field += c;
    }
  }
  if (in_quotes) throw Error("csv: unterminated quoted field");
  if (!any) return false;
  ++lines;
  if (!field.empty() && field.back() == '\r') field.pop_back();
  fields.push_back(std::move(field));
  return true;
}

namespace {

class JsonlSource : public RecordSource {
public:
  explicit JsonlSource(std::ifstream in) : m_in(std::move(in)) {}

  bool next(SourceRecord& out) override {
    std::string line;
    while (std::getline(m_in, line)) {
      ++m_line;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines separate nothing
      out.line = m_line;
      out.problem.clear();
      out.data = nlohmann::json::parse(line, nullptr, false);
      if (out.data.is_discarded()) {
        out.data = nlohmann::json::object();
        out.problem = "line " + std::to_string(m_line) + ": malformed JSON";
      }
      return true;
    }
    return false;
  }

private:
  std::ifstream m_in;
  long m_line = 0;
};

class CsvSource : public RecordSource {
public:
  explicit CsvSource(std::ifstream in, const std::string& path) : m_in(std::move(in)) {
    if (!read_csv_row(m_in, m_header, m_lines) || m_header.empty()) {
      throw Error("csv " + path + ": no header row");
    }
    if (m_header[0].rfind("\xEF\xBB\xBF", 0) == 0) m_header[0].erase(0, 3);  // UTF-8 BOM
  }

  bool next(SourceRecord& out) override {
    std::vector<std::string> fields;
    while (true) {
      const long start = m_lines + 1;
      try {
        if (!read_csv_row(m_in, fields, m_lines)) return false;
      } catch (const Error& e) {
        out = SourceRecord{start, nlohmann::json::object(), "line " + std::to_string(start) + ": " + e.what()};
        return true;
      }
      if (fields.size() == 1 && fields[0].empty()) continue;  // blank line
      out.line = start;
      out.problem.clear();
      out.data = nlohmann::json::object();
      if (fields.size() != m_header.size()) {
        out.problem = "line " + std::to_string(start) + ": " + std::to_string(fields.size()) + " fields, header has " +
                      std::to_string(m_header.size());
        return true;
      }
      nlohmann::json recipients = nlohmann::json::array();
      for (std::size_t i = 0; i < fields.size(); ++i) {
        const std::string& name = m_header[i];
        if (name == "email" || name == "postal_address" || name == "file") {
          if (fields[i].empty()) continue;
          const char* channel = name == "email" ? "email" : name == "file" ? "file" : "print";
          recipients.push_back({{"channel", channel}, {"address", fields[i]}, {"role", "client"}});
        } else {
          out.data[name] = fields[i];
        }
      }
      if (!recipients.empty()) out.data["recipients"] = std::move(recipients);
      return true;
    }
  }

private:
  std::ifstream m_in;
  std::vector<std::string> m_header;
  long m_lines = 0;
};

}  // namespace

std::unique_ptr<RecordSource> open_record_file(const std::string& path, const std::string& format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open input file " + path + ": check the path and that the identifier may read it");
  if (format == "jsonl") return std::make_unique<JsonlSource>(std::move(in));
  if (format == "csv") return std::make_unique<CsvSource>(std::move(in), path);
  throw Error("unknown input format '" + format + "' for " + path + " (csv or jsonl)");
}

}  // namespace al
