// alctl submit, jobs, job show, and the steering verbs (retry, skip, cancel,
// hold, release, purge): thin wrappers over the SQL API of SPEC §3–4, which
// does the checking and the status moves itself.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "alctl.hpp"
#include "assemblyline/database.hpp"
#include "assemblyline/error.hpp"

namespace alctl {
namespace {

const char* nullable(const std::string& text) { return text.empty() ? nullptr : text.c_str(); }

std::string job_subject(std::int64_t job_id) { return "job " + std::to_string(job_id); }

void require_job(pqxx::transaction_base& tx, std::int64_t job_id) {
  if (tx.exec_params("SELECT 1 FROM al.jobs WHERE job_id = $1", job_id).empty())
    throw al::Error(job_subject(job_id) + ": not found");
}

// ---- submit -----------------------------------------------------------------

struct SubmitArgs {
  std::string template_name, file, input_file, project, callback_url;
  int priority = 0;
  bool priority_given = false;
};

std::string read_records(const std::string& path) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw al::Error(path + ": cannot read");
    text << in.rdbuf();
  }
  // Checked here too so a typo gets a line number rather than a server error.
  const auto records = nlohmann::json::parse(text.str(), nullptr, false);
  if (records.is_discarded()) throw al::Error(path + ": not valid JSON");
  if (!records.is_array()) throw al::Error(path + ": expected a JSON array of records");
  return text.str();
}

int submit(Context& ctx, const SubmitArgs& args) {
  if (args.file.empty() == args.input_file.empty())
    throw UsageError("submit: give either FILE (a JSON array of records) or --input-file PATH");
  std::string job_id;
  with_subject("submit", [&] {
    // Named arguments the caller left out take the function's defaults.
    std::string sql, extra;
    int n = 2;
    std::vector<const char*> values;
    if (!args.project.empty()) extra += ", project => $" + std::to_string(++n), values.push_back(args.project.c_str());
    if (!args.callback_url.empty())
      extra += ", callback_url => $" + std::to_string(++n), values.push_back(args.callback_url.c_str());
    const std::string priority = std::to_string(args.priority);
    if (args.priority_given) extra += ", priority => $" + std::to_string(++n) + "::int", values.push_back(priority.c_str());
    std::string input;
    if (!args.file.empty()) {
      input = read_records(args.file);
      sql = "SELECT al.submit_job(template => $1, records => $2::jsonb" + extra + ")";
    } else {
      // The identifier opens the file on the server side: give it an absolute path.
      input = std::filesystem::absolute(args.input_file).lexically_normal().string();
      sql = "SELECT al.submit_job_file(template => $1, path => $2" + extra + ")";
    }
    values.resize(3, nullptr);
    pqxx::work tx(ctx.db());
    pqxx::result r;
    switch (n) {
      case 2: r = tx.exec_params(sql, args.template_name, input); break;
      case 3: r = tx.exec_params(sql, args.template_name, input, values[0]); break;
      case 4: r = tx.exec_params(sql, args.template_name, input, values[0], values[1]); break;
      default: r = tx.exec_params(sql, args.template_name, input, values[0], values[1], values[2]); break;
    }
    tx.commit();
    job_id = r[0][0].c_str();
  });
  if (ctx.format() == Format::table) {
    std::cout << job_id << '\n';
  } else {
    Table table({"job_id"});
    table.add_row({Cell::of(std::stoll(job_id))});
    table.print(std::cout, ctx.format());
  }
  return 0;
}

// ---- jobs -------------------------------------------------------------------

struct JobsArgs {
  int limit = 50;
  std::string since, until, project, template_name, search, state;
};

