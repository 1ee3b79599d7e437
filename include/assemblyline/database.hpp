// Database: opening PostgreSQL connections the way every process needs them —
// with TCP keepalives, an application_name naming the process, and retries
// with capped exponential backoff while the server is down or restarting.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/connection>  // pqxx::connection is an alias in 6.4: it cannot be forward-declared
#include <pqxx/result>
#include <pqxx/transaction_base>

namespace al {

/// Opens a connection, once. Throws al::Error (retryable) on failure.
[[nodiscard]] std::unique_ptr<pqxx::connection> connect(const std::string& url, const std::string& application_name);

/// Opens a connection, retrying with backoff (100 ms doubling to 5 s) until it
/// succeeds or `stop` becomes true (then returns nullptr).
[[nodiscard]] std::unique_ptr<pqxx::connection> connect_with_retry(const std::string& url,
                                                                   const std::string& application_name,
                                                                   const std::atomic<bool>& stop);

/// Runs `sql` as the prepared statement `name` of the transaction's
/// connection, so that the server parses and plans it once per connection
/// instead of once per call (after five runs it keeps a generic plan where
/// that costs no more). For the statements a process runs for every message;
/// one name always stands for one text. libpqxx registers the statement on
/// its first use, and again on a new connection.
template <typename... Args>
pqxx::result exec_prepared_sql(pqxx::transaction_base& tx, const std::string& name, const std::string& sql,
                               Args&&... args) {
  tx.conn().prepare(name, sql);  // a lookup after the first call: the same text is no redefinition
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

/// Quotes a list of ids as a PostgreSQL array literal ('{1,2,3}') for
/// `= ANY($1::bigint[])`; libpqxx 6.4 has no vector parameters.
template <typename Range>
[[nodiscard]] std::string array_literal(const Range& values) {
  std::string out = "{";
  bool first = true;
  for (const auto& v : values) {
    if (!first) out += ',';
    out += std::to_string(v);
    first = false;
  }
  out += '}';
  return out;
}

/// Quotes strings as a PostgreSQL text[] literal (every element double-quoted,
/// backslashes and quotes escaped).
[[nodiscard]] std::string text_array_literal(const std::vector<std::string>& values);

/// A LIKE/ILIKE pattern matching values that contain `text` literally: its
/// `%`, `_` and `\` are escaped (the default escape character), so a user's
/// search text is never read as wildcards.
[[nodiscard]] std::string like_contains_pattern(const std::string& text);

}  // namespace al
