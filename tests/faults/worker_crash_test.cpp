// Fault 1: kill -9 of a worker in the middle of a batch, and fencing — a
// worker presumed dead cannot overwrite newer state.
//
// "In the middle" is made deterministic with a row lock the test holds: the
// worker blocks inside its work transaction (items acknowledged at x31, or
// some messages of a batch already sent) and is killed there.
#include <csignal>
#include <memory>

#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/config.hpp"
#include "assemblyline/stage.hpp"
#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

namespace {

// A backend of `application_prefix` waiting for a lock (the test's).
bool worker_blocked(const std::string& url, const std::string& application_prefix) {
  return query_value(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND application_name LIKE '" + application_prefix + "%' AND wait_event_type = 'Lock'") != "0";
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

TEST(WorkerCrash, AssemblerKilledWithItemsAcknowledgedComesBackAndCompletes) {
  const std::string url = al::test::fresh_database("faults_kill_assembler");
  const std::string domain = f::unique("kill-assembler") + ".example";
  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  f::put_letter_template(url);
  al::test::LineProcesses line("faults_kill_assembler", url);
  f::tune_for_faults(line);
  f::start_line(line, {"al-assembler"});
  const std::string job = f::submit(url, f::email_records(40, domain));
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job) == "40"; }, 20))
      << line.log_tail();

  // The first TRNS of the job gets a document row the test holds locked: the
  // assembler's upsert of its document blocks inside the work transaction.
  const std::string first = query_value(url, "SELECT min(trn_id) FROM al.trns WHERE job_id = " + job);
  query_value(url, "INSERT INTO al.documents (trn_id, html, sha256, bytes) VALUES (" + first + ", 'x', 'x', 1) RETURNING 1");
  pqxx::connection lock_conn(url);
  auto lock = std::make_unique<pqxx::work>(lock_conn);
  lock->exec("SELECT 1 FROM al.documents WHERE trn_id = " + first + " FOR UPDATE");

  line.start("al-assembler");
  ASSERT_TRUE(f::wait_until([&] { return worker_blocked(url, "assembler"); }, 20)) << line.log_tail();
  const std::string acked = query_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job + " AND trnstatus = 231");
  EXPECT_NE(acked, "0") << "the assembler should hold acknowledged items when it is killed";
  line.kill("al-assembler", SIGKILL);
  lock->abort();
  lock.reset();
  const auto restarted = std::chrono::steady_clock::now();
  line.start("al-assembler");

  const std::string status =
      al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60);
  ASSERT_EQ(status, "999") << line.log_tail(30);
  std::printf("[ figures  ] assembler kill -9 with %s items at 231: restart -> 999 in %.2f s\n", acked.c_str(),
              f::seconds_since(restarted));
  EXPECT_GE(std::stoi(query_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job + " AND attempt > 0")),
            std::stoi(acked))
      << "the killed worker's items should have come back with attempt + 1";
  expect_all_delivered_once(url, job, maildir, domain, 40);
}

TEST(WorkerCrash, PublisherKilledBetweenChunksSendsTheRestOnceAndNothingTwice) {
  const std::string url = al::test::fresh_database("faults_kill_publisher");
  const std::string domain = f::unique("kill-publisher") + ".example";
  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  f::put_letter_template(url);
  al::test::LineProcesses line("faults_kill_publisher", url);
  f::tune_for_faults(line, /*batch_size=*/30);
  f::start_line(line, {"al-publisher"});
  const std::string job = f::submit(url, f::email_records(60, domain));
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, "SELECT count(*) FROM al.bchs WHERE job_id = " + job + " AND bchstatus = 611") == "2"; }, 30))
      << line.log_tail();

  // The 25th recipient of each batch (in the publisher's order) gets a
  // delivery row the test holds locked: the publisher sends the first chunk
  // of 20, commits their outcome, and blocks writing the second chunk's intent.
  const std::string blockers = query_value(
      url, "SELECT string_agg(rcp_id::text, ',') FROM (SELECT rcp_id, row_number() OVER (PARTITION BY bch_id ORDER BY rcp_id) n "
           "FROM al.rcps WHERE job_id = " + job + ") r WHERE n = 25");
  query_value(url, "INSERT INTO al.deliveries (rcp_id, attempt, state, reply) SELECT unnest('{" + blockers +
                       "}'::bigint[]), 0, 'failed', 'test: placeholder' RETURNING 1");
  pqxx::connection lock_conn(url);
  auto lock = std::make_unique<pqxx::work>(lock_conn);
  lock->exec("SELECT 1 FROM al.deliveries WHERE rcp_id IN (" + blockers + ") FOR UPDATE");

  line.start("al-publisher");
  ASSERT_TRUE(f::wait_until([&] { return worker_blocked(url, "publisher"); }, 20)) << line.log_tail();
  EXPECT_EQ(f::mails(maildir, domain).size(), 20u) << "the first chunk should be out when the publisher is killed";
  line.kill("al-publisher", SIGKILL);
  lock->abort();
  lock.reset();
  line.start("al-publisher");

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.deliveries d JOIN al.rcps r USING (rcp_id) "
                             "WHERE r.job_id = " + job + " AND d.state = 'sent'"),
            "60");
  expect_all_delivered_once(url, job, maildir, domain, 60);
}

