// Migrations: the numbered sql/NNN_*.sql files, embedded in every binary at
// build time, applied in order inside one transaction each and recorded in
// al.schema_migrations, so `alctl db migrate` is idempotent and safe to run
// from several processes at once (an advisory lock serialises them).
#pragma once

#include <string>
#include <vector>

#include <pqxx/connection>  // pqxx::connection is an alias in 6.4: it cannot be forward-declared

namespace al {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

/// All migrations compiled into this binary, in version order.
[[nodiscard]] const std::vector<Migration>& embedded_migrations();

/// Applies the migrations not yet recorded; returns how many it applied.
int migrate(pqxx::connection& conn);

}  // namespace al
