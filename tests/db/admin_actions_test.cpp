// What administrators do by hand or through alctl: change a status column
// (the guard admits only moves in al.status_transitions), retry, skip, cancel,
// hold and release a job.
#include <string>

#include <gtest/gtest.h>

#include "db/line_driver.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::int_value;
using test::joined;
using test::value;

// A record missing "name" (TRNS 241) and a recipient the publisher fails (RCPS 641).
const char* const records_with_failures = R"([
  {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"},
                               {"channel": "email", "address": "bad@example.com"}]},
  {"name": "B", "recipients": [{"channel": "print", "address": "B\nStreet 1"}]},
  {"x": 1, "recipients": [{"channel": "file", "address": "x.pdf"}]}])";

std::unique_ptr<pqxx::connection> completed_job_with_failures(const std::string& db) {
  auto conn = test::connect(test::fresh_database(db));
  test::put_template(*conn, "letter");
  test::submit(*conn, "letter", records_with_failures);
  test::run_line(*conn, {500, {"bad@example.com"}});
  return conn;
}

TEST(Guard, ManualStatusChangesAreCheckedAgainstTheLegalTransitions) {
  auto conn = completed_job_with_failures("guard_manual");
  ASSERT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs"), 999);
  struct Case {
    std::string update;
    std::string want_error;  // empty: accepted
  };
  const Case cases[] = {
      {"UPDATE al.trns SET trnstatus = 231 WHERE trnstatus = 999 AND seq = 1", "illegal status change 999 -> 231"},
      {"UPDATE al.jobs SET jobstatus = 131", "illegal status change 999 -> 131"},
      {"UPDATE al.bchs SET bchstatus = 421 WHERE bchstatus = 999", "illegal status change 999 -> 421"},
      {"UPDATE al.rcps SET rcpstatus = 411 WHERE rcpstatus = 999", "illegal status change 999 -> 411"},
      {"UPDATE al.pubs SET pubstatus = 490", "illegal status change 999 -> 490"},
      {"UPDATE al.trns SET trnstatus = 888 WHERE trnstatus = 241", ""},
      {"UPDATE al.rcps SET rcpstatus = 888 WHERE rcpstatus = 641", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.update);
    std::string got;
    try {
      pqxx::work tx(*conn);
      tx.exec(c.update);
      // Roll back: each case starts from the completed job.
    } catch (const pqxx::sql_error& e) {
      got = e.what();
    }
    if (c.want_error.empty()) {
      EXPECT_EQ(got, "") << "a legal move was rejected";
    } else {
      EXPECT_NE(got.find(c.want_error), std::string::npos)
          << "error: got \"" << got << "\", want one containing \"" << c.want_error << "\"";
    }
  }
  // A statement with legal and illegal moves names the record that moved illegally.
  const auto first = value(*conn, "SELECT trn_id FROM al.trns WHERE seq = 1");
  ASSERT_EQ(int_value(*conn, "SELECT trnstatus FROM al.trns WHERE seq = 1"), 999);
  try {
    pqxx::work tx(*conn);
    tx.exec("UPDATE al.trns SET trnstatus = CASE WHEN trnstatus = 241 THEN 888 ELSE 231 END "
            "WHERE trnstatus = 241 OR seq = 1");
    ADD_FAILURE() << "an illegal move among legal ones was accepted";
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("TRNS " + first + ": illegal status change 999 -> 231"), std::string::npos)
        << e.what();
  }
  // And a legal manual move, committed, keeps the counters right.
  value(*conn, "UPDATE al.trns SET trnstatus = 888, error = 'given up' WHERE trnstatus = 241");
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(AdminActions, RetryPutsFailedItemsBackAndTheJobCompletesAgainWithANewEvent) {
  auto conn = completed_job_with_failures("admin_retry");
  ASSERT_EQ(value(*conn, "SELECT jobstatus || ' ' || state FROM al.job_overview"), "999 created with 2 errors");
  ASSERT_EQ(int_value(*conn, "SELECT count(*) FROM al.job_events"), 1);

  EXPECT_EQ(int_value(*conn, "SELECT al.retry_job(1)"), 2);

  EXPECT_EQ(value(*conn, "SELECT trnstatus || ' attempt ' || attempt FROM al.trns WHERE seq = 3"), "211 attempt 1");
  EXPECT_EQ(value(*conn, "SELECT rcpstatus || ' ' || coalesce(bch_id::text, 'unbatched') FROM al.rcps "
                         "WHERE address = 'bad@example.com'"),
            "401 unbatched");
  EXPECT_EQ(int_value(*conn, "SELECT trnstatus FROM al.trns WHERE seq = 1"), 401) << "its record waits with it";
  EXPECT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs"), 211) << "the least advanced live child";
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});

  test::run_line(*conn);

  EXPECT_EQ(value(*conn, "SELECT jobstatus || ' ' || state FROM al.job_overview"), "999 sent");
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT DISTINCT rcpstatus FROM al.rcps")), "999");
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT DISTINCT trnstatus FROM al.trns")), "999");
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.job_events"), 2) << "a new job event";
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.bchs"), 4) << "email and print, then email and file anew";
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(AdminActions, SkipCancelsFailedItemsWithSkippedManually) {
  auto conn = completed_job_with_failures("admin_skip");

  EXPECT_EQ(int_value(*conn, "SELECT al.skip_job(1)"), 2);

  const auto skipped = test::text_column(*conn, R"(
    SELECT 'TRNS ' || trnstatus || ' ' || error FROM al.trns WHERE trnstatus = 888
    UNION ALL SELECT 'RCPS ' || rcpstatus || ' ' || error FROM al.rcps WHERE rcpstatus = 888 ORDER BY 1)");
  ASSERT_EQ(skipped.size(), 2u);
  for (const auto& s : skipped) EXPECT_NE(s.find(" 888 skipped manually"), std::string::npos) << s;
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.trns WHERE trnstatus = 888 AND attempt = 1"), 1)
      << "skip bumps the attempt";
  EXPECT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs"), 999);
  EXPECT_EQ(int_value(*conn, "SELECT errors FROM al.job_overview"), 0);
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(AdminActions, CancelMakesEverythingCancelledAndFencesOutTheWorker) {
  auto conn = test::connect(test::fresh_database("admin_cancel"));
  test::put_template(*conn, "letter");
  value(*conn, "INSERT INTO al.contact_preferences VALUES ('out@example.com', 'email', true, 'said no')");
  test::submit(*conn, "letter", R"([
    {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"},
                                 {"channel": "email", "address": "out@example.com"}]},
    {"name": "B", "recipients": [{"channel": "print", "address": "B\nStreet 1"}]},
    {"name": "C"}])");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  for (const char* stage : {"identifier", "assembler", "distributor"}) test::claim_ack_finish(*conn, stage);
  // Batching: two batches, and then at once the records (C has none: 999).
  ASSERT_EQ(int_value(*conn, "SELECT al.form_batches(10, 500)"), 1);
  ASSERT_EQ(int_value(*conn, "SELECT al.form_batches(10, 500)"), 0);
  const auto held = test::ack(*conn, "presenter", test::claim(*conn, "presenter"));
  ASSERT_EQ(held.size(), 2u);

  EXPECT_GT(int_value(*conn, "SELECT al.cancel_job(1)"), 0);

  EXPECT_EQ(test::finish(*conn, "presenter", held), 0) << "the presenter's finish is fenced out";
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT trnstatus FROM al.trns ORDER BY seq")), "888,888,999")
      << "records A and B are cancelled; C had no recipient and was complete before the cancel";
  const auto left = test::text_column(*conn, R"(
    SELECT 'JOBS ' || jobstatus FROM al.jobs
    UNION SELECT 'RCPS ' || rcpstatus FROM al.rcps
    UNION SELECT 'BCHS ' || bchstatus FROM al.bchs ORDER BY 1)");
  const std::vector<std::string> want = {"BCHS 888", "JOBS 888", "RCPS 388", "RCPS 888"};
  EXPECT_EQ(left, want) << "codes left (the opted-out recipient stays excluded)";
  EXPECT_EQ(int_value(*conn, "SELECT n_trns_cancelled FROM al.jobs"), 2);
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.bchs WHERE attempt = 0"), 0) << "cancel bumps attempts";
  EXPECT_EQ(value(*conn, "SELECT state FROM al.job_overview"), "cancelled");
  EXPECT_TRUE(test::claim(*conn, "presenter").empty());
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

