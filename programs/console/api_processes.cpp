// /api/processes: the processes list of seed process-details.txt, one row per
// recipient delivery (al.processes): date range (today by default), free
// text, project / template / state filters, four sort orders, keyset pages,
// a capped count, the details panel and the CSV export of the whole set.
#include <memory>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/database.hpp"
#include "api.hpp"
#include "csv_export.hpp"

namespace al::console {
namespace {

constexpr long long count_cap = 10000;
constexpr long long max_resolved_matches = 20000;  // more: matched row by row (ProcessQuery::resolve_search)
constexpr int export_chunk = 2000;

// How one sort order walks the rows. Recipient-level columns (the process
// number, the destination) have an index on al.rcps to walk. Job-level ones
// (created, template) are the same for every recipient of a job, so the walk
// goes job by job in that order and, within a job, by process number: a
// million-recipient job is then one index range, not a million-row sort.
struct SortKey {
  std::string column;  // "" for the process number alone
  std::string type;    // its SQL type, for the cursor
  bool job_level = false;
};

SortKey sort_key(const std::string& sort) {
  if (sort == "created_at") return {"created_at", "timestamptz", true};
  if (sort == "template") return {"template", "text", true};
  if (sort == "destination") return {"destination", "text", false};
  return {"", "", false};
}

// A list request, read from the query string once and shared by the page,
// the count and the export.
struct ProcessQuery {
  std::optional<std::string> from, to, project, template_name, state, pattern;
  std::string sort = "process";
  bool descending = true;
  // Where the last page ended: the sort column's value, the job (job-level
  // sorts only) and the process number of its last row.
  std::optional<std::string> after_value;
  std::optional<long long> after_job, after_process;
  // Free text (see resolve_search): the matching process numbers as an
  // array literal when they are few, else matched row by row.
  std::optional<std::string> matches;
  bool search_row_by_row = false;

  static ProcessQuery read(const httplib::Request& req) {
    ProcessQuery q;
    q.from = param(req, "from");
    q.to = param(req, "to");
    q.project = param(req, "project");
    q.template_name = param(req, "template");
    q.state = param(req, "state");
    if (q.state) (void)choice_param(req, "state", {"ok", "error", "open", "excluded", "cancelled"}, "");
    if (const auto search = param(req, "q")) q.pattern = al::like_contains_pattern(*search);
    q.sort = choice_param(req, "sort", {"process", "created_at", "destination", "template"}, "process");
    q.descending = choice_param(req, "dir", {"desc", "asc"}, "desc") == "desc";
    if (const auto after = param(req, "after")) q.set_cursor(*after);
    return q;
  }

  // How many leading columns key_columns() puts before the caller's.
  [[nodiscard]] size_t key_count() const {
    const auto key = sort_key(sort);
    return key.column.empty() ? 1 : key.job_level ? 3 : 2;
  }

  // The cursor is the JSON array next_after gave: [process], [value, process]
  // or [value, job, process].
  void set_cursor(const std::string& text) {
    try {
      const auto cursor = nlohmann::json::parse(text);
      if (!cursor.is_array() || cursor.size() != key_count()) throw std::invalid_argument("shape");
      for (size_t i = 1; i < cursor.size(); ++i)
        if (!cursor[i].is_number_integer()) throw std::invalid_argument("number");
      after_process = cursor.back().get<long long>();
      if (key_count() == 3) after_job = cursor[1].get<long long>();
      if (key_count() > 1) {
        if (!cursor[0].is_string()) throw std::invalid_argument("value");
        after_value = cursor[0].get<std::string>();
      }
    } catch (const std::exception&) {
      throw BadRequest("after: '" + text + "' is not a cursor of this sort order (take next_after of the last page)");
    }
  }

