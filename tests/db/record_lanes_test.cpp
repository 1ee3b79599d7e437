// Record lanes (sql/031): al.trns.lane is generated from the status and is
// the only indexed column a record's status changes touch, so the changes
// that stay in one lane are written in place (HOT), and the claims and
// requeues find a stage's ready and in-flight records through the lane.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "assemblyline/database.hpp"
#include "db/line_driver.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::int_value;
using test::joined;
using test::value;

const char* const two_records = R"([
  {"name": "A", "recipients": [{"channel": "file", "address": "a.txt"}]},
  {"name": "B", "recipients": [{"channel": "file", "address": "b.txt"}]}])";

std::string lanes(pqxx::connection& conn) {
  return value(conn, "SELECT string_agg(coalesce(lane::text, '-'), ',' ORDER BY seq) FROM al.trns");
}

// Row versions of al.trns this transaction wrote so far, and how many of them
// in place (HOT): this connection's statistics not yet reported included.
std::pair<int, int> trns_updates(pqxx::work& tx) {
  const auto row = tx.exec(
      "SELECT u[1], u[2] FROM (SELECT coalesce((SELECT array[n_tup_upd, n_tup_hot_upd] "
      "FROM pg_stat_xact_user_tables WHERE relid = 'al.trns'::regclass), '{0,0}')) AS x(u)")[0];
  return {row[0].as<int>(), row[1].as<int>()};
}

// A fresh database with one job of `records`, identified: its records at 211 (or 241).
std::unique_ptr<pqxx::connection> identified_job(const std::string& name, const std::string& records) {
  auto conn = test::connect(test::fresh_database(name));
  test::put_template(*conn, "letter");
  test::submit(*conn, "letter", records);
  int_value(*conn, "SELECT al.receive_jobs(10)");
  test::claim_ack_finish(*conn, "identifier");
  return conn;
}

// al.ack of `claimed` in one statement: (row versions of al.trns written, of
// them in place).
std::pair<int, int> acknowledge_counting_updates(pqxx::connection& conn, const std::vector<test::Claimed>& claimed) {
  test::Ids ids;
  std::vector<int> attempts;
  for (const auto& c : claimed) {
    ids.push_back(c.id);
    attempts.push_back(c.attempt);
  }
  pqxx::work tx(conn);
  const auto before = trns_updates(tx);
  tx.exec_params("SELECT * FROM al.ack('assembler', $1::bigint[], $2::int[], 'test')", test::array_literal(ids),
                 array_literal(attempts));
  const auto after = trns_updates(tx);
  tx.commit();
  return {after.first - before.first, after.second - before.second};
}

TEST(RecordLanes, EachStateOfARecordNamesItsQueue) {
  auto conn = identified_job("lanes_states", two_records);
  EXPECT_EQ(lanes(*conn), "21,21") << "ready for the assembler";

  const auto claimed = test::claim(*conn, "assembler");
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(lanes(*conn), "23,23") << "sent to an assembler";
  test::ack(*conn, "assembler", claimed);
  EXPECT_EQ(lanes(*conn), "23,23") << "acknowledged: still in flight";

  // A timeout puts an acknowledged record back as a suspect, claimed alone.
  value(*conn, "UPDATE al.trns SET status_changed_at = now() - interval '1 hour'");
  EXPECT_EQ(int_value(*conn, "SELECT al.requeue_stale('assembler', 60, 5)"), 2);
  EXPECT_EQ(lanes(*conn), "22,22") << "ready again after a try: suspects";
  EXPECT_EQ(test::claim(*conn, "assembler").size(), 1u) << "a suspect is claimed alone";
  EXPECT_EQ(lanes(*conn), "23,22");
}

