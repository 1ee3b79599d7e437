// Retention: jobs past delete_after lose their children in bounded steps and
// keep a tombstone; the default delete_after comes from al.settings; `alctl
// purge` deletes what is older than it is told.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "assemblyline/config.hpp"
#include "db/line_driver.hpp"
#include "scheduler/retention.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::int_value;
using test::value;

const char* const records = R"([
  {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"},
                               {"channel": "print", "address": "A\nStreet 1"}]},
  {"name": "B", "recipients": [{"channel": "file", "address": "b.html"}]},
  {"x": 1, "recipients": [{"channel": "file", "address": "x.html"}]}])";

// Children of `job` left anywhere, by table, as "trns=3 rcps=4 ..." (all zero: "").
std::string children_of(pqxx::connection& conn, std::int64_t job) {
  const std::string j = std::to_string(job);
  const std::pair<const char*, std::string> counts[] = {
      {"trns", "SELECT count(*) FROM al.trns WHERE job_id = " + j},
      {"rcps", "SELECT count(*) FROM al.rcps WHERE job_id = " + j},
      {"bchs", "SELECT count(*) FROM al.bchs WHERE job_id = " + j},
      {"pubs", "SELECT count(*) FROM al.pubs p JOIN al.bchs b USING (bch_id) WHERE b.job_id = " + j},
      {"documents", "SELECT count(*) FROM al.documents d JOIN al.trns t USING (trn_id) WHERE t.job_id = " + j},
      {"job_events", "SELECT count(*) FROM al.job_events WHERE job_id = " + j},
  };
  std::string out;
  for (const auto& [name, sql] : counts) {
    const int n = int_value(conn, sql);
    if (n != 0) out += std::string(name) + "=" + std::to_string(n) + " ";
  }
  return out;
}

TEST(Retention, ADueJobLosesItsChildrenInBoundedStepsAndKeepsATombstone) {
  auto conn = test::connect(test::fresh_database("retention_steps"));
  value(*conn, "UPDATE al.settings SET value = 'on' WHERE key = 'history_items'");
  test::put_template(*conn, "letter");
  const auto old_job = test::submit(*conn, "letter", records);
  const auto new_job = test::submit(*conn, "letter", records);
  test::run_line(*conn);
  ASSERT_EQ(value(*conn, "SELECT string_agg(jobstatus::text, ',' ORDER BY job_id) FROM al.jobs"), "999,999");
  EXPECT_EQ(value(*conn, "SELECT delete_after FROM al.jobs WHERE job_id = " + std::to_string(old_job)), "30 days")
      << "submit_job takes al.settings default_delete_after";
  const std::string before_new = children_of(*conn, new_job);
  ASSERT_NE(before_new, "");
  ASSERT_EQ(value(*conn, "SELECT count(*) > 0 AND count(*) = (SELECT count(*) FROM al.rcps_search) FROM al.rcps"), "t")
      << "each recipient has its search row";
  ASSERT_GT(int_value(*conn, "SELECT count(*) FROM al.status_history WHERE object = 'TRNS'"), 0);
  value(*conn, "UPDATE al.jobs SET created_at = now() - interval '31 days' WHERE job_id = " + std::to_string(old_job));

  // One record per step, then one step for the batches and the tombstone.
  int steps = 0;
  while (true) {
    const std::string row = value(*conn, "SELECT (s.job, s.finished)::text FROM al.purge_step(NULL, 1) s");
    ++steps;
    if (row == "(" + std::to_string(old_job) + ",t)") break;
    ASSERT_EQ(row, "(" + std::to_string(old_job) + ",f)") << "step " << steps;
    ASSERT_LT(steps, 10);
  }
  EXPECT_EQ(steps, 4) << "3 records, one each, then the rest";
  EXPECT_EQ(children_of(*conn, old_job), "");
  EXPECT_EQ(children_of(*conn, new_job), before_new) << "a job not due is untouched";
  EXPECT_EQ(value(*conn, "SELECT (SELECT count(*) FROM al.rcps_search) = (SELECT count(*) FROM al.rcps)"), "t")
      << "the purged recipients' search rows go with them (sql/023), the other job's stay";
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.rcps_search s "
                             "WHERE NOT EXISTS (SELECT FROM al.rcps r WHERE r.rcp_id = s.rcp_id)"), 0);
  EXPECT_EQ(value(*conn, "SELECT job IS NULL FROM al.purge_step(NULL, 1)"), "t") << "nothing else is due";

  const std::string j = std::to_string(old_job);
  EXPECT_EQ(value(*conn, "SELECT state FROM al.job_overview WHERE job_id = " + j), "deleted");
  EXPECT_EQ(value(*conn, "SELECT records IS NULL AND deleted_at IS NOT NULL FROM al.jobs WHERE job_id = " + j), "t");
  EXPECT_EQ(value(*conn, "SELECT deleted_reason LIKE 'retention: delete_after 30 days from %' FROM al.job_overview "
                         "WHERE job_id = " + j),
            "t")
      << value(*conn, "SELECT deleted_reason FROM al.jobs WHERE job_id = " + j);
  EXPECT_EQ(value(*conn, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + j), "3")
      << "the tombstone keeps the job's counts";
  EXPECT_GT(int_value(*conn, "SELECT count(*) FROM al.status_history WHERE object = 'JOBS' AND id = " + j), 0)
      << "the job's own timeline stays";
  EXPECT_EQ(int_value(*conn, "SELECT count(*) FROM al.status_history h WHERE h.object <> 'JOBS' "
                             "AND NOT EXISTS (SELECT 1 FROM al.trns WHERE trn_id = h.id AND h.object = 'TRNS') "
                             "AND NOT EXISTS (SELECT 1 FROM al.rcps WHERE rcp_id = h.id AND h.object = 'RCPS') "
                             "AND NOT EXISTS (SELECT 1 FROM al.bchs WHERE bch_id = h.id AND h.object = 'BCHS') "
                             "AND NOT EXISTS (SELECT 1 FROM al.pubs WHERE pub_id = h.id AND h.object = 'PUBS')"),
            0)
      << "history of deleted children is deleted with them";
  try {
    pqxx::work tx(*conn);
    tx.exec("SELECT al.retry_job(" + j + ")");
    ADD_FAILURE() << "retry of a deleted job was accepted";
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("deleted at"), std::string::npos) << e.what();
  }
}