  // The job-level filters over `alias` ($1…$4) and the recipient-level ones over p ($5, $6).
  static std::string job_filters(const std::string& alias) {
    return " " + alias + ".created_at >= coalesce($1::timestamptz, date_trunc('day', now())) "
           " AND ($2::text IS NULL OR " + alias + ".created_at < CASE WHEN $2 ~ '^\\d{4}-\\d{2}-\\d{2}$' "
           "                     THEN ($2::date + 1)::timestamptz ELSE $2::timestamptz END) "
           " AND ($3::text IS NULL OR " + alias + ".project = $3) "
           " AND ($4::text IS NULL OR " + alias + ".template = $4) ";
  }
  // The state and free-text filters over p ($5, $6, $11), written for the
  // planner: "error" names its codes, so the partial index of failures finds
  // a thousand failed among a million; free text is the resolved set of
  // matching process numbers ($11), or a test of each row in the walk's order
  // when most rows match (resolve_search).
  [[nodiscard]] std::string row_filters() const {
    std::string sql = " AND ($5::text IS NULL OR p.indicator = $5) AND ($6::text IS NULL OR true) ";
    if (state == "error") sql += " AND p.rcpstatus IN (341, 541, 641) ";
    if (search_row_by_row)
      return sql + " AND ($11::bigint[] IS NULL OR true) "
                   " AND (p.template ILIKE $6 OR EXISTS (SELECT 1 FROM al.rcps_search s "
                   "                                    WHERE s.rcp_id = p.process AND s.text ILIKE $6)) ";
    return sql + " AND ($11::bigint[] IS NULL OR p.process = ANY($11)) ";
  }
  [[nodiscard]] std::string filters() const { return job_filters("p") + row_filters(); }

  // The statement of one page of `limit` rows of `select` (columns of p).
  // Parameters: $1…$6 filters, $7 cursor value, $8 cursor process, $9 limit,
  // $10 cursor job, $11 matching process numbers.
  [[nodiscard]] std::string statement(const std::string& select) const {
    const auto key = sort_key(sort);
    const std::string dir = descending ? " DESC" : " ASC";
    const std::string past = descending ? " < " : " > ";
    // Every parameter must appear typed, whichever sort uses it.
    const std::string typed = " AND ($7::text IS NULL OR true) AND ($10::bigint IS NULL OR true) ";
    if (key.column.empty())
      return "SELECT " + select + " FROM al.processes p WHERE " + filters() + typed +
             " AND ($8::bigint IS NULL OR p.process" + past + "$8) ORDER BY p.process" + dir + " LIMIT $9";
    if (!key.job_level)
      return "SELECT " + select + " FROM al.processes p WHERE " + filters() + typed +
             " AND ($8::bigint IS NULL OR (p." + key.column + ", p.process)" + past + "($7::" + key.type +
             ", $8)) ORDER BY p." + key.column + dir + ", p.process" + dir + " LIMIT $9";
    const std::string at_or_past = descending ? " <= " : " >= ";
    return "SELECT " + select + " FROM "
           " (SELECT j.job_id, j." + key.column + " AS sort_value FROM al.jobs j WHERE " + job_filters("j") +
           "    AND ($8::bigint IS NULL OR (j." + key.column + ", j.job_id)" + at_or_past + "($7::" + key.type +
           ", $10::bigint))) k "
           " CROSS JOIN LATERAL (SELECT * FROM al.processes p WHERE p.workflow = k.job_id " + row_filters() +
           "    AND ($8::bigint IS NULL OR k.job_id <> $10 OR p.process" + past + "$8) "
           // Ordered like rcps_job (job_id, rcp_id), so a job's recipients are one index range.
           "    ORDER BY p.workflow" + dir + ", p.process" + dir + " LIMIT $9) p "
           " ORDER BY k.sort_value" + dir + ", k.job_id" + dir + ", p.process" + dir + " LIMIT $9";
  }

  pqxx::result page(pqxx::transaction_base& tx, const std::string& select, long long limit) const {
    const auto text = [](const std::optional<long long>& v) {
      return v ? std::optional(std::to_string(*v)) : std::nullopt;
    };
    return tx.exec_params(statement(select), nullable(from), nullable(to), nullable(project), nullable(template_name),
                          nullable(state), nullable(pattern), nullable(after_value), nullable(text(after_process)),
                          limit, nullable(text(after_job)), nullable(matches));
  }

