// Roll-ups on small hand-built jobs: the statement triggers of sql/002 move
// records, batches and jobs on in the same transaction as the worker's write,
// keep the per-job counters in step, open the TRNS barrier, and announce a
// finished job (job-event outbox + NOTIFY al_job_done).
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "db/line_driver.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::int_value;
using test::joined;
using test::value;

// One e-mail and one print recipient, one record missing the required "name".
const char* const three_records = R"([
  {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"}]},
  {"name": "B", "recipients": [{"channel": "print", "address": "B\nStreet 1"}]},
  {"x": 1}])";

std::string overview_state(pqxx::connection& conn, std::int64_t job) {
  return value(conn, "SELECT state FROM al.job_overview WHERE job_id = " + std::to_string(job));
}

int job_status(pqxx::connection& conn, std::int64_t job) {
  return int_value(conn, "SELECT jobstatus FROM al.jobs WHERE job_id = " + std::to_string(job));
}

// A job of `records` records named R00001… with one file recipient each,
// taken through identification, assembly and distribution (to 390).
std::int64_t distributed_file_job(pqxx::connection& conn, int records) {
  test::put_template(conn, "letter", "name");
  const auto job = int_value(conn, "SELECT al.submit_job('letter', (SELECT jsonb_agg(jsonb_build_object("
                                   "'name', 'R' || lpad(i::text, 5, '0'), 'recipients', jsonb_build_array("
                                   "jsonb_build_object('channel', 'file', 'address', 'r' || i || '.html')))) "
                                   "FROM generate_series(1, " + std::to_string(records) + ") i))");
  int_value(conn, "SELECT al.receive_jobs(10)");
  for (const char* stage : {"identifier", "assembler", "distributor"}) test::claim_ack_finish(conn, stage);
  return job;
}