TEST(Retention, PurgeJobsTakesOnlyJobsAtRestAndHonoursOlderThanAndLimit) {
  auto conn = test::connect(test::fresh_database("retention_purge"));
  test::put_template(*conn, "letter");
  for (int i = 0; i < 3; ++i) test::submit(*conn, "letter", records);
  test::run_line(*conn);
  const auto pending = test::submit(*conn, "letter", records);  // 101: still in the line
  value(*conn, "UPDATE al.jobs SET delete_after = NULL, created_at = now() - interval '10 days'");

  EXPECT_EQ(value(*conn, "SELECT al.purge_jobs()"), "0") << "no job has a delete_after";
  EXPECT_EQ(value(*conn, "SELECT al.purge_jobs('5 days', 2)"), "2");
  EXPECT_EQ(value(*conn, "SELECT al.purge_jobs('5 days')"), "1");
  EXPECT_EQ(value(*conn, "SELECT count(*) FROM al.jobs WHERE deleted_at IS NOT NULL"), "3");
  EXPECT_EQ(value(*conn, "SELECT deleted_at IS NULL FROM al.jobs WHERE job_id = " + std::to_string(pending)), "t")
      << "a job still in the line is not purged";
  EXPECT_EQ(value(*conn, "SELECT count(*) FROM al.jobs WHERE deleted_reason LIKE 'purged by %: older than 5 days'"),
            "3");
  try {
    pqxx::work tx(*conn);
    tx.exec("SELECT al.purge_jobs('-1 day')");
    ADD_FAILURE() << "a negative interval was accepted";
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("must be a positive interval"), std::string::npos) << e.what();
  }
}

