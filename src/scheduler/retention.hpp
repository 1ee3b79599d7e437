// Retention: the scheduler's share of deleting old jobs. Every minute (and
// at once again while there is more) it runs one bounded al.purge_step on its
// own connection, and, with storage.purge_archive, removes the archive
// directory (storage.archive_dir/<job_id>) of every deleted job — also of
// jobs `alctl purge` deleted. The SQL side is sql/006_retention.sql.
#pragma once

#include <chrono>
#include <string>

#include <pqxx/connection>  // pqxx::connection is an alias in 6.4: it cannot be forward-declared

namespace al {

struct Config;

class Retention {
public:
  /// Keeps a reference to `config`.
  explicit Retention(const Config& config);

  /// True when the next step is due.
  [[nodiscard]] bool due(std::chrono::steady_clock::time_point now) const { return now >= m_next; }

  /// One bounded step: records of at most one job, archives of at most a
  /// hundred deleted jobs. Throws what libpqxx throws; the step is retried.
  void step(pqxx::connection& db);

private:
  void remove_archives(pqxx::connection& db);

  const Config& m_config;
  std::chrono::steady_clock::time_point m_next{};
};

/// Records deleted per retention step: small enough that the scheduler's
/// dispatching pauses for well under a second.
inline constexpr int retention_rows_per_step = 2000;

}  // namespace al