TEST(AdminActions, HeldJobsItemsAreNotClaimedUntilReleased) {
  auto conn = test::connect(test::fresh_database("admin_hold"));
  test::put_template(*conn, "letter");
  const auto job = test::submit(*conn, "letter", R"([{"name": "A"}, {"name": "B"}])");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  int_value(*conn, "SELECT al.hold_job(" + std::to_string(job) + ")");
  EXPECT_TRUE(test::claim(*conn, "identifier").empty()) << "a held job is not identified";
  int_value(*conn, "SELECT al.release_job(" + std::to_string(job) + ")");
  test::claim_ack_finish(*conn, "identifier");

  int_value(*conn, "SELECT al.hold_job(" + std::to_string(job) + ")");
  EXPECT_TRUE(test::claim(*conn, "assembler").empty()) << "a held job's records are not claimed";
  EXPECT_EQ(value(*conn, "SELECT state FROM al.job_overview"), "on hold");

  int_value(*conn, "SELECT al.release_job(" + std::to_string(job) + ")");
  EXPECT_EQ(test::claim(*conn, "assembler").size(), 2u);
}

TEST(AdminActions, JobInsertedOnHoldWaitsUntilReleased) {
  auto conn = test::connect(test::fresh_database("admin_insert_hold"));
  test::put_template(*conn, "letter");
  value(*conn, R"(INSERT INTO al.jobs (template, records) VALUES ('letter', '[{"name": "A"}]'))");
  EXPECT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs"), 0);
  EXPECT_EQ(int_value(*conn, "SELECT al.receive_jobs(10)"), 0);
  int_value(*conn, "SELECT al.release_job(1)");
  EXPECT_EQ(int_value(*conn, "SELECT al.receive_jobs(10)"), 1);
  EXPECT_EQ(int_value(*conn, "SELECT jobstatus FROM al.jobs"), 111);
}

}  // namespace
}  // namespace al
