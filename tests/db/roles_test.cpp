// Roles (sql/007_roles.sql, docs/roles.md): a login role granted
// al_integrator submits and reads jobs but writes no table directly and calls
// no admin function; al_admin steers through the functions; a role with
// al_scheduler + al_worker can run the whole line by hand.
#include <string>

#include <gtest/gtest.h>

#include "db/line_driver.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::int_value;
using test::value;

// A login role (cluster-wide, recreated) member of `group`; the URL of `url` as that role.
std::string login_as(pqxx::connection& admin, const std::string& url, const std::string& login,
                     const std::string& group) {
  value(admin, "DROP ROLE IF EXISTS " + login);
  value(admin, "CREATE ROLE " + login + " LOGIN IN ROLE " + group);
  const auto at = url.find('@');
  const auto scheme = url.find("://") + 3;
  return url.substr(0, scheme) + login + url.substr(at);
}

// The error text of running `sql` in its own transaction, "" when it succeeds.
std::string error_of(pqxx::connection& conn, const std::string& sql) {
  try {
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

TEST(Roles, IntegratorSubmitsAndReadsButCannotWriteTablesOrSteer) {
  const std::string url = test::fresh_database("roles_integrator");
  auto owner = test::connect(url);
  test::put_template(*owner, "letter");
  auto conn = test::connect(login_as(*owner, url, "al_test_integrator", "al_integrator"));

  const std::string job = value(*conn, R"(SELECT al.submit_job('letter', '[{"name": "A"}]', project => 'roles'))");
  ASSERT_FALSE(job.empty());
  EXPECT_EQ(value(*conn, "SELECT state || ' by ' || created_by FROM al.job_overview WHERE job_id = " + job),
            "pending by al_test_integrator");
  EXPECT_EQ(value(*conn, "SELECT changed_by FROM al.status_history WHERE object = 'JOBS' AND id = " + job),
            "al_test_integrator")
      << "history names the login role, not the schema owner the function runs as";
  EXPECT_NE(value(*conn, "SELECT count(*) FROM al.status_board"), "");

  test::run_line(*owner);  // as the owner: the job's records exist now
  ASSERT_EQ(value(*conn, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job), "999");

  const std::pair<std::string, std::string> refused[] = {
      {"UPDATE al.trns SET trnstatus = 888", "permission denied for table trns"},
      {"UPDATE al.jobs SET priority = 5", "permission denied for table jobs"},
      {"INSERT INTO al.jobs (template, records) VALUES ('letter', '[]')", "permission denied for table jobs"},
      {"DELETE FROM al.rcps", "permission denied for table rcps"},
      {"SELECT al.retry_job(" + job + ")", "permission denied for function retry_job"},
      {"SELECT al.purge_jobs('1 day')", "permission denied for function purge_jobs"},
      {"SELECT * FROM al.claim('assembler', 1, 'x')", "permission denied for function claim"},
      {"SELECT * FROM al.contact_preferences", "permission denied for table contact_preferences"},
  };
  for (const auto& [sql, want] : refused) {
    const std::string got = error_of(*conn, sql);
    EXPECT_NE(got.find(want), std::string::npos) << sql << "\ngot: " << got << "\nwant: " << want;
  }
  EXPECT_EQ(value(*owner, "SELECT trnstatus FROM al.trns WHERE job_id = " + job), "999") << "nothing changed";
}

TEST(Roles, AdminSteersThroughFunctionsAndTheGuardStillChecksHandChanges) {
  const std::string url = test::fresh_database("roles_admin");
  auto owner = test::connect(url);
  test::put_template(*owner, "letter");
  const auto job = std::to_string(test::submit(*owner, "letter", R"([{"name": "A"}, {"x": 1}])"));
  test::run_line(*owner);
  auto conn = test::connect(login_as(*owner, url, "al_test_admin", "al_admin"));

  EXPECT_EQ(value(*conn, "SELECT al.hold_job(" + job + ")"), job);
  EXPECT_EQ(value(*conn, "SELECT al.release_job(" + job + ")"), job);
  EXPECT_EQ(value(*conn, "SELECT al.skip_job(" + job + ")"), "1") << "the invalid record";
  EXPECT_EQ(error_of(*conn, "INSERT INTO al.contact_preferences (address, channel) VALUES ('x@example.com', 'email')"),
            "");
  EXPECT_NE(error_of(*conn, "UPDATE al.trns SET trnstatus = 231 WHERE trnstatus = 999").find(
                "illegal status change 999 -> 231"),
            std::string::npos);
  EXPECT_NE(error_of(*conn, "DELETE FROM al.jobs").find("permission denied for table jobs"), std::string::npos);
  EXPECT_NE(error_of(*conn, "UPDATE al.jobs SET records = '[]'").find("permission denied for table jobs"),
            std::string::npos);
}

TEST(Roles, SchedulerAndWorkerRolesAreEnoughToRunTheLine) {
  const std::string url = test::fresh_database("roles_line");
  auto owner = test::connect(url);
  test::put_template(*owner, "letter");
  value(*owner, "DROP ROLE IF EXISTS al_test_line");
  value(*owner, "CREATE ROLE al_test_line LOGIN IN ROLE al_scheduler, al_worker");
  const auto at = url.find('@');
  auto conn = test::connect(url.substr(0, url.find("://") + 3) + "al_test_line" + url.substr(at));
  const auto job = test::submit(*owner, "letter", R"([
    {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"}]},
    {"name": "B", "recipients": [{"channel": "print", "address": "B\nStreet 1"}]}])");
  test::run_line(*conn);
  EXPECT_EQ(value(*owner, "SELECT state FROM al.job_overview WHERE job_id = " + std::to_string(job)), "sent");
  EXPECT_EQ(int_value(*owner, "SELECT count(*) FROM al.rcps WHERE rcpstatus = 999"), 2);
  // A record's document and recipients do not reference it by a foreign key
  // (sql/033): only retention, deleting them first, may delete records.
  EXPECT_NE(error_of(*conn, "DELETE FROM al.trns").find("permission denied for table trns"), std::string::npos);
}

}  // namespace
}  // namespace al
