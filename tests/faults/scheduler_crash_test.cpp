// Faults 2 and 3: kill -9 of the scheduler mid-job (a restarted one resumes
// from the database alone), and a hot standby that takes over within 10 s
// while never two schedulers dispatch (one holder of the advisory lock).
//
// A private SMTP sink answers each message after 150 ms, so publishing a
// 40-recipient job takes seconds and the kill lands in the middle of it.
#include <csignal>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

namespace {

// Granted advisory locks in the job's database: the scheduler's leader lock
// is the only advisory lock the line takes.
std::string leader_locks(const std::string& url) {
  return query_value(url, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                          "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()");
}

void expect_all_delivered_once(const std::string& url, const std::string& job, const std::string& maildir,
                               const std::string& domain, int n) {
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job),
            std::to_string(n));
  EXPECT_EQ(query_value(url, "SELECT errors FROM al.job_overview WHERE job_id = " + job), "0");
  EXPECT_EQ(f::in_flight(url, job), "0");
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(static_cast<int>(counts.size()), n) << "recipients with a message; want every one";
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
}

}  // namespace

TEST(SchedulerCrash, RestartedSchedulerResumesFromTheDatabaseAlone) {
  const std::string url = al::test::fresh_database("faults_kill_scheduler");
  const std::string domain = f::unique("kill-scheduler") + ".example";
  al::test::LineProcesses line("faults_kill_scheduler", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log", 150);
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  f::start_line(line);
  const std::string job = f::submit(url, f::email_records(40, domain));

  ASSERT_TRUE(f::wait_until([&] { return !f::mails(maildir, domain).empty(); }, 30)) << line.log_tail();
  line.kill("al-scheduler", SIGKILL);
  const std::string status_at_kill = query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job);
  const std::size_t sent_at_kill = f::mails(maildir, domain).size();
  ASSERT_NE(status_at_kill, "999") << "the kill should land mid-job";
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the workers notice the silence
  const auto restarted = std::chrono::steady_clock::now();
  line.start("al-scheduler");

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  std::printf("[ figures  ] scheduler kill -9 at job %s (%zu of 40 sent): restart -> 999 in %.2f s\n",
              status_at_kill.c_str(), sent_at_kill, f::seconds_since(restarted));
  expect_all_delivered_once(url, job, maildir, domain, 40);
  EXPECT_EQ(leader_locks(url), "1");
}

TEST(SchedulerCrash, HotStandbyTakesOverWithinTenSecondsAndNeverTwoLead) {
  const std::string url = al::test::fresh_database("faults_standby");
  const std::string domain = f::unique("standby") + ".example";
  al::test::LineProcesses line("faults_standby", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log", 150);
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));

  // Process numbers name the logs: al-scheduler.1.log is the first, .2 the standby.
  const pid_t active = line.start("al-scheduler");
  const std::string active_log = line.dir() + "/logs/al-scheduler.1.log";
  const std::string standby_log = line.dir() + "/logs/al-scheduler.2.log";
  ASSERT_TRUE(f::wait_until([&] { return f::read_text(active_log).find("scheduler: leader;") != std::string::npos; }, 20))
      << line.log_tail();
  line.start("al-scheduler");
  ASSERT_TRUE(f::wait_until([&] { return f::read_text(standby_log).find("standby") != std::string::npos; }, 20))
      << line.log_tail();
  EXPECT_EQ(f::read_text(standby_log).find("scheduler: leader;"), std::string::npos);
  EXPECT_EQ(leader_locks(url), "1");
  for (const auto& program : f::worker_programs()) line.start(program);

  const std::string job = f::submit(url, f::email_records(40, domain));
  ASSERT_TRUE(f::wait_until([&] { return !f::mails(maildir, domain).empty(); }, 30)) << line.log_tail();
  EXPECT_EQ(f::read_text(standby_log).find("scheduler: leader;"), std::string::npos)
      << "the standby must not lead while the active scheduler lives";
  EXPECT_EQ(leader_locks(url), "1");

  const std::string status_at_kill = query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job);
  ASSERT_NE(status_at_kill, "999") << "the kill should land mid-job";
  ::kill(active, SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  int most_locks = 0;
  const bool took_over = f::wait_until(
      [&] {
        most_locks = std::max(most_locks, std::stoi(leader_locks(url)));
        return f::read_text(standby_log).find("scheduler: leader;") != std::string::npos;
      },
      10);
  const double takeover_s = f::seconds_since(killed);
  ASSERT_TRUE(took_over) << "the standby did not take over within 10 s\n" << line.log_tail(30);
  std::printf("[ figures  ] standby scheduler took over %.2f s after kill -9 of the active one\n", takeover_s);
  EXPECT_LE(most_locks, 1) << "two schedulers held the leader lock at once";

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  expect_all_delivered_once(url, job, maildir, domain, 40);
  EXPECT_EQ(leader_locks(url), "1");
  // Every worker registered with the new leader (al.workers is its view).
  EXPECT_EQ(query_value(url, "SELECT count(DISTINCT stage) FROM al.workers"), "7");
}
