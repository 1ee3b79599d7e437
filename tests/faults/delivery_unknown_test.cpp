// Fault 6: a crash between "sent over SMTP" and "recorded as sent". Simulated
// by the trace such a crash leaves: an al.deliveries 'intent' row without an
// outcome. The recipient becomes 641 "outcome unknown" and is not re-sent —
// not by the line, not by a plain retry — only by alctl retry --unknown
// (al.retry_job(job, NULL, true)), and then exactly once.
#include <gtest/gtest.h>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

TEST(DeliveryOutcomeUnknown, IntentWithoutOutcomeIsNeverResentAutomatically) {
  const std::string url = al::test::fresh_database("faults_unknown");
  const std::string domain = f::unique("unknown") + ".example";
  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  f::put_letter_template(url);
  al::test::LineProcesses line("faults_unknown", url);
  f::tune_for_faults(line);
  f::start_line(line, {"al-publisher"});
  const std::string job = f::submit(url, f::email_records(10, domain));
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, "SELECT count(*) FROM al.bchs WHERE job_id = " + job + " AND bchstatus = 611") == "1"; }, 30))
      << line.log_tail();

  const std::string victim = "p3@" + domain;
  const std::string rcp = query_value(url, "SELECT rcp_id FROM al.rcps WHERE address = '" + victim + "'");
  query_value(url, "INSERT INTO al.deliveries (rcp_id, attempt, state) VALUES (" + rcp + ", 0, 'intent') RETURNING 1");
  line.start("al-publisher");

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  EXPECT_EQ(query_value(url, "SELECT rcpstatus FROM al.rcps WHERE rcp_id = " + rcp), "641");
  const std::string post_error = query_value(url, "SELECT post_error FROM al.rcps WHERE rcp_id = " + rcp);
  EXPECT_EQ(post_error.rfind("outcome unknown", 0), 0u) << "got post_error '" << post_error << "'";
  auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.count(victim), 0u) << victim << " must not be re-sent automatically";
  EXPECT_EQ(counts.size(), 9u);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt;
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "created with 1 errors");

  // A plain retry leaves it alone.
  EXPECT_EQ(query_value(url, "SELECT al.retry_job(" + job + ")"), "0");
  EXPECT_EQ(query_value(url, "SELECT rcpstatus FROM al.rcps WHERE rcp_id = " + rcp), "641");

  // The operator's word: retry --unknown sends it, once.
  EXPECT_EQ(query_value(url, "SELECT al.retry_job(" + job + ", NULL, true)"), "1");
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT rcpstatus FROM al.rcps WHERE rcp_id = " + rcp, "999", 60), "999")
      << line.log_tail(30);
  EXPECT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 30), "999");
  counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts[victim], 1);
  EXPECT_EQ(counts.size(), 10u);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt;
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "sent");
}