int jobs(Context& ctx, const JobsArgs& args) {
  const std::string search = args.search.empty() ? "" : al::like_contains_pattern(args.search);
  const std::string state = args.state.empty() ? "" : al::like_contains_pattern(args.state);
  pqxx::work tx(ctx.db());
  const auto result = tx.exec_params(
      "SELECT o.* FROM al.job_overview o "
      "WHERE ($1::timestamptz IS NULL OR o.created_at >= $1::timestamptz) "
      "  AND ($2::timestamptz IS NULL OR o.created_at < $2::timestamptz) "
      "  AND ($3::text IS NULL OR o.project = $3) "
      "  AND ($4::text IS NULL OR o.template = $4) "
      "  AND ($5::text IS NULL OR o.state ILIKE $5) "
      "  AND ($6::text IS NULL OR o.template ILIKE $6 OR o.project ILIKE $6 "
      "       OR EXISTS (SELECT 1 FROM al.rcps r WHERE r.job_id = o.job_id AND r.address ILIKE $6) "
      "       OR EXISTS (SELECT 1 FROM al.trns t WHERE t.job_id = o.job_id AND t.data::text ILIKE $6) "
      "       OR EXISTS (SELECT 1 FROM al.jobs j WHERE j.job_id = o.job_id AND j.records::text ILIKE $6)) "
      "ORDER BY o.created_at DESC, o.job_id DESC LIMIT $7",
      nullable(args.since), nullable(args.until), nullable(args.project), nullable(args.template_name),
      nullable(state), nullable(search), args.limit);
  if (ctx.format() != Format::table) {
    Table::from_result(result).print(std::cout, ctx.format());
    return 0;
  }
  // The aligned table keeps to what fits a terminal; csv and json carry every column.
  const std::vector<std::string> shown = {"job_id", "created_at", "project", "template", "jobstatus", "state",
                                          "n_records", "errors", "recipients_delivered", "last_error"};
  const Table all = Table::from_result(result);
  std::vector<std::size_t> index;
  std::vector<std::string> columns;
  for (const auto& name : shown) {
    const auto it = std::find(all.columns().begin(), all.columns().end(), name);
    if (it == all.columns().end()) continue;
    index.push_back(static_cast<std::size_t>(it - all.columns().begin()));
    columns.push_back(name == "recipients_delivered" ? "delivered" : name);
  }
  Table compact(columns);
  for (const auto& row : all.rows()) {
    std::vector<Cell> cells;
    for (const auto i : index) cells.push_back(row[i]);
    compact.add_row(std::move(cells));
  }
  compact.print(std::cout, Format::table);
  return 0;
}

// ---- job show ---------------------------------------------------------------

struct ShowArgs {
  std::int64_t job_id = 0;
  int recipients = 50;
  int errors = 20;
};

void print_section(std::ostream& out, Format format, const std::string& title, const Table& table,
                   const std::string& note = "") {
  if (format == Format::csv) {
    out << "\r\n# " << title << "\r\n";
  } else {
    out << '\n' << title << (note.empty() ? "" : " (" + note + ")") << '\n';
  }
  table.print(out, format);
}

int job_show(Context& ctx, const ShowArgs& args) {
  pqxx::work tx(ctx.db());
  const auto id = args.job_id;
  require_job(tx, id);

  Table job = Table::from_result(tx.exec_params("SELECT * FROM al.job_overview WHERE job_id = $1", id));
  job.merge_record(Table::from_result(tx.exec_params(
      "SELECT input_path, input_format, attempt, worker FROM al.jobs WHERE job_id = $1",
      id)));

  const Table timeline = Table::from_result(tx.exec_params(
      "SELECT h.changed_at, h.old_status, h.new_status, c.name, h.changed_by, h.note "
      "FROM al.status_history h LEFT JOIN al.status_codes c ON c.object = 'JOBS' AND c.code = h.new_status "
      "WHERE h.object = 'JOBS' AND h.id = $1 ORDER BY h.changed_at",
      id));

  Table batches = Table::from_result(tx.exec_params(
      "SELECT b.bch_id, b.channel, b.seq, b.size, b.bchstatus, c.name AS status, b.attempt, b.error "
      "FROM al.bchs b LEFT JOIN al.status_codes c ON c.object = 'BCHS' AND c.code = b.bchstatus "
      "WHERE b.job_id = $1 ORDER BY b.channel, b.seq LIMIT $2",
      id, args.recipients + 1));
  const long n_batches = tx.exec_params("SELECT count(*) FROM al.bchs WHERE job_id = $1", id)[0][0].as<long>();
  batches.truncate(static_cast<std::size_t>(args.recipients));

  Table errors = Table::from_result(tx.exec_params(
      "SELECT t.trn_id, t.seq, t.trnstatus, c.name AS status, t.error "
      "FROM al.trns t LEFT JOIN al.status_codes c ON c.object = 'TRNS' AND c.code = t.trnstatus "
      "WHERE t.job_id = $1 AND t.error IS NOT NULL AND t.trnstatus IN (241, 341) ORDER BY t.trn_id LIMIT $2",
      id, args.errors + 1));
  const bool more_errors = errors.size() > static_cast<std::size_t>(args.errors);
  errors.truncate(static_cast<std::size_t>(args.errors));

  Table recipients = Table::from_result(tx.exec_params(
      "SELECT r.rcp_id, r.channel, r.address, r.rcpstatus, c.name AS status, r.posted_at, r.post_status, "
      "       r.post_error, r.archived_at, r.doc_number, r.archive_status, r.archive_error, r.error "
      "FROM al.rcps r LEFT JOIN al.status_codes c ON c.object = 'RCPS' AND c.code = r.rcpstatus "
      "WHERE r.job_id = $1 ORDER BY r.rcp_id LIMIT $2",
      id, args.recipients + 1));
  const long n_recipients = tx.exec_params("SELECT count(*) FROM al.rcps WHERE job_id = $1", id)[0][0].as<long>();
  recipients.truncate(static_cast<std::size_t>(args.recipients));
  tx.commit();

  const Format format = ctx.format();
  if (format == Format::json) {
    nlohmann::ordered_json out;
    out["job"] = job.empty() ? nlohmann::ordered_json(nullptr) : job.row_to_json(0);
    out["timeline"] = timeline.to_json();
    out["batches"] = batches.to_json();
    out["batches_total"] = n_batches;
    out["errors"] = errors.to_json();
    out["errors_truncated"] = more_errors;
    out["recipients"] = recipients.to_json();
    out["recipients_total"] = n_recipients;
    std::cout << out.dump(2) << '\n';
    return 0;
  }
  if (format == Format::table) std::cout << job_subject(id) << '\n';
  if (format == Format::csv) std::cout << "# job\r\n";
  job.print_record(std::cout, format);
  print_section(std::cout, format, "timeline", timeline);
  const auto shown = [](std::size_t shown, long total) {
    return static_cast<long>(shown) < total
               ? "first " + std::to_string(shown) + " of " + std::to_string(total) + "; raise with --recipients"
               : std::string();
  };
  print_section(std::cout, format, "batches", batches, shown(batches.size(), n_batches));
  print_section(std::cout, format, "record errors", errors,
                more_errors ? "first " + std::to_string(errors.size()) + "; raise with --errors" : "");
  print_section(std::cout, format, "recipients", recipients, shown(recipients.size(), n_recipients));
  return 0;
}

