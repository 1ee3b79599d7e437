// Plays the scheduler and every worker by hand with the line's SQL functions
// (al.claim, al.ack, al.lock_owned, al.finish, al.open_barriers, al.form_batches, …), so database
// tests can walk jobs through the line in a few lines and check the roll-ups.
// Workers' writes are minimal stand-ins (TRNS from records, RCPS from
// recipients, one PUB per recipient or print batch); no bus, no files.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace al::test {

using Ids = std::vector<std::int64_t>;

/// An id with the attempt that fences writes to it, as al.claim / al.ack return them.
struct Claimed {
  std::int64_t id = 0;
  int attempt = 0;
};

/// A fresh connection to `url`.
[[nodiscard]] std::unique_ptr<pqxx::connection> connect(const std::string& url);

/// Runs one statement in its own transaction; the first field of the first row as text ("" for none/NULL).
std::string value(pqxx::connection& conn, const std::string& sql);

/// Same, as an int (0 for none/NULL).
int int_value(pqxx::connection& conn, const std::string& sql);

/// The first column of every row, as ints.
[[nodiscard]] std::vector<int> int_column(pqxx::connection& conn, const std::string& sql);

/// The first column of every row, as text.
[[nodiscard]] std::vector<std::string> text_column(pqxx::connection& conn, const std::string& sql);

/// `{1,2,3}`: a PostgreSQL array literal for `$1::bigint[]`.
[[nodiscard]] std::string array_literal(const Ids& ids);

/// Claimed ids only.
[[nodiscard]] Ids ids_of(const std::vector<Claimed>& items);

/// al.claim(stage, limit, worker), committed.
std::vector<Claimed> claim(pqxx::connection& conn, const std::string& stage, const std::string& worker = "test",
                           int limit = 100000);

/// al.ack(stage, ids, attempts, worker), committed; returns what was acknowledged.
std::vector<Claimed> ack(pqxx::connection& conn, const std::string& stage, const std::vector<Claimed>& items,
                         const std::string& worker = "test");

/// al.finish in its own transaction; ids in `failed` get error "<stage>: failed in test". Returns rows written.
int finish(pqxx::connection& conn, const std::string& stage, const std::vector<Claimed>& items,
           const std::set<std::int64_t>& failed = {});

/// What a stage writes inside its work transaction, before al.finish; given the ids it still owns.
using Work = std::function<void(pqxx::work& tx, const Ids& owned)>;

/// Claims every ready item of `stage`, acknowledges them and, in one transaction
/// (lock_owned, `work`, finish), ends them: processed, or failed for ids in `failed`.
/// The default work is the stand-in writes of identifier, distributor and presenter.
/// For the distributor, al.open_barriers runs first, as the scheduler's does.
/// Returns the ids worked (empty when nothing was ready).
Ids claim_ack_finish(pqxx::connection& conn, const std::string& stage, const std::set<std::int64_t>& failed = {},
                     const Work& work = {});

/// The stand-in writes of a stage (identifier: TRNS from records, invalid at 241
/// naming the missing field; distributor: RCPS from `recipients`, 388 when opted
/// out; presenter: PUBS); nothing for the other stages.
void default_work(pqxx::work& tx, const std::string& stage, const Ids& owned);

/// Options of a whole run.
struct LineRun {
  int batch_size = 500;
  std::set<std::string> undeliverable;  ///< addresses the publisher fails (RCPS 641)
};

/// Runs receive, every stage and form_batches until nothing moves. Returns the rounds it took.
int run_line(pqxx::connection& conn, const LineRun& options = {});

/// The job's JOBS history: new_status in the order written.
[[nodiscard]] std::vector<int> job_history(pqxx::connection& conn, std::int64_t job_id);

/// al.submit_job(template, records), committed; the job id.
std::int64_t submit(pqxx::connection& conn, const std::string& template_name, const std::string& records_json);

/// al.put_template with a body using {{name}}, required field `name` and optional sort field.
void put_template(pqxx::connection& conn, const std::string& name, const std::string& sort_field = "");

/// Every per-job and per-record counter that disagrees with a GROUP BY over the
/// children, as "job 3: n_rcps_open got 2, want 1"; empty when all agree.
[[nodiscard]] std::vector<std::string> counter_mismatches(pqxx::connection& conn);

/// Renders ints as "a,b,c" for failure messages.
[[nodiscard]] std::string joined(const std::vector<int>& codes);

}  // namespace al::test
