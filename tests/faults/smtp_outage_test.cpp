// Fault 5: the SMTP server down for a while, then back (batches deferred with
// not_before and exponential backoff, then delivered once each); and a
// permanent 5xx refusal, which fails that recipient only with the reply.
#include <gtest/gtest.h>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

TEST(SmtpOutage, BatchesWaitWithBackoffAndDeliverOnceWhenTheServerIsBack) {
  const std::string url = al::test::fresh_database("faults_smtp_down");
  const std::string domain = f::unique("smtp-down") + ".example";
  al::test::LineProcesses line("faults_smtp_down", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();  // nothing listens there yet
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  f::start_line(line);
  const std::string job = f::submit(url, f::email_records(30, domain));

  const std::string deferred_sql = "SELECT count(*) FROM al.bchs WHERE job_id = " + job +
                                   " AND bchstatus = 611 AND not_before > now() AND error LIKE 'smtp:%will retry'";
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, deferred_sql) != "0"; }, 30)) << line.log_tail();
  const std::string state = query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job);
  EXPECT_TRUE(state == "waiting for continuation" || state == "in progress") << "got state '" << state << "'";
  // Let it fail a few times: the backoff grows.
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, "SELECT (max(tries) >= 3)::int FROM al.bchs WHERE job_id = " + job) == "1"; }, 30))
      << line.log_tail();
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps WHERE job_id = " + job + " AND rcpstatus NOT IN (411)"), "0")
      << "nothing may fail or be delivered while the server is down";
  // Intents exist for a moment while a publisher tries; once every batch is
  // back at 611 waiting (read in the same snapshot), none may stay behind.
  const std::string intents_at_rest =
      "SELECT CASE WHEN (SELECT count(*) FROM al.bchs WHERE job_id = " + job +
      "                  AND (bchstatus <> 611 OR not_before <= now())) = 0 "
      "THEN (SELECT count(*)::text FROM al.deliveries d JOIN al.rcps r USING (rcp_id) WHERE r.job_id = " + job +
      ") ELSE 'busy' END";
  std::string intents;
  ASSERT_TRUE(f::wait_until([&] { return (intents = query_value(url, intents_at_rest)) != "busy"; }, 30))
      << line.log_tail();
  EXPECT_EQ(intents, "0") << "no intent may stay behind for a message never handed over";
  const std::string waits = query_value(
      url, "SELECT string_agg(DISTINCT extract(epoch FROM not_before - status_changed_at)::int::text, ',') FROM al.bchs "
           "WHERE job_id = " + job + " AND not_before IS NOT NULL");

  const auto back = std::chrono::steady_clock::now();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log");
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  std::printf("[ figures  ] smtp outage: server back -> job 999 in %.2f s (backoff waits seen: %s s)\n",
              f::seconds_since(back), waits.c_str());
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job), "30");
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 30u);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
}

TEST(SmtpOutage, PermanentRefusalFailsThatRecipientOnlyWithTheServersReply) {
  const std::string url = al::test::fresh_database("faults_smtp_550");
  const std::string domain = f::unique("smtp-550") + ".example";
  al::test::LineProcesses line("faults_smtp_550", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log", 0, "reject");
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  f::start_line(line);
  auto records = f::email_records(12, domain);
  for (int i : {2, 7, 11}) records[i - 1]["recipients"][0]["address"] = "reject" + std::to_string(i) + "@" + domain;
  const std::string job = f::submit(url, records);

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  EXPECT_EQ(query_value(url, "SELECT string_agg(address, ',' ORDER BY rcp_id) FROM al.rcps WHERE job_id = " + job +
                             " AND rcpstatus = 641 AND post_error LIKE '%550%'"),
            "reject2@" + domain + ",reject7@" + domain + ",reject11@" + domain);
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps WHERE job_id = " + job + " AND rcpstatus = 999"), "9");
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "created with 3 errors");
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 9u);
  for (const auto& [rcpt, k] : counts) {
    EXPECT_EQ(k, 1) << rcpt;
    EXPECT_EQ(rcpt.rfind("reject", 0), std::string::npos) << rcpt << " was refused and must have no message";
  }
  std::printf("[ figures  ] smtp 550: post_error '%s'\n",
              query_value(url, "SELECT post_error FROM al.rcps WHERE job_id = " + job + " AND rcpstatus = 641 LIMIT 1").c_str());
}

// Seed serial-correspondence-de.txt: running the action again only considers
// recipients the e-mail has not been sent to yet. After three refusals the
// server accepts everyone; alctl retry sends exactly those three, and nobody
// gets a second copy.
TEST(SmtpOutage, RetryAfterRefusalsSendsOnlyToThoseNotYetSent) {
  const std::string url = al::test::fresh_database("faults_smtp_resend");
  const std::string domain = f::unique("smtp-resend") + ".example";
  al::test::LineProcesses line("faults_smtp_resend", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log", 0, "reject");
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  f::start_line(line);
  auto records = f::email_records(12, domain);
  for (int i : {2, 7, 11}) records[i - 1]["recipients"][0]["address"] = "reject" + std::to_string(i) + "@" + domain;
  const std::string job = f::submit(url, records);
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  ASSERT_EQ(f::mail_counts(maildir, domain).size(), 9u);

  sink.reset();  // the same port, now accepting everyone
  sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp2.log");
  const std::string alctl = "AL_DATABASE_URL='" + url + "' " + AL_BIN_DIR + "/alctl";
  EXPECT_EQ(al::test::run_command(alctl + " retry " + job + " 2>&1"), "job " + job + ": 3 items put back to ready\n");
  EXPECT_EQ(query_value(url, "SELECT changed_by || ' ' || note FROM al.status_history WHERE object = 'JOBS' "
                             "AND id = " + job + " AND note LIKE 'alctl %'"),
            "alctl alctl retry: 3 items")
      << "the job's history names the action and its items";
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job,
                                     "closed (automatically)", 60),
            "closed (automatically)")
      << line.log_tail(30);
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 12u);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.deliveries d JOIN al.rcps r USING (rcp_id) "
                             "WHERE r.job_id = " + job + " AND d.state = 'sent'"),
            "12");
}