TEST(Rollups, ThreeRecordJobWithOneInvalidWalksTo999ThroughEveryJobCode) {
  auto conn = test::connect(test::fresh_database("rollup_walk"));
  test::put_template(*conn, "letter");
  const auto job = test::submit(*conn, "letter", three_records);

  test::run_line(*conn);

  EXPECT_EQ(job_status(*conn, job), 999);
  const std::vector<int> want = {101, 111, 121, 131, 211, 290, 311, 390, 411, 490, 999};
  const auto got = test::job_history(*conn, job);
  EXPECT_EQ(got, want) << "job history: got " << joined(got) << ", want " << joined(want);
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT trnstatus FROM al.trns ORDER BY seq")), "999,999,241");
  EXPECT_NE(value(*conn, "SELECT error FROM al.trns WHERE seq = 3").find("name"), std::string::npos)
      << "the invalid record's error names the missing field";
  EXPECT_EQ(overview_state(*conn, job), "created with 1 errors");
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(Rollups, RecordsWaitAtTheBarrierUntilTheLastOneIsAssembled) {
  auto conn = test::connect(test::fresh_database("rollup_barrier"));
  test::put_template(*conn, "letter");
  const auto job = test::submit(*conn, "letter", R"([{"name": "A"}, {"name": "B"}, {"name": "C"}])");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  test::claim_ack_finish(*conn, "identifier");
  const auto acked = test::ack(*conn, "assembler", test::claim(*conn, "assembler"));
  ASSERT_EQ(acked.size(), 3u);

  struct Step {
    std::size_t finished;  // records assembled so far
    std::string trns;      // their codes, in seq order
    int job;
  };
  const Step steps[] = {{1, "301,231,231", 211}, {2, "301,301,231", 211}, {3, "311,311,311", 311}};
  for (const auto& step : steps) {
    ASSERT_EQ(test::finish(*conn, "assembler", {acked[step.finished - 1]}), 1);
    EXPECT_EQ(joined(test::int_column(*conn, "SELECT trnstatus FROM al.trns ORDER BY seq")), step.trns)
        << "after " << step.finished << " of 3 assembled (a small barrier opens in the same transaction)";
    EXPECT_EQ(job_status(*conn, job), step.job) << "after " << step.finished << " of 3 assembled";
  }
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(Rollups, FormBatchesCutsRecipientsIntoBatchesInTheTemplateSortOrder) {
  auto conn = test::connect(test::fresh_database("rollup_batches"));
  test::put_template(*conn, "letter", "name");
  std::string records = "[";
  for (const char* name : {"E", "C", "A", "D", "B"}) {
    records += std::string(records.size() > 1 ? "," : "") + R"({"name": ")" + name +
               R"(", "recipients": [{"channel": "email", "address": ")" + name + R"(@example.com"}]})";
  }
  const auto job = test::submit(*conn, "letter", records + "]");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  for (const char* stage : {"identifier", "assembler", "distributor"}) test::claim_ack_finish(*conn, stage);
  ASSERT_EQ(job_status(*conn, job), 390);

  // One call numbers the recipients, fills the batches and moves the
  // records with their recipients (sql/040); then nothing is left to do.
  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 2)"), 1);
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT DISTINCT trnstatus FROM al.trns")), "411");
  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 2)"), 0);

  const auto batches = test::text_column(*conn, R"(
    SELECT b.size || ':' || string_agg(t.data->>'name', '' ORDER BY t.data->>'name') || ':' || b.bchstatus
    FROM al.bchs b JOIN al.rcps r USING (bch_id) JOIN al.trns t ON t.trn_id = r.trn_id
    GROUP BY b.bch_id ORDER BY b.bch_id)");
  const std::vector<std::string> want = {"2:AB:411", "2:CD:411", "1:E:411"};
  EXPECT_EQ(batches, want) << "batches as size:names:status";
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT DISTINCT rcpstatus FROM al.rcps")), "411");
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT DISTINCT trnstatus FROM al.trns")), "411");
  EXPECT_EQ(job_status(*conn, job), 411);
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(Rollups, OptedOutAddressIsExcludedAndTheJobIsIncompletelySent) {
  auto conn = test::connect(test::fresh_database("rollup_excluded"));
  test::put_template(*conn, "letter");
  value(*conn, "INSERT INTO al.contact_preferences VALUES ('out@example.com', 'email', true, 'said no')");
  const auto job = test::submit(*conn, "letter", R"([
    {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"},
                                 {"channel": "email", "address": "Out@Example.com"}]}])");

  test::run_line(*conn);

  EXPECT_EQ(job_status(*conn, job), 999);
  EXPECT_EQ(value(*conn, "SELECT rcpstatus || ' ' || error FROM al.rcps WHERE address = 'Out@Example.com'"),
            "388 opted out: said no");
  EXPECT_EQ(int_value(*conn, "SELECT n_rcps_excluded FROM al.jobs"), 1);
  EXPECT_EQ(int_value(*conn, "SELECT recipients_excluded FROM al.job_overview"), 1);
  EXPECT_EQ(overview_state(*conn, job), "incompletely sent (1 excluded)");
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