// ---- steering ---------------------------------------------------------------

struct SteerArgs {
  std::int64_t job_id = 0;
  std::string stage;
  bool unknown = false;
};

// What a steering function's result means, in words: "3 items put back to ready".
std::string report(const std::string& verb, const std::string& value) {
  const std::string items = value + (value == "1" ? " item" : " items");
  if (verb == "retry") return items + " put back to ready";
  if (verb == "skip") return items + " skipped";
  if (verb == "cancel") return "cancelled (" + items + ")";
  if (verb == "hold") return "on hold";
  if (verb == "release") return "released";
  if (verb == "close") return value;  // "closed" or "already closed"
  return verb + ": " + value;
}

// Runs `sql` (one row, one value) for the job and prints what it did.
int steer(Context& ctx, const std::string& verb, const SteerArgs& args, const std::string& sql) {
  std::string value;
  with_subject(job_subject(args.job_id), [&] {
    pqxx::work tx(ctx.db());
    require_job(tx, args.job_id);
    tx.exec("SELECT set_config('al.actor', 'alctl', true)");
    const auto r = args.stage.empty() && !args.unknown
                       ? tx.exec_params(sql, args.job_id)
                       : tx.exec_params(sql, args.job_id, nullable(args.stage), args.unknown);
    // As the console does: the job's history says that alctl did it and to
    // how many items (retry and skip change items, not always the job).
    // close and the like answer with a word and are in the history already.
    if (verb == "retry" || verb == "skip" || verb == "cancel") {
      tx.exec_params("SELECT al.record_action($1, $2, $3)", args.job_id, "alctl " + verb, r[0][0].as<int>());
    }
    tx.commit();
    value = r.empty() || r[0][0].is_null() ? "" : r[0][0].c_str();
  });
  if (ctx.format() != Format::table) {
    Table table({"job_id", "action", "result"});
    table.add_row({Cell::of(static_cast<long long>(args.job_id)), Cell::of(verb),
                   value.empty() ? Cell::null() : Cell::of(value)});
    table.print(std::cout, ctx.format());
  } else {
    std::cout << job_subject(args.job_id) << ": " << report(verb, value) << '\n';
  }
  return 0;
}

void add_steer_command(CLI::App& app, Context& ctx, const std::string& verb, const std::string& help,
                       const std::string& sql) {
  auto args = std::make_shared<SteerArgs>();
  auto* sub = app.add_subcommand(verb, help);
  sub->add_option("JOB", args->job_id, "job id")->required();
  on_run(sub, ctx, [&ctx, verb, args, sql] { return steer(ctx, verb, *args, sql); });
}

}  // namespace

