// Fault 4: PostgreSQL restarted (pg_ctl restart -m fast) in the middle of a
// job: every process reconnects with backoff, none exits, the job completes.
//
// The test runs its own PostgreSQL server (tests/services/pg_private) so the
// restart does not disturb other test binaries that ctest runs in parallel.
#include <csignal>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "assemblyline/migrations.hpp"
#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Stops the private server however the test ends.
struct PrivateServer {
  std::string dir;
  ~PrivateServer() { (void)al::test::run_command(al::test::env("AL_TEST_PG_PRIVATE") + " stop '" + dir + "' 2>&1"); }
};

}  // namespace

TEST(DatabaseRestart, EveryProcessReconnectsAndTheJobCompletes) {
  al::test::LineProcesses line("faults_pg_restart", "");
  PrivateServer server{line.dir() + "/pg"};
  const std::string admin_url =
      trim(al::test::run_command(al::test::env("AL_TEST_PG_PRIVATE") + " start '" + server.dir + "' auto 2>>'" +
                                 line.dir() + "/logs/pg_private.log'"));
  ASSERT_EQ(admin_url.rfind("postgresql://", 0), 0u) << "pg_private start failed: " << admin_url
                                                     << f::read_text(line.dir() + "/logs/pg_private.log");
  {
    pqxx::connection admin(admin_url);
    pqxx::nontransaction nt(admin);
    nt.exec("CREATE DATABASE al_faults_pg_restart");
  }
  const std::string url = admin_url.substr(0, admin_url.rfind('/') + 1) + "al_faults_pg_restart";
  {
    pqxx::connection conn(url);
    al::migrate(conn);
  }

  const std::string domain = f::unique("pg-restart") + ".example";
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log", 100);
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_DATABASE_URL", url);
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  const auto pids = f::start_line(line);
  const std::string job = f::submit(url, f::email_records(40, domain));

  ASSERT_TRUE(f::wait_until([&] { return !f::mails(maildir, domain).empty(); }, 30)) << line.log_tail();
  const std::string status_at_restart = query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job);
  const auto restarted = std::chrono::steady_clock::now();
  const std::string out = al::test::run_command(al::test::env("AL_TEST_PG_PRIVATE") + " ctl '" + server.dir +
                                                "' -m fast -w restart 2>&1");
  std::printf("[ figures  ] pg_ctl restart -m fast took %.2f s (job at %s)\n", f::seconds_since(restarted),
              status_at_restart.c_str());
  ASSERT_NE(status_at_restart, "999") << "the restart should land mid-job";

  std::string status;
  f::wait_until([&] { return (status = query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job)) == "999"; }, 90);
  ASSERT_EQ(status, "999") << "pg_ctl: " << out << line.log_tail(30);
  std::printf("[ figures  ] database restart: restart -> job 999 in %.2f s\n", f::seconds_since(restarted));

  for (const auto& [program, pid] : pids) EXPECT_TRUE(f::running(pid)) << program << " exited after the restart";
  EXPECT_EQ(f::in_flight(url, job), "0");
  // At most once: a recipient whose outcome could not be recorded when the
  // server went away is "outcome unknown" (641), never sent twice; every
  // other recipient is delivered exactly once.
  const int delivered = std::stoi(query_value(url, "SELECT count(*) FROM al.rcps WHERE job_id = " + job + " AND rcpstatus = 999"));
  const int unknown = std::stoi(query_value(url, "SELECT count(*) FROM al.rcps WHERE job_id = " + job +
                                                 " AND rcpstatus = 641 AND post_error LIKE 'outcome unknown%'"));
  EXPECT_EQ(delivered + unknown, 40) << "every recipient delivered or (at most the chunk in flight) outcome unknown";
  EXPECT_LE(unknown, 20);
  const auto counts = f::mail_counts(maildir, domain);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
  EXPECT_GE(static_cast<int>(counts.size()), delivered);
  std::printf("[ figures  ] database restart: %d delivered, %d outcome unknown\n", delivered, unknown);
  EXPECT_TRUE(line.stop_all()) << "a process did not stop cleanly after the restart\n" << line.log_tail(30);
}
