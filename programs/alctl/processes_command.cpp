// alctl processes: the processes list of seed process-details.txt — one row
// per recipient delivery from al.processes, filtered like `alctl jobs` (date
// range, project, template, free text over destination, template and record
// fields, indicator), newest first, paged by --before; `--format csv` is the
// seed's "Export" of the whole filtered set.
#include <iostream>

#include <pqxx/pqxx>

#include "alctl.hpp"
#include "assemblyline/database.hpp"

namespace alctl {
namespace {

struct ProcessesArgs {
  int limit = 100;
  long long before = 0;
  std::string since, until, project, template_name, search, indicator;
};

const char* nullable(const std::string& text) { return text.empty() ? nullptr : text.c_str(); }

int processes(Context& ctx, const ProcessesArgs& args) {
  const std::string search = args.search.empty() ? "" : al::like_contains_pattern(args.search);
  const std::string before = args.before > 0 ? std::to_string(args.before) : "";
  const std::string limit = args.limit > 0 ? std::to_string(args.limit) : "";  // 0: the whole set
  pqxx::result result;
  with_subject("processes", [&] {
    pqxx::work tx(ctx.db());
    result = tx.exec_params(
        "SELECT p.process, p.created_at, p.project, p.destination, p.channel, p.agent, p.expires_at, p.deleted_at, "
        "       p.template, p.indicator, p.status_name, p.error, p.token, p.workflow, p.record_no, p.role, "
        "       p.posted_at, p.post_status, p.post_error, p.archived_at, p.doc_number, p.archive_status, "
        "       p.archive_error "
        "FROM al.processes p "
        "WHERE ($1::timestamptz IS NULL OR p.created_at >= $1::timestamptz) "
        "  AND ($2::timestamptz IS NULL OR p.created_at < $2::timestamptz) "
        "  AND ($3::text IS NULL OR p.project = $3) "
        "  AND ($4::text IS NULL OR p.template = $4) "
        "  AND ($5::text IS NULL OR p.indicator = $5) "
        "  AND ($6::text IS NULL OR p.destination ILIKE $6 OR p.template ILIKE $6 OR p.record::text ILIKE $6) "
        "  AND ($7::bigint IS NULL OR p.process < $7::bigint) "
        "ORDER BY p.process DESC LIMIT $8::bigint",
        nullable(args.since), nullable(args.until), nullable(args.project), nullable(args.template_name),
        nullable(args.indicator), nullable(search), nullable(before), nullable(limit));
  });
  const Table all = Table::from_result(result);
  if (ctx.format() != Format::table) {
    all.print(std::cout, ctx.format());
    return 0;
  }
  // The aligned table keeps to what fits a terminal; csv and json carry every column.
  Table compact({"#", "created_at", "project", "destination", "agent", "expires_at", "template", "state", "error"});
  for (const auto& row : all.rows()) {
    // The indicator is a word, never a colour alone: "ok", "error", "open", …
    compact.add_row({row[0], row[1], row[2], row[3], row[5], row[6], row[8], row[9], row[11]});
  }
  compact.print(std::cout, Format::table);
  if (args.limit > 0 && static_cast<int>(all.rows().size()) == args.limit) {
    std::cout << "(first " << args.limit << "; next page: --before " << all.rows().back()[0].text << ")\n";
  }
  return 0;
}

}  // namespace

void add_processes_command(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ProcessesArgs>();
  auto* sub = app.add_subcommand("processes", "one row per recipient delivery, newest first (al.processes)");
  sub->add_option("--limit", args->limit, "at most N rows; 0 = all (for an export)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--before", args->before, "only rows with # below this (the next page)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--since", args->since, "job created at or after (timestamp, e.g. 2024-05-01 or 'today')");
  sub->add_option("--until", args->until, "job created before (timestamp)");
  sub->add_option("--project", args->project, "only this project");
  sub->add_option("--template", args->template_name, "only this template");
  sub->add_option("--state", args->indicator, "only this indicator")
      ->check(CLI::IsMember({"ok", "error", "open", "excluded", "cancelled"}));
  sub->add_option("--search", args->search, "free text in destination, template or record fields");
  on_run(sub, ctx, [&ctx, args] { return processes(ctx, *args); });
}

}  // namespace alctl
