// /api/jobs: the serial jobs overview (seed serial-jobs-overview.txt), one
// job's detail window with its items, and the Reattempt failed / Skip
// erroneous / Cancel buttons, which call the same al.* functions as
// `alctl retry`, `skip` and `cancel`.
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/database.hpp"
#include "api.hpp"

namespace al::console {
namespace {

// The columns of a job (docs/console.md), from al.job_overview `o`.
constexpr const char* job_columns =
    "o.job_id, o.created_at, o.project, o.template, o.template_version, o.created_by, o.jobstatus, "
    "o.status_name, o.state, o.n_records, o.errors, o.records_failed, o.recipients_delivered, "
    "o.recipients_failed, o.recipients_excluded, o.recipients_cancelled, o.recipients_open, o.held, "
    "o.deleted_at, o.job_error, o.last_error, o.status_changed_at, "
    "(o.deleted_at IS NULL AND o.jobstatus <> 888 AND (o.errors > 0 OR o.jobstatus = 141)) AS can_retry, "
    "(o.deleted_at IS NULL AND o.jobstatus <> 888 AND o.errors > 0) AS can_skip, "
    "(o.deleted_at IS NULL AND o.jobstatus NOT IN (888, 999)) AS can_cancel";

void list_jobs(ApiCall& call) {
  const long long limit = int_param(call.req, "limit", 1, 500, 50);
  const long long before = int_param(call.req, "before", 1, std::numeric_limits<long long>::max(), 0);
  const auto search = param(call.req, "q");
  const std::optional<std::string> pattern = search ? std::optional(al::like_contains_pattern(*search)) : std::nullopt;
  const std::optional<std::string> before_id = before > 0 ? std::optional(std::to_string(before)) : std::nullopt;
  auto conn = call.pool.acquire();
  pqxx::read_transaction tx(*conn);
  const auto text = tx.exec_params1(
      std::string("SELECT coalesce(json_agg(x ORDER BY x.job_id DESC), '[]')::text FROM ("
                  "  SELECT ") + job_columns + " FROM al.job_overview o "
      "  WHERE ($1::bigint IS NULL OR o.job_id < $1) "
      "    AND ($2::timestamptz IS NULL OR o.created_at >= $2::timestamptz) "
      "    AND ($3::text IS NULL OR o.created_at < CASE WHEN $3 ~ '^\\d{4}-\\d{2}-\\d{2}$' "
      "                                              THEN ($3::date + 1)::timestamptz ELSE $3::timestamptz END) "
      "    AND ($4::text IS NULL OR o.project = $4) "
      "    AND ($5::text IS NULL OR o.template = $5) "
      "    AND ($6::text IS NULL OR o.template ILIKE $6 OR o.project ILIKE $6 OR o.created_by ILIKE $6 "
      "         OR o.state ILIKE $6 OR o.job_id::text = $7) "
      "  ORDER BY o.job_id DESC LIMIT $8) x",
      nullable(before_id), nullable(param(call.req, "from")),
      nullable(param(call.req, "to")), nullable(param(call.req, "project")), nullable(param(call.req, "template")),
      nullable(pattern), nullable(search), limit + 1)[0].as<std::string>();
  auto jobs = nlohmann::json::parse(text);
  nlohmann::json next = nullptr;
  if (static_cast<long long>(jobs.size()) > limit) {
    jobs.erase(jobs.end() - 1);
    next = jobs.back()["job_id"];
  }
  send_json(call.res, nlohmann::json{{"jobs", std::move(jobs)}, {"next_before", next}}.dump());
}

void show_job(ApiCall& call) {
  const long long id = path_id(call.req);
  auto conn = call.pool.acquire();
  pqxx::read_transaction tx(*conn);
  const auto rows = tx.exec_params(
      std::string("SELECT row_to_json(x)::text FROM (SELECT ") + job_columns +
          " FROM al.job_overview o WHERE o.job_id = $1) x",
      id);
  if (rows.empty()) throw NotFound("job " + std::to_string(id) + " does not exist");
  send_json(call.res, "{\"job\":" + rows[0][0].as<std::string>() + "}");
}

// Items page by (record_no, rcp_id); the key is "record_no.rcp_id" (0: none).
void list_items(ApiCall& call) {
  const long long id = path_id(call.req);
  const long long limit = int_param(call.req, "limit", 1, 1000, 100);
  const auto state = param(call.req, "state");
  if (state) (void)choice_param(call.req, "state", {"pending", "open", "successful", "failed", "skipped manually",
                                                   "cancelled", "excluded", "deleted"}, "");
  long long after_record = 0, after_rcp = -1;
  if (const auto after = param(call.req, "after")) {
    const auto dot = after->find('.');
    try {
      if (dot == std::string::npos) throw std::invalid_argument("no dot");
      after_record = std::stoll(after->substr(0, dot));
      after_rcp = std::stoll(after->substr(dot + 1));
    } catch (const std::exception&) {
      throw BadRequest("after: '" + *after + "' is not an item key");
    }
  }
  auto conn = call.pool.acquire();
  pqxx::read_transaction tx(*conn);
  if (tx.exec_params("SELECT 1 FROM al.jobs WHERE job_id = $1", id).empty())
    throw NotFound("job " + std::to_string(id) + " does not exist");
  const auto text = tx.exec_params1(
      "SELECT coalesce(json_agg(x ORDER BY x.record_no, x.rcp_key), '[]')::text FROM ("
      "  SELECT i.record_no || '.' || coalesce(i.rcp_id, 0) AS key, i.record_no, i.rcp_id, "
      "         coalesce(i.rcp_id, 0) AS rcp_key, i.recipient, i.channel, i.last_attempt, i.attempt, i.state, "
      "         i.code, i.status_name, i.error "
      "  FROM al.job_items i "
      "  WHERE i.job_id = $1 AND ($2::text IS NULL OR i.state = $2) "
      // Failed items are few among many: find them through the indexes of
      // failures (rcps_job_failed and trns_job_failed hold the recipients and
      // records with an error, sql/021 and sql/031).
      "    AND ($2::text IS DISTINCT FROM 'failed' OR i.trn_id IN ("
      "          SELECT r.trn_id FROM al.rcps r "
      "          WHERE r.job_id = $1 AND r.error IS NOT NULL AND r.rcpstatus IN (341, 541, 641) "
      "          UNION ALL SELECT t.trn_id FROM al.trns t "
      "          WHERE t.job_id = $1 AND t.error IS NOT NULL AND t.trnstatus IN (241, 341))) "
      "    AND (i.record_no, coalesce(i.rcp_id, 0)) > ($3::int, $4::bigint) "
      "  ORDER BY i.record_no, coalesce(i.rcp_id, 0) LIMIT $5) x",
      id, nullable(state), after_record, after_rcp, limit + 1)[0].as<std::string>();
  auto items = nlohmann::json::parse(text);
  nlohmann::json next = nullptr;
  if (static_cast<long long>(items.size()) > limit) {
    items.erase(items.end() - 1);
    next = items.back()["key"];
  }
  for (auto& item : items) item.erase("rcp_key");
  send_json(call.res, nlohmann::json{{"items", std::move(items)}, {"next_after", next}}.dump());
}

// An action: the al.* function in one transaction that names the user as
// the actor, so al.status_history records who pressed the button.
ApiHandler action(const std::string& name, const std::string& function) {
  return [name, function](ApiCall& call) {
    const long long id = path_id(call.req);
    auto conn = call.pool.acquire();
    pqxx::work tx(*conn);
    tx.exec_params("SELECT set_config('al.actor', $1, true)", "console:" + call.session.user);
    const int changed = tx.exec_params1("SELECT " + function + "($1)", id)[0].as<int>();
    tx.exec_params("SELECT al.record_action($1, $2, $3)", id, "console " + name, changed);
    tx.commit();
    spdlog::info("console: {} pressed {} on job {}: {} items", call.session.user, name, id, changed);
    send_json(call.res, nlohmann::json{{"changed", changed}}.dump());
  };
}

}  // namespace

void add_job_routes(ApiRoutes& routes) {
  routes.get(R"(/api/jobs)", list_jobs);
  routes.get(R"(/api/jobs/(\d+))", show_job);
  routes.get(R"(/api/jobs/(\d+)/items)", list_items);
  routes.post(R"(/api/jobs/(\d+)/retry)", action("retry", "al.retry_job"));
  routes.post(R"(/api/jobs/(\d+)/skip)", action("skip", "al.skip_job"));
  routes.post(R"(/api/jobs/(\d+)/cancel)", action("cancel", "al.cancel_job"));
}

}  // namespace al::console
