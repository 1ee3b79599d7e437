// Retention steps of the scheduler (see retention.hpp).
#include "scheduler/retention.hpp"

#include <filesystem>
#include <system_error>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/config.hpp"

namespace al {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto retention_every = std::chrono::minutes(1);
constexpr int archives_per_step = 100;

}  // namespace

Retention::Retention(const Config& config) : m_config(config) {}

void Retention::step(pqxx::connection& db) {
  m_next = Clock::now() + retention_every;
  bool more = false;
  {
    pqxx::work tx(db);
    tx.exec("SELECT set_config('al.actor', 'scheduler', true)");
    const auto row = tx.exec_params("SELECT job, finished FROM al.purge_step(NULL, $1)", retention_rows_per_step)[0];
    tx.commit();
    if (!row[0].is_null()) {
      more = true;
      if (row[1].as<bool>()) spdlog::info("job {}: deleted by retention (its delete_after ran out)", row[0].c_str());
    }
  }
  if (m_config.storage_purge_archive) remove_archives(db);
  if (more) m_next = Clock::now();  // the next tick goes on
}

void Retention::remove_archives(pqxx::connection& db) {
  pqxx::work tx(db);
  const auto rows = tx.exec_params(
      "SELECT job_id FROM al.jobs WHERE deleted_at IS NOT NULL AND archive_removed_at IS NULL "
      "ORDER BY job_id LIMIT $1 FOR UPDATE SKIP LOCKED",
      archives_per_step);
  std::vector<std::string> removed;
  for (const auto& row : rows) {
    const std::string id = row[0].c_str();
    const std::filesystem::path dir = std::filesystem::path(m_config.storage_archive_dir) / id;
    std::error_code ec;
    const auto n = std::filesystem::remove_all(dir, ec);
    if (ec) {
      spdlog::error("job {}: retention: cannot remove archive {}: {}; check the directory's permissions, "
                    "retrying in a minute",
                    id, dir.string(), ec.message());
      continue;
    }
    if (n > 0) spdlog::info("job {}: retention: archive {} removed ({} files and directories)", id, dir.string(), n);
    removed.push_back(id);
  }
  if (removed.empty()) return;
  std::string list = "{";
  for (const auto& id : removed) list += (list.size() > 1 ? "," : "") + id;
  list += "}";
  tx.exec_params("UPDATE al.jobs SET archive_removed_at = now() WHERE job_id = ANY($1::bigint[])", list);
  tx.commit();
}

}  // namespace al