// The distributor inserts a record's recipients and finishes the record in
// one transaction; the finish counts the open recipients (sql/026), so each
// record is written once there, not once more by the recipients' roll-up.
TEST(Rollups, ADistributedRecordIsWrittenOnceWithItsOpenRecipientsCounted) {
  auto conn = test::connect(test::fresh_database("rollup_distribute_once"));
  test::put_template(*conn, "letter");
  value(*conn, "INSERT INTO al.contact_preferences VALUES ('out@example.com', 'email', true, 'said no')");
  test::submit(*conn, "letter", R"([
    {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"},
                                 {"channel": "file", "address": "a.pdf"},
                                 {"channel": "email", "address": "out@example.com"}]},
    {"name": "B", "recipients": [{"channel": "print", "address": "B\nStreet 1"}]},
    {"name": "C"}])");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  for (const char* stage : {"identifier", "assembler"}) test::claim_ack_finish(*conn, stage);
  const auto acked = test::ack(*conn, "distributor", test::claim(*conn, "distributor"));
  ASSERT_EQ(acked.size(), 3u);
  std::string attempts = "{";
  for (const auto& a : acked) attempts += (attempts.size() > 1 ? "," : "") + std::to_string(a.attempt);
  attempts += "}";

  // Pending statistics may still hold earlier transactions' counts: take the difference.
  const char* const trns_updates =
      "SELECT coalesce((SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = 'al.trns'::regclass), 0)";
  pqxx::work tx(*conn);
  const int before = tx.exec(trns_updates)[0][0].as<int>();
  const auto ids = test::array_literal(test::ids_of(acked));
  tx.exec_params("SELECT * FROM al.lock_owned('distributor', $1::bigint[], $2::int[])", ids, attempts);
  test::default_work(tx, "distributor", test::ids_of(acked));
  tx.exec_params("SELECT al.finish('distributor', $1::bigint[], $2::int[], '{t,t,t}', '{NULL,NULL,NULL}')", ids,
                 attempts);
  const int writes = tx.exec(trns_updates)[0][0].as<int>() - before;
  tx.commit();

  EXPECT_EQ(writes, 3) << "row versions of al.trns written by the distributor's transaction for 3 records";
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT trnstatus FROM al.trns ORDER BY seq")), "401,401,401");
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT n_rcps_open FROM al.trns ORDER BY seq")), "2,1,0")
      << "open recipients per record (the opted-out one is not open)";
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

// Likewise a batch (sql/032): the presenter's outcome writes the batch once,
// straight on to the archiver's ready code.
TEST(Rollups, APresentedBatchIsWrittenOnceIntoTheNextStage) {
  auto conn = test::connect(test::fresh_database("rollup_present_once"));
  test::put_template(*conn, "letter");
  test::submit(*conn, "letter", R"([{"name": "A", "recipients": [{"channel": "file", "address": "a.pdf"}]}])");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  for (const char* stage : {"identifier", "assembler", "distributor"}) test::claim_ack_finish(*conn, stage);
  ASSERT_EQ(int_value(*conn, "SELECT al.form_batches(10, 500)"), 1);
  const auto acked = test::ack(*conn, "presenter", test::claim(*conn, "presenter"));
  ASSERT_EQ(acked.size(), 1u);
  const auto id = std::to_string(acked[0].id);
  const auto attempt = std::to_string(acked[0].attempt);

  const char* const bchs_updates =
      "SELECT coalesce((SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = 'al.bchs'::regclass), 0)";
  pqxx::work tx(*conn);
  const int before = tx.exec(bchs_updates)[0][0].as<int>();
  test::default_work(tx, "presenter", test::ids_of(acked));
  tx.exec("SELECT al.finish('presenter', '{" + id + "}', '{" + attempt + "}', '{t}', '{NULL}')");
  const int writes = tx.exec(bchs_updates)[0][0].as<int>() - before;
  tx.commit();

  EXPECT_EQ(writes, 1) << "row versions of al.bchs written by the presenter's outcome";
  EXPECT_EQ(int_value(*conn, "SELECT bchstatus FROM al.bchs WHERE bch_id = " + id), 511);
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT new_status FROM al.status_history WHERE object = 'BCHS' AND id = " +
                                               id + " AND old_status >= 431 ORDER BY history_id")),
            "490,511")
      << "the history still shows the processed code";
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT DISTINCT pubstatus FROM al.pubs")), "511");
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(Rollups, JobWhoseRecordsAreAllInvalidStillCompletesWithErrors) {
  auto conn = test::connect(test::fresh_database("rollup_all_invalid"));
  test::put_template(*conn, "letter");
  const auto job = test::submit(*conn, "letter", R"([{"x": 1}, {"y": 2}])");

  test::run_line(*conn);

  EXPECT_EQ(job_status(*conn, job), 999);
  EXPECT_EQ(int_value(*conn, "SELECT n_records FROM al.jobs"), 2);
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT trnstatus FROM al.trns ORDER BY seq")), "241,241");
  EXPECT_EQ(overview_state(*conn, job), "created with 2 errors");
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.job_events"), 1);
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

// A big job's batches are made at once and filled 2 000 recipients a call
// (sql/037), so the presenters start while the rest are filled. A formed
// batch whose recipients all left 401 before it was filled (skipped by an
// admin) is cancelled with the reason, never sent on empty.
TEST(Rollups, FormBatchesFillsABigJobsBatchesAFewAtATimeAndCancelsOneLeftEmpty) {
  auto conn = test::connect(test::fresh_database("rollup_batches_filled"));
  const auto job = distributed_file_job(*conn, 2600);
  ASSERT_EQ(job_status(*conn, job), 390);

  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 100)"), 1);
  EXPECT_EQ(value(*conn, "SELECT string_agg(bchstatus || ':' || count, ' ') FROM (SELECT bchstatus, count(*) "
                         "FROM al.bchs GROUP BY 1 ORDER BY 1) x"),
            "401:6 411:20")
      << "26 batches formed, the first 2 000 recipients' filled";
  EXPECT_EQ(value(*conn, "SELECT min(t.data->>'name') || ' ' || max(t.data->>'name') FROM al.rcps r "
                         "JOIN al.trns t USING (trn_id) JOIN al.bchs b USING (bch_id) WHERE b.seq = 20"),
            "R01901 R02000")
      << "filled in the template's sort order";
  EXPECT_EQ(job_status(*conn, job), 390);

  // An admin skips every recipient of the last formed batch before it is filled.
  value(*conn, "UPDATE al.rcps SET rcpstatus = 888, error = 'skipped by test' "
               "WHERE rcp_id = ANY ((SELECT members FROM al.bchs WHERE seq = 26)::bigint[])");
  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 100)"), 1);
  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 100)"), 1) << "the records";
  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 100)"), 0);
  EXPECT_EQ(value(*conn, "SELECT bchstatus || ' ' || size || ' ' || error FROM al.bchs WHERE seq = 26"),
            "888 0 cancelled: its recipients were skipped or cancelled before the batch was filled");
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.bchs WHERE bchstatus = 411 AND size = 100 AND members IS NULL"),
            25);
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.rcps WHERE rcpstatus = 411"), 2500);
  EXPECT_EQ(job_status(*conn, job), 411);
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