void add_job_commands(CLI::App& app, Context& ctx) {
  {
    auto args = std::make_shared<SubmitArgs>();
    auto* sub = app.add_subcommand("submit", "submit a serial job; prints its id");
    sub->add_option("TEMPLATE", args->template_name, "template name")->required();
    auto* file = sub->add_option("FILE", args->file, "JSON array of records ('-' for stdin)");
    sub->add_option("--input-file", args->input_file,
                    "CSV or JSONL file the identifier streams (read by al-identifier where it runs, not uploaded)")
        ->excludes(file);
    sub->add_option("--project", args->project, "project (default: 'default')");
    sub->add_option("--callback-url", args->callback_url, "URL notified when the job completes");
    sub->add_option("--priority", args->priority, "higher first (default 0)")
        ->each([args](const std::string&) { args->priority_given = true; });
    on_run(sub, ctx, [&ctx, args] { return submit(ctx, *args); });
  }
  {
    auto args = std::make_shared<JobsArgs>();
    auto* sub = app.add_subcommand("jobs", "jobs, newest first (al.job_overview)");
    sub->add_option("--limit", args->limit, "at most N jobs")->capture_default_str()->check(CLI::PositiveNumber);
    sub->add_option("--since", args->since, "created at or after (timestamp, e.g. 2024-05-01 or 'today')");
    sub->add_option("--until", args->until, "created before (timestamp)");
    sub->add_option("--project", args->project, "only this project");
    sub->add_option("--template", args->template_name, "only this template");
    sub->add_option("--state", args->state, "state contains this text (e.g. 'error', 'cancelled')");
    sub->add_option("--search", args->search, "free text in template, project, recipient address or record fields");
    on_run(sub, ctx, [&ctx, args] { return jobs(ctx, *args); });
  }
  {
    auto* job = app.add_subcommand("job", "one job");
    job->require_subcommand(1);
    auto args = std::make_shared<ShowArgs>();
    auto* show = job->add_subcommand("show", "summary, counts, timeline, batches, errors and recipients");
    show->add_option("ID", args->job_id, "job id")->required();
    show->add_option("--recipients", args->recipients, "recipients and batches shown at most")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    show->add_option("--errors", args->errors, "record errors shown at most")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    on_run(show, ctx, [&ctx, args] { return job_show(ctx, *args); });
  }
  {
    auto args = std::make_shared<SteerArgs>();
    auto* sub = app.add_subcommand("retry", "put the job's failed items back to their stage's ready state");
    sub->add_option("JOB", args->job_id, "job id")->required();
    sub->add_option("--stage", args->stage, "only items failed in this stage")
        ->check(CLI::IsMember(al::stage_names()));
    sub->add_flag("--unknown", args->unknown,
                  "also re-send e-mails whose delivery outcome is unknown (may deliver twice)");
    on_run(sub, ctx, [&ctx, args] {
      return steer(ctx, "retry", *args,
                   args->stage.empty() && !args->unknown ? "SELECT al.retry_job($1)"
                                                         : "SELECT al.retry_job($1, $2, $3)");
    });
  }
  add_steer_command(app, ctx, "skip", "cancel the job's failed items (888, 'skipped manually')",
                    "SELECT al.skip_job($1)");
  add_steer_command(app, ctx, "cancel", "cancel the job and everything of it not yet done",
                    "SELECT al.cancel_job($1)");
  {
    auto older_than = std::make_shared<std::string>();
    auto* sub = app.add_subcommand("purge", "retention: delete jobs past their delete_after (or --older-than)");
    sub->add_option("--older-than", *older_than, "also jobs created longer ago than this interval (e.g. '90 days')");
    on_run(sub, ctx, [&ctx, older_than] {
      std::string purged;
      with_subject("purge", [&] {
        pqxx::work tx(ctx.db());
        tx.exec("SELECT set_config('al.actor', 'alctl', true)");
        purged = tx.exec_params("SELECT al.purge_jobs($1::interval)", nullable(*older_than))[0][0].c_str();
        tx.commit();
      });
      std::cout << "purged " << purged << (purged == "1" ? " job" : " jobs") << '\n';
      return 0;
    });
  }
  add_steer_command(app, ctx, "hold", "stop the job's items from being claimed", "SELECT al.hold_job($1)");
  add_steer_command(app, ctx, "release", "let a held (or plainly inserted) job go on", "SELECT al.release_job($1)");
  add_steer_command(app, ctx, "close", "close a job that has come to rest: it can never change again",
                    "SELECT al.close_job($1)");
}

}  // namespace alctl
