// A record distributed again (attempt > 0, after alctl retry or a timeout's
// requeue) gets its recipients afresh: the unbatched ones an earlier
// distribution left are removed, not delivered beside the new ones. A record
// on its first attempt skips that clean-up (it can have no recipients yet),
// so this is the test that keeps the clean-up honest.
#include <gtest/gtest.h>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

TEST(Redistribution, RetriedRecordLosesItsLeftoverRecipientsAndIsDeliveredOnce) {
  const std::string url = al::test::fresh_database("faults_redistribution");
  const std::string domain = f::unique("redistribution") + ".example";
  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  constexpr int records = 3;
  f::put_letter_template(url);
  al::test::LineProcesses line("faults_redistribution", url);
  f::tune_for_faults(line);
  for (const char* program : {"al-scheduler", "al-identifier", "al-assembler"}) line.start(program);
  const std::string job = f::submit(url, f::email_records(records, domain));
  ASSERT_TRUE(f::wait_until(
      [&] {
        return query_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job + " AND trnstatus = 311") ==
               std::to_string(records);
      },
      30))
      << line.log_tail();
  ASSERT_TRUE(line.stop_all());

  // The first record fails its distribution, with a recipient of an earlier
  // distribution still unbatched at 401; then the job is retried.
  const std::string trn = query_value(url, "SELECT min(trn_id) FROM al.trns WHERE job_id = " + job);
  ASSERT_EQ(query_value(url, "SELECT id FROM al.claim('distributor', 1, 'gone@test:1')"), trn);
  ASSERT_EQ(query_value(url, "SELECT count(*) FROM al.ack('distributor', '{" + trn + "}', '{0}', 'gone@test:1')"), "1");
  ASSERT_EQ(query_value(url, "SELECT al.finish('distributor', '{" + trn + "}', '{0}', '{f}', '{\"lost its disk\"}')"),
            "1");
  query_value(url, "INSERT INTO al.rcps (job_id, trn_id, channel, address, role) VALUES (" + job + ", " + trn +
                       ", 'email', 'leftover@" + domain + "', 'client') RETURNING 1");
  ASSERT_EQ(query_value(url, "SELECT al.retry_job(" + job + ")"), "1");
  ASSERT_EQ(query_value(url, "SELECT trnstatus || '/' || attempt FROM al.trns WHERE trn_id = " + trn), "311/1");

  al::test::LineProcesses rest("faults_redistribution_rest", url);
  f::tune_for_faults(rest);
  f::start_line(rest);
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << rest.log_tail();

  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps WHERE job_id = " + job), std::to_string(records));
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps WHERE address LIKE 'leftover@%'"), "0");
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job),
            std::to_string(records));
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.count("leftover@" + domain), 0u) << "the leftover recipient must not be delivered";
  EXPECT_EQ(static_cast<int>(counts.size()), records);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
}