// Fencing at the level the runtime uses (al.ack / al.lock_owned / al.finish
// through StageContext): a worker whose items were handed back cannot ack,
// lock or finish them any more, before or after the new owner finished.
TEST(Fencing, StaleWorkerCannotOverwriteNewerAttempt) {
  const std::string url = al::test::fresh_database("faults_fencing");
  const std::string domain = f::unique("fencing") + ".example";
  f::put_letter_template(url);
  al::test::LineProcesses line("faults_fencing", url);
  f::tune_for_faults(line);
  line.start("al-scheduler");
  line.start("al-identifier");
  const std::string job = f::submit(url, f::email_records(3, domain));
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "211", 20), "211")
      << line.log_tail();
  ASSERT_TRUE(line.stop_all());

  pqxx::connection conn(url);
  auto one = [&](const std::string& sql) {
    pqxx::work tx(conn);
    auto r = tx.exec(sql);
    tx.commit();
    return r.empty() || r[0][0].is_null() ? std::string() : std::string(r[0][0].c_str());
  };
  const std::string trn = one("SELECT min(trn_id) FROM al.trns WHERE job_id = " + job);
  ASSERT_EQ(one("SELECT id FROM al.claim('assembler', 1, 'stale@test:1')"), trn);
  ASSERT_EQ(one("SELECT count(*) FROM al.ack('assembler', '{" + trn + "}', '{0}', 'stale@test:1')"), "1");
  // The stale worker is presumed dead: its item goes back, attempt 1.
  ASSERT_EQ(one("SELECT al.requeue_worker('stale@test:1', 5)"), "1");
  ASSERT_EQ(one("SELECT trnstatus || '/' || attempt FROM al.trns WHERE trn_id = " + trn), "211/1");
  ASSERT_EQ(one("SELECT id FROM al.claim('assembler', 1, 'fresh@test:2')"), trn);
  ASSERT_EQ(one("SELECT count(*) FROM al.ack('assembler', '{" + trn + "}', '{1}', 'fresh@test:2')"), "1");

  // The stale worker wakes up with attempt 0, through the runtime's own code.
  al::Config config;
  al::StageContext stale(config, al::stage_info("assembler"), "stale@test:1", conn, *spdlog::default_logger());
  {
    pqxx::work tx(conn);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM al.ack('assembler', '{" + trn + "}', '{0}', 'stale@test:1')")[0][0].as<int>(), 0);
    EXPECT_TRUE(stale.lock_owned(tx, {{std::stoll(trn), 0}}).empty()) << "a stale attempt must not lock the item";
    EXPECT_EQ(stale.finish(tx, {{std::stoll(trn), 0, false, "stale write"}}), 0);
    tx.commit();
  }
  EXPECT_EQ(one("SELECT trnstatus || '/' || attempt || '/' || worker FROM al.trns WHERE trn_id = " + trn),
            "231/1/fresh@test:2")
      << "the stale ack, lock and finish must change nothing";

  al::StageContext fresh(config, al::stage_info("assembler"), "fresh@test:2", conn, *spdlog::default_logger());
  {
    pqxx::work tx(conn);
    ASSERT_EQ(fresh.lock_owned(tx, {{std::stoll(trn), 1}}).size(), 1u);
    // What the assembler writes with its outcome: the document.
    tx.exec("INSERT INTO al.documents (trn_id, html, sha256, bytes) VALUES (" + trn +
            ", '<p>Dear Person 1</p>', 'x', 20)");
    EXPECT_EQ(fresh.finish(tx, {{std::stoll(trn), 1, true, ""}}), 1);
    tx.commit();
  }
  {
    pqxx::work tx(conn);
    EXPECT_EQ(stale.finish(tx, {{std::stoll(trn), 0, false, "stale write after the fact"}}), 0);
    tx.commit();
  }
  const std::string after = one("SELECT trnstatus FROM al.trns WHERE trn_id = " + trn);
  EXPECT_TRUE(after == "290" || after == "301" || after == "311") << "got " << after << ", want past assembly";
  EXPECT_EQ(one("SELECT count(*) FROM al.trns WHERE trn_id = " + trn + " AND error LIKE '%stale write%'"), "0");

  // The rest of the job then flows on through a real line.
  al::test::LineProcesses rest("faults_fencing_rest", url);
  f::tune_for_faults(rest);
  f::start_line(rest);
  EXPECT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << rest.log_tail();
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job), "3");
}