// A fill moves its records with their last recipient waiting for a batch
// (sql/040), so a record is written once more at its completion, not twice.
// A job can then pass 390 with a formed batch still unfilled, when an admin
// took the records of its planned recipients out of 401 first: that batch
// is still filled (or cancelled) and the job does not stay at 411 for ever.
TEST(Rollups, FillsMoveTheirRecordsAndABatchLeftUnfilledIsStillFinished) {
  auto conn = test::connect(test::fresh_database("rollup_batches_records"));
  const auto job = distributed_file_job(*conn, 2500);
  ASSERT_EQ(job_status(*conn, job), 390);

  // Batches of 600: the first call fills four (2 400 recipients), the next the fifth.
  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 600)"), 1);
  EXPECT_EQ(value(*conn, "SELECT string_agg(bchstatus || ':' || count, ' ') FROM (SELECT bchstatus, count(*) "
                         "FROM al.bchs GROUP BY 1 ORDER BY 1) x"),
            "401:1 411:4");
  EXPECT_EQ(value(*conn, "SELECT string_agg(trnstatus || ':' || count, ' ') FROM (SELECT trnstatus, count(*) "
                         "FROM al.trns GROUP BY 1 ORDER BY 1) x"),
            "401:100 411:2400")
      << "the filled batches' records moved with them";
  EXPECT_EQ(job_status(*conn, job), 390);

  // An admin cancels the unfilled batch's recipients and their records; the
  // job has no record waiting for batching any more and moves on.
  value(*conn, "UPDATE al.rcps SET rcpstatus = 888, error = 'cancelled by test' "
               "WHERE rcp_id = ANY ((SELECT members FROM al.bchs WHERE seq = 5)::bigint[])");
  value(*conn, "UPDATE al.trns SET trnstatus = 888, error = 'cancelled by test' WHERE trn_id IN "
               "(SELECT trn_id FROM al.rcps WHERE rcp_id = ANY ((SELECT members FROM al.bchs WHERE seq = 5)::bigint[]))");
  ASSERT_EQ(job_status(*conn, job), 411);
  ASSERT_EQ(int_value(*conn, "SELECT bchstatus FROM al.bchs WHERE seq = 5"), 401);

  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 600)"), 1) << "the job past 390 with a batch at 401";
  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 600)"), 0);
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.bchs WHERE bchstatus = 401"), 0);
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});

  // Delivered, every live record is written once at its completion.
  test::run_line(*conn);
  EXPECT_EQ(job_status(*conn, job), 999);
  EXPECT_EQ(value(*conn, "SELECT string_agg(trnstatus || ':' || count, ' ') FROM (SELECT trnstatus, count(*) "
                         "FROM al.trns GROUP BY 1 ORDER BY 1) x"),
            "888:100 999:2400");
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

