// alctl db migrate, status, workers: the schema and the line at a glance.
#include <iostream>

#include <pqxx/pqxx>

#include "alctl.hpp"
#include "assemblyline/migrations.hpp"

namespace alctl {
namespace {

int db_migrate(Context& ctx) {
  int applied = 0;
  std::string version = "0";
  with_subject("db migrate", [&] {
    auto& conn = ctx.db();
    applied = al::migrate(conn);
    pqxx::work tx(conn);
    version = tx.exec("SELECT coalesce(max(version), 0) FROM al.schema_migrations")[0][0].c_str();
    // The database-side copy of jobs.max_records, which al.submit_job enforces.
    tx.exec_params("UPDATE al.settings SET value = $1 WHERE key = 'max_records' AND value <> $1",
                   std::to_string(ctx.config().jobs_max_records));
    // And of jobs.delete_after, the default retention of new jobs (checked as an interval there).
    tx.exec_params("SELECT al.set_default_delete_after($1)", ctx.config().jobs_delete_after);
    tx.commit();
  });
  std::cout << "applied " << applied << (applied == 1 ? " migration" : " migrations") << ", schema at version "
            << version << '\n';
  return 0;
}

int status(Context& ctx) {
  pqxx::work tx(ctx.db());
  const auto result = tx.exec(
      "SELECT object, code, name, count FROM al.status_board "
      "ORDER BY array_position(ARRAY['JOBS','TRNS','RCPS','BCHS','PUBS'], object), code");
  Table::from_result(result).print(std::cout, ctx.format());
  return 0;
}

int workers(Context& ctx) {
  pqxx::work tx(ctx.db());
  const auto result = tx.exec(
      "SELECT name, stage, host, pid, credits, connected_at, last_seen_at, "
      "       round(extract(epoch FROM now() - last_seen_at)::numeric, 1) AS silent_s "
      "FROM al.workers ORDER BY stage, name");
  Table::from_result(result).print(std::cout, ctx.format());
  return 0;
}

}  // namespace

void add_db_commands(CLI::App& app, Context& ctx) {
  auto* db = app.add_subcommand("db", "database schema");
  db->require_subcommand(1);
  on_run(db->add_subcommand("migrate", "apply the embedded SQL migrations not yet applied"), ctx,
         [&ctx] { return db_migrate(ctx); });
  on_run(app.add_subcommand("status", "count of objects per status code (al.status_board)"), ctx,
         [&ctx] { return status(ctx); });
  on_run(app.add_subcommand("workers", "workers connected to the active scheduler (al.workers)"), ctx,
         [&ctx] { return workers(ctx); });
}

}  // namespace alctl
