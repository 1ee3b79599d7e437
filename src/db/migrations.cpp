// Applies the embedded migrations in order, each in its own transaction,
// under an advisory lock so concurrent `alctl db migrate` runs are safe.
#include "assemblyline/migrations.hpp"

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace al {

namespace {
constexpr long migration_lock_key = 0x616c6d6967;  // "almig"
}

int migrate(pqxx::connection& conn) {
  {
    pqxx::nontransaction nt(conn);
    nt.exec("SET client_min_messages = warning");
    nt.exec("SELECT pg_advisory_lock(" + std::to_string(migration_lock_key) + ")");
    nt.exec("CREATE SCHEMA IF NOT EXISTS al");
    nt.exec("CREATE TABLE IF NOT EXISTS al.schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())");
  }
  int applied = 0;
  try {
    for (const auto& m : embedded_migrations()) {
      pqxx::work tx(conn);
      auto done = tx.exec_params("SELECT 1 FROM al.schema_migrations WHERE version = $1", m.version);
      if (!done.empty()) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO al.schema_migrations(version, name) VALUES ($1, $2)", m.version, m.name);
      tx.commit();
      spdlog::info("database: applied migration {}", m.name);
      ++applied;
    }
  } catch (...) {
    pqxx::nontransaction nt(conn);
    nt.exec("SELECT pg_advisory_unlock(" + std::to_string(migration_lock_key) + ")");
    throw;
  }
  pqxx::nontransaction nt(conn);
  nt.exec("SELECT pg_advisory_unlock(" + std::to_string(migration_lock_key) + ")");
  return applied;
}

}  // namespace al