// Collects the payloads of one notification channel on its own connection.
struct Listener : pqxx::notification_receiver {
  Listener(pqxx::connection& conn, const std::string& channel) : pqxx::notification_receiver(conn, channel) {}
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

TEST(Rollups, ReachingCompleteWritesOneJobEventAndNotifiesAlJobDone) {
  const auto url = test::fresh_database("rollup_job_done");
  auto conn = test::connect(url);
  auto listening = test::connect(url);
  Listener listener(*listening, "al_job_done");
  test::put_template(*conn, "letter");
  const auto job = test::submit(*conn, "letter", three_records);

  test::run_line(*conn);

  for (int i = 0; i < 50 && listener.payloads.empty(); ++i) listening->await_notification(0, 100000);
  ASSERT_EQ(listener.payloads.size(), 1u) << "al_job_done notifications";
  EXPECT_EQ(int_value(*conn, "SELECT (" + conn->quote(listener.payloads[0]) + "::jsonb->>'job_id')::int"), job)
      << "payload " << listener.payloads[0];
  EXPECT_EQ(value(*conn, "SELECT count(*) || ' ' || min(kind) || ' ' || min(payload->>'job_id') FROM al.job_events"),
            "1 job_done " + std::to_string(job));
  EXPECT_EQ(int_value(*conn, "SELECT (payload->>'records_failed')::int FROM al.job_events"), 1);
}

TEST(Rollups, CountersEqualCountsOverTheChildrenAfterAFullRun) {
  auto conn = test::connect(test::fresh_database("rollup_counters"));
  test::put_template(*conn, "letter");
  value(*conn, "INSERT INTO al.contact_preferences VALUES ('out@example.com', 'email', true, 'said no')");
  std::string records = "[";
  for (int i = 1; i <= 12; ++i) {
    const std::string n = std::to_string(i);
    records += std::string(i > 1 ? "," : "") +
               (i % 5 == 0 ? R"({"x": 1})"
                           : R"({"name": "R)" + n + R"(", "recipients": [
                 {"channel": "email", "address": ")" + (i % 4 == 0 ? std::string("bad") : "r") + n + R"(@example.com"},
                 {"channel": "print", "address": "R)" + n + R"(\nStreet"},
                 {"channel": "file", "address": "r)" + n + R"(.pdf"},
                 {"channel": "email", "address": "out@example.com"}]})");
  }
  test::submit(*conn, "letter", records + "]");
  test::submit(*conn, "letter", three_records);
  const std::set<std::string> undeliverable = {"bad4@example.com", "bad8@example.com"};

  test::run_line(*conn, {3, undeliverable});

  EXPECT_EQ(joined(test::int_column(*conn, "SELECT jobstatus FROM al.jobs ORDER BY job_id")), "999,999");
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
  EXPECT_EQ(value(*conn, "SELECT n_trns_failed || ' ' || n_rcps_failed || ' ' || n_rcps_excluded || ' ' || "
                         "n_rcps_delivered FROM al.jobs WHERE job_id = 1"),
            "2 2 10 28")
      << "records failed, recipients failed, excluded, delivered";
}

