// Fencing and timeouts: every worker write is fenced by (id, expected status,
// attempt), so a worker presumed dead cannot overwrite newer state; stale items
// go back to ready with attempt + 1, and to x41 after max_attempts
// acknowledged tries.
#include <string>

#include <gtest/gtest.h>

#include "db/line_driver.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::int_value;
using test::value;

// A job identified into `records` valid records, waiting at TRNS 211.
std::unique_ptr<pqxx::connection> job_at_assembly(const std::string& db, int records) {
  auto conn = test::connect(test::fresh_database(db));
  test::put_template(*conn, "letter");
  std::string json = "[";
  for (int i = 1; i <= records; ++i) json += std::string(i > 1 ? "," : "") + R"({"name": "N)" + std::to_string(i) + "\"}";
  test::submit(*conn, "letter", json + "]");
  int_value(*conn, "SELECT al.receive_jobs(10)");
  test::claim_ack_finish(*conn, "identifier");
  return conn;
}

std::string trn_state(pqxx::connection& conn, std::int64_t trn) {
  return value(conn, "SELECT trnstatus || ' attempt ' || attempt || ' tries ' || tries FROM al.trns WHERE trn_id = " +
                         std::to_string(trn));
}

TEST(Fencing, FinishWithAStaleAttemptChangesNothing) {
  auto conn = job_at_assembly("fence_finish", 1);
  const auto first = test::ack(*conn, "assembler", test::claim(*conn, "assembler"));
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(int_value(*conn, "SELECT al.requeue_stale('assembler', 0, 5)"), 1);
  const auto second = test::ack(*conn, "assembler", test::claim(*conn, "assembler"));
  ASSERT_EQ(second.size(), 1u);
  ASSERT_EQ(second[0].attempt, first[0].attempt + 1);

  EXPECT_EQ(test::finish(*conn, "assembler", first), 0) << "rows written by the stale worker";
  EXPECT_EQ(trn_state(*conn, first[0].id), "231 attempt 1 tries 2");
  EXPECT_EQ(test::finish(*conn, "assembler", first, {first[0].id}), 0) << "a stale failure is fenced out too";
  EXPECT_EQ(test::finish(*conn, "assembler", second), 1) << "the current worker still can";
}

TEST(Fencing, AckWithAWrongAttemptAcknowledgesNothing) {
  auto conn = job_at_assembly("fence_ack", 1);
  auto claimed = test::claim(*conn, "assembler");
  ASSERT_EQ(claimed.size(), 1u);
  auto wrong = claimed;
  wrong[0].attempt += 7;

  EXPECT_TRUE(test::ack(*conn, "assembler", wrong).empty());
  EXPECT_EQ(trn_state(*conn, claimed[0].id), "221 attempt 0 tries 0");
  EXPECT_TRUE(test::ack(*conn, "presenter", claimed).empty()) << "ack for another stage";
  EXPECT_EQ(test::ack(*conn, "assembler", claimed).size(), 1u);
}

TEST(Fencing, RequeueStaleSendsScheduledAndProcessingItemsBackToReady) {
  struct Case {
    std::string name;
    bool acknowledge;
    std::string want;  // after the requeue
  };
  const Case cases[] = {{"fence_stale_x21", false, "211 attempt 1 tries 0"},
                        {"fence_stale_x31", true, "211 attempt 1 tries 1"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto conn = job_at_assembly(c.name, 1);
    auto items = test::claim(*conn, "assembler");
    if (c.acknowledge) items = test::ack(*conn, "assembler", items);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(int_value(*conn, "SELECT al.requeue_stale('assembler', 60, 5)"), 0) << "not stale yet";

    EXPECT_EQ(int_value(*conn, "SELECT al.requeue_stale('assembler', 0, 5)"), 1);
    EXPECT_EQ(trn_state(*conn, items[0].id), c.want);
    EXPECT_EQ(value(*conn, "SELECT coalesce(worker, 'none') FROM al.trns"), "none");
    EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
  }
}

TEST(Fencing, ItemIsQuarantinedAfterMaxAttemptsAcknowledgedTimeouts) {
  auto conn = job_at_assembly("fence_quarantine", 1);
  const int max_attempts = 3;
  // Timeouts of ids never acknowledged do not count.
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(test::claim(*conn, "assembler").size(), 1u);
    ASSERT_EQ(int_value(*conn, "SELECT al.requeue_stale('assembler', 0, 3)"), 1);
  }
  EXPECT_EQ(value(*conn, "SELECT trnstatus || ' tries ' || tries FROM al.trns"), "211 tries 0");

  for (int round = 1; round <= max_attempts; ++round) {
    ASSERT_EQ(test::ack(*conn, "assembler", test::claim(*conn, "assembler")).size(), 1u) << "round " << round;
    ASSERT_EQ(int_value(*conn, "SELECT al.requeue_stale('assembler', 0, 3)"), 1);
    const int want = round < max_attempts ? 211 : 241;
    EXPECT_EQ(int_value(*conn, "SELECT trnstatus FROM al.trns"), want) << "after acknowledged timeout " << round;
  }
  const auto error = value(*conn, "SELECT error FROM al.trns");
  EXPECT_NE(error.find("quarantined"), std::string::npos) << "error: got \"" << error << "\", want it to say quarantined";
  EXPECT_EQ(int_value(*conn, "SELECT n_trns_failed FROM al.jobs"), 1);
  EXPECT_TRUE(test::claim(*conn, "assembler").empty()) << "a quarantined item is not claimed";
}

