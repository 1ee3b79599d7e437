// Record sources: the records of a serial job, one at a time, from a JSONL or
// CSV file, so a job of a million records is streamed with bounded memory.
// A line that cannot be parsed is still a record — with a problem — so the
// identifier can fail that one record (TRNS 241) and go on.
#pragma once

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace al {

struct SourceRecord {
  long line = 0;          ///< 1-based line of the file where the record starts
  nlohmann::json data;    ///< the record (an object) when problem is empty
  std::string problem;    ///< why the record could not be read, else ""
};

class RecordSource {
public:
  virtual ~RecordSource() = default;
  /// The next record, or false at the end of the input.
  virtual bool next(SourceRecord& out) = 0;
};

/// Opens `path` as `format` ("csv" or "jsonl"). Throws al::Error (not
/// retryable) naming the path when it cannot be opened.
///
/// CSV: the header row names the fields; the columns `email`, `postal_address`
/// and `file` (if present and non-empty) become recipients of that channel
/// with role "client"; every other column is a string field of the record.
[[nodiscard]] std::unique_ptr<RecordSource> open_record_file(const std::string& path, const std::string& format);

/// Splits one CSV record (RFC 4180: quotes, doubled quotes, embedded commas
/// and newlines) from `in`; returns false at end of input. `lines` counts the
/// physical lines consumed. Throws al::Error on an unterminated quote.
bool read_csv_row(std::istream& in, std::vector<std::string>& fields, long& lines);

}  // namespace al
