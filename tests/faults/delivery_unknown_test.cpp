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
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "closed (automatically)")
      << "every e-mail sent, none failed: the job closes by itself";
}

// The other half of fault 6: only the database connection is lost between
// "sent" and "recorded" (a PostgreSQL restart or a network cut), the
// publisher lives on. It still knows what the server said, so after
// reconnecting it records those outcomes: no "outcome unknown", no manual
// step, and still one message per recipient.
TEST(DeliveryOutcomeUnknown, ConnectionLostAfterSendingRecordsTheKnownOutcomesOnReconnect) {
  const std::string url = al::test::fresh_database("faults_known_outcome");
  const std::string domain = f::unique("known") + ".example";
  al::test::LineProcesses line("faults_known_outcome", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log", 300);  // 300 ms per message
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_STAGES_PUBLISHER_TIMEOUT_S", "30");  // the slow sink must not look like a dead publisher
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  f::start_line(line);
  const std::string job = f::submit(url, f::email_records(8, domain));

  // The intents of the chunk are committed and the messages are on their way.
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, "SELECT count(*) FROM al.deliveries WHERE state = 'intent'") != "0"; }, 30))
      << line.log_tail();
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND application_name LIKE 'publisher%') t"),
            "1");

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "closed (automatically)")
      << "every e-mail sent, none failed: the job closes by itself";
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps WHERE job_id = " + job + " AND rcpstatus = 641"), "0");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.deliveries WHERE state = 'sent'"), "8");
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 8u);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
  EXPECT_NE(al::test::run_command("grep -h 'outcomes written after reconnecting' '" + line.dir() + "'/logs/al-publisher*"),
            "")
      << "the publisher should say it wrote what it knew";
}
