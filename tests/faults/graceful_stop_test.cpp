// Fault 9: SIGTERM to every process in the middle of a job: each exits 0
// within its grace period, nothing is left at x21/x31, and a restarted line
// completes the job with every message sent once.
#include <gtest/gtest.h>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

TEST(GracefulStop, SigtermToEveryProcessMidJobExitsZeroAndLeavesNothingInFlight) {
  const std::string url = al::test::fresh_database("faults_sigterm");
  const std::string domain = f::unique("sigterm") + ".example";
  al::test::LineProcesses line("faults_sigterm", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log", 150);
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  f::start_line(line);
  const std::string job = f::submit(url, f::email_records(40, domain));

  ASSERT_TRUE(f::wait_until([&] { return !f::mails(maildir, domain).empty(); }, 30)) << line.log_tail();
  const std::string status_at_stop = query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job);
  ASSERT_NE(status_at_stop, "999");
  const auto stopping = std::chrono::steady_clock::now();
  // Grace: the stage timeout (3 s) for a worker's message in hand, plus slack.
  const bool clean = line.stop_all(8);
  const double took = f::seconds_since(stopping);
  EXPECT_TRUE(clean) << "a process did not exit 0 within the grace period\n" << line.log_tail(30);
  std::printf("[ figures  ] SIGTERM to all 8 processes at job %s: all exited in %.2f s\n", status_at_stop.c_str(), took);
  EXPECT_EQ(f::in_flight(url, job), "0")
      << query_value(url, "SELECT string_agg(object || ' ' || code || ': ' || count, ', ') FROM al.status_board "
                          "WHERE code % 100 IN (21, 31)");
  const std::size_t sent_at_stop = f::mails(maildir, domain).size();

  const auto restarted = std::chrono::steady_clock::now();
  f::start_line(line);
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  std::printf("[ figures  ] %zu of 40 sent before the stop; restart -> 999 in %.2f s\n", sent_at_stop,
              f::seconds_since(restarted));
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job), "40");
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 40u);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt;
  EXPECT_TRUE(line.stop_all(8)) << line.log_tail(30);
}