TEST(Fencing, RequeueWorkerRequeuesOnlyThatWorkersItems) {
  auto conn = job_at_assembly("fence_requeue_worker", 3);
  const auto dead = test::claim(*conn, "assembler", "w-dead", 2);
  const auto alive = test::claim(*conn, "assembler", "w-alive", 1);
  ASSERT_EQ(dead.size(), 2u);
  ASSERT_EQ(alive.size(), 1u);
  test::ack(*conn, "assembler", {dead[0]}, "w-dead");

  EXPECT_EQ(int_value(*conn, "SELECT al.requeue_worker('w-dead', 5)"), 2);

  EXPECT_EQ(trn_state(*conn, dead[0].id), "211 attempt 1 tries 1");
  EXPECT_EQ(trn_state(*conn, dead[1].id), "211 attempt 1 tries 0");
  EXPECT_EQ(trn_state(*conn, alive[0].id), "221 attempt 0 tries 0");
  EXPECT_EQ(value(*conn, "SELECT worker FROM al.trns WHERE trn_id = " + std::to_string(alive[0].id)), "w-alive");
  EXPECT_EQ(test::counter_mismatches(*conn), std::vector<std::string>{});
}

}  // namespace
TEST(Fencing, SuspectIsClaimedAloneThenTheRestInOneMessage) {
  auto conn = job_at_assembly("fence_suspect_alone", 5);
  const auto first = test::ack(*conn, "assembler", test::claim(*conn, "assembler", "w-dead", 5), "w-dead");
  ASSERT_EQ(first.size(), 5u);
  ASSERT_EQ(int_value(*conn, "SELECT al.requeue_worker('w-dead', 5)"), 5);

  // Every one of the five was held by the dead worker: each goes out alone.
  for (int i = 0; i < 5; ++i) {
    const auto claimed = test::claim(*conn, "assembler", "w-new", 100);
    ASSERT_EQ(claimed.size(), 1u) << "claim " << i << ": a suspect must travel alone";
    EXPECT_EQ(claimed[0].id, first[static_cast<std::size_t>(i)].id) << "suspects in id order";
  }
  EXPECT_TRUE(test::claim(*conn, "assembler", "w-new", 100).empty());
}

TEST(Fencing, TriesCountOneStageOnly) {
  auto conn = job_at_assembly("fence_tries_per_stage", 2);
  auto items = test::ack(*conn, "assembler", test::claim(*conn, "assembler"));
  ASSERT_EQ(items.size(), 2u);
  ASSERT_EQ(int_value(*conn, "SELECT al.requeue_stale('assembler', 0, 5)"), 2);
  items = test::ack(*conn, "assembler", test::claim(*conn, "assembler"));
  ASSERT_EQ(items.size(), 1u) << "suspects travel alone";
  EXPECT_EQ(trn_state(*conn, items[0].id), "231 attempt 1 tries 2");
  EXPECT_EQ(test::finish(*conn, "assembler", items), 1);
  EXPECT_EQ(value(*conn, "SELECT tries FROM al.trns WHERE trn_id = " + std::to_string(items[0].id)), "0")
      << "a finished stage leaves the next one all of its max_attempts";
}

}  // namespace al