  // Up to count_cap + 1 rows of the filtered set, no cursor: the capped count.
  [[nodiscard]] long long capped_count(pqxx::transaction_base& tx) const {
    ProcessQuery whole = *this;
    whole.after_value.reset();
    whole.after_job.reset();
    whole.after_process.reset();
    whole.sort = "process";
    return tx.exec_params1("SELECT count(*) FROM (" + whole.statement("1") + ") c", nullable(from), nullable(to),
                           nullable(project), nullable(template_name), nullable(state), nullable(pattern), nullptr,
                           nullptr, count_cap + 1, nullptr, nullable(matches))[0]
        .as<long long>();
  }

  // Finds the recipients free text matches, through the trigram index of
  // al.rcps_search (destination and record fields) and the jobs' templates.
  // A rare term gives a few ids, which the page and the count then join. A
  // term most rows have would give a million (or take longer than 150 ms to
  // find): then each row is tested in the walk's order instead, which finds
  // a page of them at once, and the count says "more than count_cap".
  // Returns false in that case.
  bool resolve_search(pqxx::dbtransaction& tx) {
    if (!pattern) return true;
    try {
      pqxx::subtransaction probe(tx, "search_probe");
      probe.exec("SET LOCAL statement_timeout = '150ms'");
      const auto row = probe.exec_params1(
          "SELECT count(*), coalesce(array_agg(m.rcp_id), '{}')::text FROM ("
          "  SELECT s.rcp_id FROM al.rcps_search s WHERE s.text ILIKE $1 "
          "  UNION SELECT r.rcp_id FROM al.jobs j JOIN al.rcps r ON r.job_id = j.job_id WHERE j.template ILIKE $1 "
          "  LIMIT $2) m",
          *pattern, max_resolved_matches + 1);
      probe.exec("SET LOCAL statement_timeout = '10s'");
      probe.commit();
      if (row[0].as<long long>() <= max_resolved_matches) {
        matches = row[1].as<std::string>();
        return true;
      }
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "57014") throw;
    }
    search_row_by_row = true;
    return false;
  }


  // The sort value, the job (job-level sorts) and the process, for advance().
  [[nodiscard]] std::string key_columns() const {
    const auto key = sort_key(sort);
    if (key.column.empty()) return "p.process";
    if (!key.job_level) return "p." + key.column + "::text, p.process";
    return "p." + key.column + "::text, p.workflow, p.process";
  }

  // The cursor after `row`, whose first key_count() columns are key_columns().
  void advance(const pqxx::row& row) {
    after_process = row[static_cast<int>(key_count()) - 1].as<long long>();
    if (key_count() > 1) after_value = row[0].c_str();
    if (key_count() == 3) after_job = row[1].as<long long>();
  }