TEST(RecordLanes, GaugesAndPassThroughFindARecordStageThroughItsLanes) {
  auto conn = identified_job("lanes_gauges", R"([{"name": "A"}, {"name": "B"}, {"x": 1}])");
  const auto gauges = [&] {
    return value(*conn, "SELECT string_agg(state || '=' || value, ' ' ORDER BY state) "
                        "FROM al.stage_gauges('assembler') WHERE state > 0 AND value > 0");
  };
  EXPECT_EQ(gauges(), "11=2 41=1") << "two ready, one invalid record";
  const auto claimed = test::claim(*conn, "assembler", "test", 1);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(gauges(), "11=1 21=1 41=1");
  test::ack(*conn, "assembler", claimed);
  EXPECT_EQ(gauges(), "11=1 31=1 41=1");

  // A disabled stage's ready records are passed through by the scheduler.
  EXPECT_EQ(int_value(*conn, "SELECT al.pass_through('assembler', 10)"), 1);
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT trnstatus FROM al.trns ORDER BY seq")), "231,301,241");
  EXPECT_EQ(gauges(), "31=1 41=1");
}

TEST(RecordLanes, AcknowledgingARecordWritesItInPlace) {
  auto conn = identified_job("lanes_hot", two_records);
  const auto claimed = test::claim(*conn, "assembler");
  ASSERT_EQ(claimed.size(), 2u);

  const auto [written, in_place] = acknowledge_counting_updates(*conn, claimed);
  EXPECT_EQ(written, 2) << "row versions written by the acknowledgement";
  EXPECT_EQ(in_place, 2) << "of them written in place (HOT)";

  test::finish(*conn, "assembler", claimed);
  test::run_line(*conn);
  EXPECT_EQ(joined(test::int_column(*conn, "SELECT trnstatus FROM al.trns ORDER BY seq")), "999,999");
  EXPECT_EQ(lanes(*conn), "-,-") << "a complete record is in no queue";
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

// Records written together lie together, and a worker updates them together:
// each page needs room for a second version of all its rows (sql/041), or
// the last rows' new versions move to another page, with new index entries.
// The claim is the first update after the insert, so no pruning is needed
// for its versions to fit (the ack's fit also depends on pruning, which
// another backend's snapshot can delay).
TEST(RecordLanes, ClaimingWholePagesOfRecordsKeepsEveryVersionOnItsPage) {
  std::string records = "[";
  for (int i = 1; i <= 300; ++i) {
    records += std::string(i > 1 ? "," : "") + R"({"name": "Recipient )" + std::to_string(i) +
               R"(", "balance": )" + std::to_string(i % 1000) + R"(, "zip": ")" + std::to_string(10000 + i * 7919 % 90000) +
               R"(", "recipients": [{"channel": "file", "address": "bench/0/)" + std::to_string(i) + R"(.html"}]})";
  }
  records += "]";
  auto conn = identified_job("lanes_pages", records);
  const char* const blocks = "SELECT string_agg(((ctid::text::point)[0])::int::text, ',' ORDER BY trn_id) FROM al.trns";
  const std::string before = value(*conn, blocks);
  EXPECT_GT(int_value(*conn, "SELECT count(DISTINCT (ctid::text::point)[0]) FROM al.trns"), 10)
      << "the records fill several pages";
  ASSERT_EQ(test::claim(*conn, "assembler").size(), 300u);
  EXPECT_EQ(value(*conn, blocks), before) << "every record's new version on the page of its old one";
}

TEST(RecordLanes, AFailedRecordIsFoundThroughItsError) {
  auto conn = test::connect(test::fresh_database("lanes_failed"));
  test::put_template(*conn, "letter");
  const auto job = test::submit(*conn, "letter", R"([{"name": "A"}, {"x": 1}])");
  test::run_line(*conn);
  EXPECT_EQ(value(*conn, "SELECT last_error FROM al.job_overview WHERE job_id = " + std::to_string(job)).empty(), false);
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.trns WHERE error IS NOT NULL AND trnstatus = 241"), 1);
}

}  // namespace
}  // namespace al
