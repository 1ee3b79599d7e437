// Throttled e-mail (seed serial-correspondence-de.txt, "Warten auf
// Fortsetzung"): smtp.rate_per_minute holds for all publisher processes
// together. Two publishers, a budget of 60 a minute, 66 messages: 60 go at
// once, the job says "waiting for continuation", and the last six follow one
// a second, by themselves, each exactly once.
#include <gtest/gtest.h>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

TEST(SmtpRate, BudgetIsSharedByAllPublishersAndTheJobWaitsForContinuation) {
  const std::string url = al::test::fresh_database("faults_smtp_rate");
  const std::string domain = f::unique("rate") + ".example";
  al::test::LineProcesses line("faults_smtp_rate", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log");
  f::put_letter_template(url);
  f::tune_for_faults(line, 11, 11);
  line.set("AL_STAGES_PUBLISHER_TIMEOUT_S", "30");
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  line.set("AL_SMTP_RATE_PER_MINUTE", "60");
  f::start_line(line);
  line.start("al-publisher");  // a second one: the budget is the database's, not a process's
  const std::string job = f::submit(url, f::email_records(66, domain));

  ASSERT_TRUE(f::wait_until(
      [&] { return query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job) == "waiting for continuation"; },
      30))
      << line.log_tail();
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "closed (automatically)");
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 66u);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
  // A full bucket lets 60 go at once; the other six need a token each, one a second.
  const std::string spread = query_value(
      url, "SELECT extract(epoch FROM max(finished_at) - min(finished_at))::numeric(6,1) FROM al.deliveries");
  EXPECT_GE(std::stod(spread), 4.5) << "66 messages at 60 a minute cannot all leave within " << spread << " s";
  EXPECT_LE(std::stoi(query_value(url, "SELECT count(*) FROM al.deliveries WHERE finished_at < "
                                       "(SELECT min(finished_at) FROM al.deliveries) + interval '2 s'")),
            62)
      << "more than a minute's budget left in the first two seconds";
  EXPECT_EQ(query_value(url, "SELECT count(DISTINCT h.changed_by) FROM al.status_history h JOIN al.bchs b ON b.bch_id = h.id "
                             "WHERE h.object = 'BCHS' AND h.new_status = 631 AND b.job_id = " + job),
            "2")
      << "both publishers should have sent part of the job";
}