TEST(Retention, DefaultDeleteAfterIsCheckedAndAppliedToEverySubmission) {
  auto conn = test::connect(test::fresh_database("retention_default"));
  test::put_template(*conn, "letter");
  value(*conn, "SELECT al.set_default_delete_after('90 days')");
  auto job = test::submit(*conn, "letter", records);
  EXPECT_EQ(value(*conn, "SELECT delete_after FROM al.jobs WHERE job_id = " + std::to_string(job)), "90 days");
  value(*conn, "INSERT INTO al.jobs (template, records) VALUES ('letter', '[]')");
  EXPECT_EQ(value(*conn, "SELECT delete_after FROM al.jobs ORDER BY job_id DESC LIMIT 1"), "90 days")
      << "a plain INSERT gets the default too";
  value(*conn, "SELECT al.set_default_delete_after('')");
  job = test::submit(*conn, "letter", records);
  EXPECT_EQ(value(*conn, "SELECT delete_after IS NULL FROM al.jobs WHERE job_id = " + std::to_string(job)), "t")
      << "empty keeps jobs forever";
  for (const std::string bad : {"soon", "-3 days"}) {
    try {
      pqxx::work tx(*conn);
      tx.exec_params("SELECT al.set_default_delete_after($1)", bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const pqxx::sql_error& e) {
      EXPECT_NE(std::string(e.what()).find("jobs.delete_after: '" + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(Retention, AlctlPurgeDeletesJobsOlderThanItIsToldAndSaysHowMany) {
  const std::string url = test::fresh_database("retention_alctl");
  auto conn = test::connect(url);
  test::put_template(*conn, "letter");
  test::submit(*conn, "letter", records);
  test::submit(*conn, "letter", records);
  test::run_line(*conn);
  value(*conn, "UPDATE al.jobs SET created_at = now() - interval '100 days' WHERE job_id = "
               "(SELECT min(job_id) FROM al.jobs)");
  const std::string alctl = "AL_DATABASE_URL='" + url + "' " + AL_BIN_DIR + "/alctl";
  // The default 30 days already covers the old job.
  EXPECT_EQ(test::run_command(alctl + " purge 2>&1; echo \"exit $?\""), "purged 1 job\nexit 0\n");
  value(*conn, "UPDATE al.jobs SET created_at = now() - interval '2 days' WHERE deleted_at IS NULL");
  EXPECT_EQ(test::run_command(alctl + " purge --older-than '1 day' 2>&1; echo \"exit $?\""), "purged 1 job\nexit 0\n");
  EXPECT_EQ(value(*conn, "SELECT string_agg(state, ',') FROM al.job_overview"), "deleted,deleted");
  EXPECT_EQ(value(*conn, "SELECT deleted_reason FROM al.jobs ORDER BY job_id DESC LIMIT 1"),
            "purged by alctl: older than 1 day");
}

TEST(Retention, SchedulerRemovesTheArchiveOfDeletedJobsOnlyWhenConfigured) {
  namespace fs = std::filesystem;
  const std::string url = test::fresh_database("retention_archive");
  auto conn = test::connect(url);
  test::put_template(*conn, "letter");
  const auto old_job = test::submit(*conn, "letter", records);
  const auto live_job = test::submit(*conn, "letter", records);
  test::run_line(*conn);
  const fs::path archive = fs::path(test::env("AL_TEST_TMP")) / "retention_archive";
  fs::remove_all(archive);
  for (const auto job : {old_job, live_job}) {
    fs::create_directories(archive / std::to_string(job) / "1");
    std::ofstream(archive / std::to_string(job) / "1" / "document.html") << "<p>archived</p>";
  }
  value(*conn, "UPDATE al.jobs SET created_at = now() - interval '100 days' WHERE job_id = " + std::to_string(old_job));

  Config config;
  config.storage_archive_dir = archive.string();
  config.storage_purge_archive = false;
  Retention retention(config);
  for (int i = 0; i < 5; ++i) retention.step(*conn);
  ASSERT_EQ(value(*conn, "SELECT deleted_at IS NOT NULL FROM al.jobs WHERE job_id = " + std::to_string(old_job)), "t");
  EXPECT_TRUE(fs::exists(archive / std::to_string(old_job))) << "storage.purge_archive false keeps the files";
  EXPECT_EQ(value(*conn, "SELECT archive_removed_at IS NULL FROM al.jobs WHERE job_id = " + std::to_string(old_job)),
            "t");

  config.storage_purge_archive = true;
  retention.step(*conn);
  EXPECT_FALSE(fs::exists(archive / std::to_string(old_job))) << "a deleted job's archive goes with it";
  EXPECT_TRUE(fs::exists(archive / std::to_string(live_job) / "1" / "document.html")) << "a live job's stays";
  EXPECT_EQ(value(*conn, "SELECT archive_removed_at IS NOT NULL FROM al.jobs WHERE job_id = " +
                             std::to_string(old_job)),
            "t");
  EXPECT_EQ(value(*conn, "SELECT deleted_at IS NULL FROM al.jobs WHERE job_id = " + std::to_string(live_job)), "t");
}

}  // namespace
}  // namespace al