// PL/pgSQL keeps a statement's plan for the life of the connection, sized by
// what the transition tables held on its first call. Roll-ups that joined
// old and new rows therefore nested loops over them forever after a one-row
// status change: quadratic, minutes for a statement of 20 000 records (and
// the scheduler's connection releases a whole job's barrier in one). sql/024
// pairs the rows without a join. statement_timeout turns a relapse into a
// failure instead of a hang; the linear statement takes well under a second.
TEST(Rollups, AConnectionThatMovedOneRowFirstMovesTwentyThousandInOneStatement) {
  auto conn = test::connect(test::fresh_database("rollup_plan_size"));
  test::put_template(*conn, "letter");
  test::submit(*conn, "letter", R"([{"name": "A", "recipients": [{"channel": "file", "address": "a.pdf"}]}])");
  test::run_line(*conn);  // every roll-up of this connection now ran on one row first
  ASSERT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs"), 999);

  value(*conn, "SELECT al.submit_job('letter', (SELECT jsonb_agg(jsonb_build_object('name', 'R' || i)) "
               "FROM generate_series(1, 20000) i))");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  test::claim_ack_finish(*conn, "identifier");
  value(*conn, "SET statement_timeout = '20s'");

  const auto claimed = test::claim(*conn, "assembler");
  const auto acked = test::ack(*conn, "assembler", claimed);

  EXPECT_EQ(claimed.size(), 20000u);
  EXPECT_EQ(acked.size(), 20000u);
  EXPECT_EQ(test::finish(*conn, "assembler", acked), 20000);
  // A big barrier is released by the scheduler a chunk at a time, in record
  // order (sql/029); the job stays at 290 until the last chunk.
  EXPECT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs ORDER BY job_id DESC LIMIT 1"), 290);
  EXPECT_EQ(int_value(*conn, "SELECT al.open_barriers(1500)"), 1500);
  EXPECT_EQ(value(*conn, "SELECT max(seq) || ' ' || count(*) FROM al.trns t JOIN al.jobs j USING (job_id) "
                         "WHERE j.job_id > 1 AND t.trnstatus = 311"),
            "1500 1500");
  EXPECT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs ORDER BY job_id DESC LIMIT 1"), 290);
  EXPECT_EQ(int_value(*conn, "SELECT al.open_barriers(100000)"), 18500);
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.trns WHERE trnstatus = 311"), 20000)
      << "all assembled, the barrier is open";
  EXPECT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs ORDER BY job_id DESC LIMIT 1"), 311);
  EXPECT_EQ(int_value(*conn, "SELECT al.open_barriers(100000)"), 0);
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

// The barrier is announced to the scheduler only when records wait there
// (sql/036): a small one is opened by the roll-up, and its announcement
// would cost every small job a call of al.open_barriers that finds nothing.
TEST(Rollups, OnlyABarrierThatStaysClosedIsAnnouncedToTheScheduler) {
  const auto url = test::fresh_database("rollup_barrier_notify");
  auto conn = test::connect(url);
  auto listening = test::connect(url);
  Listener listener(*listening, "al_ready");
  test::put_template(*conn, "letter");
  const auto barrier_announcements = [&] {
    for (int i = 0; i < 5; ++i) listening->await_notification(0, 50000);
    return std::count(listener.payloads.begin(), listener.payloads.end(), "barrier");
  };
  const auto assemble_new_job = [&](int records) {
    value(*conn, "SELECT al.submit_job('letter', (SELECT jsonb_agg(jsonb_build_object('name', 'R' || i)) "
                 "FROM generate_series(1, " + std::to_string(records) + ") i))");
    int_value(*conn, "SELECT al.receive_jobs(10)");
    test::claim_ack_finish(*conn, "identifier");
    test::claim_ack_finish(*conn, "assembler");
    return int_value(*conn, "SELECT jobstatus FROM al.jobs ORDER BY job_id DESC LIMIT 1");
  };

  EXPECT_EQ(assemble_new_job(3), 311) << "a small barrier is opened by the roll-up";
  EXPECT_EQ(barrier_announcements(), 0);
  EXPECT_EQ(assemble_new_job(1500), 290) << "a big one waits for al.open_barriers";
  EXPECT_EQ(barrier_announcements(), 1);
}

// The same for batches (sql/025): al.form_batches makes all of a job's new
// batches in one statement and fills thousands, with their records, in the
// next ones (sql/037, sql/040),
// on the scheduler's connection, which has usually moved one batch at a
// time before. Batches of one recipient make 20 000.
TEST(Rollups, AConnectionThatMovedOneBatchFirstFormsTwentyThousandBatchesInOneStatement) {
  auto conn = test::connect(test::fresh_database("rollup_plan_size_batches"));
  test::put_template(*conn, "letter");
  test::submit(*conn, "letter", R"([{"name": "A", "recipients": [{"channel": "file", "address": "a.pdf"}]}])");
  test::run_line(*conn);
  ASSERT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs"), 999);

  value(*conn, "SELECT al.submit_job('letter', (SELECT jsonb_agg(jsonb_build_object('name', 'R' || i, "
               "'recipients', jsonb_build_array(jsonb_build_object('channel', 'file', 'address', 'r' || i || '.pdf')))) "
               "FROM generate_series(1, 20000) i))");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  for (const char* stage : {"identifier", "assembler", "distributor"}) test::claim_ack_finish(*conn, stage);
  value(*conn, "SET statement_timeout = '20s'");

  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 1)"), 1);
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.bchs WHERE bchstatus = 401"), 18000) << "formed, to fill";
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.bchs WHERE bchstatus = 411"), 2000) << "filled";
  int calls = 1;
  while (int_value(*conn, "SELECT al.form_batches(10, 1)") > 0 && calls < 100) ++calls;
  EXPECT_EQ(calls, 10) << "ten calls of 2 000 recipients, each with their records (sql/040)";
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.bchs WHERE bchstatus = 411 AND members IS NULL"), 20000);
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.trns WHERE trnstatus = 411"), 20000);
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

// And for records that complete as they are batched (no recipient open):
// their roll-up moves them 411 -> 999 in the statement that batches them.
TEST(Rollups, AConnectionThatMovedOneRowFirstCompletesTwentyThousandRecordsWithoutRecipients) {
  auto conn = test::connect(test::fresh_database("rollup_plan_size_done"));
  test::put_template(*conn, "letter");
  test::submit(*conn, "letter", R"([{"name": "A"}])");
  test::run_line(*conn);
  ASSERT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs"), 999);

  value(*conn, "SELECT al.submit_job('letter', (SELECT jsonb_agg(jsonb_build_object('name', 'R' || i)) "
               "FROM generate_series(1, 20000) i))");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  for (const char* stage : {"identifier", "assembler", "distributor"}) test::claim_ack_finish(*conn, stage);
  value(*conn, "SET statement_timeout = '20s'");

  EXPECT_EQ(int_value(*conn, "SELECT al.form_batches(10, 500)"), 1);
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.trns WHERE trnstatus = 999"), 20001);
  EXPECT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs ORDER BY job_id DESC LIMIT 1"), 999);
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(Rollups, EveryRecordedStatusChangeOfAFullRunIsALegalTransition) {
  auto conn = test::connect(test::fresh_database("rollup_history_legal"));
  value(*conn, "UPDATE al.settings SET value = 'on' WHERE key = 'history_items'");
  test::put_template(*conn, "letter");
  value(*conn, "INSERT INTO al.contact_preferences VALUES ('out@example.com', 'email', true, 'said no')");
  const auto job = test::submit(*conn, "letter", R"([
    {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"},
                                 {"channel": "email", "address": "out@example.com"},
                                 {"channel": "email", "address": "bad@example.com"}]},
    {"name": "B", "recipients": [{"channel": "print", "address": "B\nStreet 1"}]},
    {"x": 1}])");
  test::run_line(*conn, {1, {"bad@example.com"}});
  // A second pass through retry, so the back-moves are recorded too.
  EXPECT_EQ(int_value(*conn, "SELECT al.retry_job(" + std::to_string(job) + ")"), 2);
  test::run_line(*conn);
  ASSERT_EQ(job_status(*conn, job), 999);

  const auto illegal = test::text_column(*conn, R"(
    SELECT h.object || ' ' || h.id || ': ' || h.old_status || ' -> ' || h.new_status
    FROM al.status_history h
    WHERE h.old_status IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM al.status_transitions t
                      WHERE t.object = h.object AND t.from_code = h.old_status AND t.to_code = h.new_status)
    ORDER BY h.history_id)");
  EXPECT_EQ(illegal, std::vector<std::string>{}) << "history rows that are not legal transitions";
  // al.finish writes a record's x90 and the step after it at once (sql/021);
  // the history still shows the processed code between them.
  const auto first_record = test::text_column(*conn, R"(
    SELECT h.old_status || '->' || h.new_status FROM al.status_history h
    WHERE h.object = 'TRNS' AND h.id = (SELECT min(trn_id) FROM al.trns WHERE job_id = )" + std::to_string(job) + R"()
      AND h.old_status BETWEEN 221 AND 390 ORDER BY h.history_id)");
  const std::vector<std::string> want = {"221->231", "231->290", "290->301", "301->311",
                                         "311->321", "321->331", "331->390", "390->401"};
  EXPECT_EQ(first_record, want) << "the first record's moves from assembly to batching";
  // Batches too, since sql/032: each stage's x90 and the next ready code
  // (a batch that never failed).
  const auto first_batch = test::text_column(*conn, R"(
    SELECT h.old_status || '->' || h.new_status FROM al.status_history h
    WHERE h.object = 'BCHS' AND h.old_status >= 421
      AND h.id = (SELECT min(b.bch_id) FROM al.bchs b WHERE b.job_id = )" + std::to_string(job) + R"(
                    AND NOT EXISTS (SELECT 1 FROM al.status_history f WHERE f.object = 'BCHS' AND f.id = b.bch_id
                                      AND f.new_status % 100 = 41))
    ORDER BY h.history_id)");
  const std::vector<std::string> batch_want = {
      "421->431", "431->490", "490->511", "511->521", "521->531", "531->590", "590->611", "611->621",
      "621->631", "631->690", "690->711", "711->721", "721->731", "731->790", "790->999"};
  EXPECT_EQ(first_batch, batch_want) << "the first batch's moves from presenting to 999";
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.bchs WHERE bchstatus IN (490, 590, 690, 790)"), 0);
  for (const char* object : {"JOBS", "TRNS", "RCPS", "BCHS", "PUBS"}) {
    EXPECT_GT(int_value(*conn, std::string("SELECT count(*) FROM al.status_history WHERE old_status IS NOT NULL "
                                           "AND object = '") + object + "'"),
              0)
        << object << " changes were recorded";
  }
}

// sql/035: the functions the workers call and the roll-up triggers plan
// their statements once per connection (they name rows by id); the
// scheduler's functions keep custom plans, which see how many records wait
// in a lane. A migration that redefines one of these functions with CREATE
// OR REPLACE must repeat the setting, or this fails.
TEST(Rollups, WorkerFunctionsAndTriggersTakeGenericPlansAndClaimsDoNot) {
  auto conn = test::connect(test::fresh_database("rollup_generic_plans"));
  const std::string generic =
      "SELECT string_agg(p.proname, ' ' ORDER BY p.proname) FROM pg_proc p "
      "WHERE p.pronamespace = 'al'::regnamespace AND 'plan_cache_mode=force_generic_plan' = ANY (p.proconfig)";
  EXPECT_EQ(value(*conn, generic),
            "ack bchs_after_insert bchs_after_update finish lock_owned pubs_after_update rcps_after_insert "
            "rcps_after_update rcps_search_after_insert trns_after_insert trns_after_update");
}

}  // namespace
}  // namespace al
