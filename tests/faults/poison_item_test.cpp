// Fault 8: a poison item that crashes its worker every time is quarantined at
// x41 after max_attempts, with an error saying so, and takes none of its
// batch-mates with it (suspects are claimed one per message, sql/008).
//
// The crash is the worker failpoint AL_FAILPOINT_KILL_ON_ITEM: the assembler
// SIGKILLs itself whenever it has acknowledged the poison TRNS. The test plays
// systemd's Restart=always and starts a new assembler each time one dies.
#include <gtest/gtest.h>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

TEST(PoisonItem, IsQuarantinedAfterMaxAttemptsAndItsBatchMatesComplete) {
  const std::string url = al::test::fresh_database("faults_poison_item");
  const std::string domain = f::unique("poison") + ".example";
  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  constexpr int records = 30;
  constexpr int max_attempts = 3;
  f::put_letter_template(url);
  al::test::LineProcesses line("faults_poison_item", url);
  f::tune_for_faults(line, 10, 10);
  line.set("AL_STAGES_ASSEMBLER_MAX_ATTEMPTS", std::to_string(max_attempts));
  f::start_line(line, {"al-assembler"});
  const std::string job = f::submit(url, f::email_records(records, domain));
  ASSERT_TRUE(f::wait_until(
      [&] { return query_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job) == std::to_string(records); },
      20))
      << line.log_tail();

  // The third record of the first batch of ten is the poison.
  const std::string poison = query_value(url, "SELECT min(trn_id) + 2 FROM al.trns WHERE job_id = " + job);
  line.set("AL_FAILPOINT_KILL_ON_ITEM", "assembler:" + poison);

  int crashes = 0;
  pid_t assembler = line.start("al-assembler");
  const bool done = f::wait_until(
      [&] {
        if (!f::running(assembler)) {
          ++crashes;
          if (crashes > 3 * max_attempts) return true;  // not quarantined: give up and let the checks fail
          assembler = line.start("al-assembler");
        }
        return query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job) == "999";
      },
      90);
  ASSERT_TRUE(done) << line.log_tail();

  EXPECT_EQ(crashes, max_attempts) << "the poison item alone should kill the assembler, once per attempt";
  EXPECT_EQ(query_value(url, "SELECT trnstatus FROM al.trns WHERE trn_id = " + poison), "241");
  const std::string error = query_value(url, "SELECT error FROM al.trns WHERE trn_id = " + poison);
  EXPECT_NE(error.find("quarantined after " + std::to_string(max_attempts) + " attempts"), std::string::npos)
      << error;
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job + " AND trnstatus <> 241"),
            std::to_string(records - 1));
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job + " AND trnstatus = 241"), "1")
      << "batch-mates of the poison item must not be quarantined with it";
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job),
            std::to_string(records - 1));
  EXPECT_EQ(f::in_flight(url, job), "0");
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(static_cast<int>(counts.size()), records - 1);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
}