  [[nodiscard]] std::string cursor_json() const {
    if (key_count() == 1) return nlohmann::json::array({*after_process}).dump();
    if (key_count() == 2) return nlohmann::json::array({*after_value, *after_process}).dump();
    return nlohmann::json::array({*after_value, *after_job, *after_process}).dump();
  }
};

constexpr const char* list_columns =
    "p.process, p.created_at, p.project, p.destination, p.channel, p.agent, p.expires_at, p.deleted_at, "
    "p.template, p.indicator, p.status_name, p.error";

void list_processes(ApiCall& call) {
  const long long limit = int_param(call.req, "limit", 1, 500, 50);
  auto query = ProcessQuery::read(call.req);
  auto conn = call.pool.acquire();
  pqxx::read_transaction tx(*conn);
  const std::string select =
      query.key_columns() + ", row_to_json((SELECT r FROM (SELECT " + list_columns + ") r))::text";
  const bool countable = query.resolve_search(tx);
  const auto rows = query.page(tx, select, limit + 1);
  nlohmann::json out_rows = nlohmann::json::array();
  nlohmann::json next = nullptr;
  const int json_column = static_cast<int>(rows.columns()) - 1;
  for (pqxx::result::size_type i = 0; i < rows.size(); ++i) {
    if (static_cast<long long>(i) == limit) {
      query.advance(rows[i - 1]);
      next = query.cursor_json();
      break;
    }
    out_rows.push_back(nlohmann::json::parse(rows[i][json_column].c_str()));
  }
  // Counting stops at the cap: a count of a million rows would cost more than the page.
  const long long count = countable ? query.capped_count(tx) : count_cap + 1;
  send_json(call.res, nlohmann::json{{"rows", std::move(out_rows)},
                                     {"next_after", next},
                                     {"count", std::min(count, count_cap)},
                                     {"count_capped", count > count_cap}}
                          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void show_process(ApiCall& call) {
  const long long id = path_id(call.req);
  auto conn = call.pool.acquire();
  pqxx::read_transaction tx(*conn);
  const auto rows = tx.exec_params("SELECT row_to_json(p)::text FROM al.processes p WHERE p.process = $1", id);
  if (rows.empty()) throw NotFound("process " + std::to_string(id) + " does not exist");
  send_json(call.res, "{\"process\":" + rows[0][0].as<std::string>() + "}");
}

const std::vector<std::string> export_columns = {
    "process",   "created_at", "project",    "destination", "channel",     "agent",       "expires_at",
    "deleted_at", "template",  "indicator",  "status_name", "error",       "token",       "workflow",
    "record_no", "role",       "posted_at",  "post_status", "post_error",  "archived_at", "doc_number",
    "archive_status", "archive_error"};

// Streams the whole filtered set in chunks of export_chunk rows, each its own
// statement, so neither side holds the set in memory.
class ExportStream {
public:
  ExportStream(ProcessQuery query, ConnectionPool::Lease conn)
      : m_query(std::move(query)), m_conn(std::make_shared<ConnectionPool::Lease>(std::move(conn))) {
    m_select = m_query.key_columns();
    for (const auto& column : export_columns) m_select += ", p." + column + "::text";
    m_first_field = m_query.key_count();
  }

  bool operator()(size_t, httplib::DataSink& sink) {
    try {
      return write_chunk(sink);
    } catch (const std::exception& e) {
      // The status line is sent already: end the stream short, and say so in the log.
      spdlog::error("console: export of processes stopped after process {}: {}", m_query.after_process.value_or(0),
                    e.what());
      return false;
    }
  }

private:
  bool write_chunk(httplib::DataSink& sink) {
    std::string chunk;
    if (!m_started) {
      chunk = std::string(utf8_bom) + csv_line(export_columns);
      m_started = true;
    }
    pqxx::read_transaction tx(**m_conn);
    const auto rows = m_query.page(tx, m_select, export_chunk);
    tx.commit();
    std::vector<std::string> fields(export_columns.size());
    for (const auto& row : rows) {
      for (size_t i = 0; i < fields.size(); ++i) fields[i] = row[static_cast<int>(m_first_field + i)].c_str();
      chunk += csv_line(fields);
    }
    if (!rows.empty()) m_query.advance(rows[rows.size() - 1]);
    if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
    if (rows.size() < static_cast<size_t>(export_chunk)) sink.done();
    return true;
  }

  ProcessQuery m_query;
  std::shared_ptr<ConnectionPool::Lease> m_conn;  // shared: httplib copies the provider
  std::string m_select;
  size_t m_first_field = 1;
  bool m_started = false;
};

void export_processes(ApiCall& call) {
  auto query = ProcessQuery::read(call.req);
  auto conn = call.pool.acquire();
  {
    pqxx::read_transaction tx(*conn);
    (void)query.resolve_search(tx);
  }
  ExportStream stream(std::move(query), std::move(conn));
  call.res.set_header("Content-Disposition", "attachment; filename=\"processes.csv\"");
  call.res.set_header("Cache-Control", "no-store");
  call.res.set_chunked_content_provider("text/csv; charset=utf-8", std::move(stream));
}

}  // namespace

void add_process_routes(ApiRoutes& routes) {
  routes.get(R"(/api/processes)", list_processes);
  routes.get(R"(/api/processes\.csv)", export_processes);
  routes.get(R"(/api/processes/(\d+))", show_process);
}

}  // namespace al::console
