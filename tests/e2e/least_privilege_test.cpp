// Roles on the real line (sql/007_roles.sql, docs/roles.md): the scheduler
// logs in as a member of al_scheduler only, every worker as a member of
// al_worker only, and the job comes from a member of al_integrator. The line
// must complete a job over every channel without any superuser connection.
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>
#include <unistd.h>

#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;

namespace {

// A login role (cluster-wide, recreated) member of `group` only; `url` as that role.
std::string login_as(const std::string& url, const std::string& login, const std::string& group) {
  pqxx::connection admin(url);
  pqxx::work tx(admin);
  tx.exec("DROP ROLE IF EXISTS " + login);
  tx.exec("CREATE ROLE " + login + " LOGIN IN ROLE " + group);
  tx.commit();
  const auto scheme = url.find("://") + 3;
  return url.substr(0, scheme) + login + url.substr(url.find('@'));
}

}  // namespace

TEST(LeastPrivilege, SchedulerAndWorkersUnderTheirOwnRolesCompleteAJobOfEveryChannel) {
  const std::string url = al::test::fresh_database("e2e_roles");
  const std::string domain = "roles-" + std::to_string(::getpid()) + ".example";
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("SELECT al.put_template('letter', '<p>Dear {{name}}</p>', 'For {{name}}', '{name}')");
    tx.commit();
  }
  const std::string scheduler_url = login_as(url, "al_test_line_scheduler", "al_scheduler");
  const std::string worker_url = login_as(url, "al_test_line_worker", "al_worker");
  const std::string integrator_url = login_as(url, "al_test_line_integrator", "al_integrator");

  al::test::LineProcesses line("e2e_roles", url);
  line.set("AL_DATABASE_URL", scheduler_url);
  line.start("al-scheduler");
  line.set("AL_DATABASE_URL", worker_url);
  for (const char* worker : {"al-identifier", "al-assembler", "al-distributor", "al-presenter", "al-archiver",
                             "al-publisher", "al-notifier"})
    line.start(worker);

  const std::string records = R"([
    {"name": "Email", "recipients": [{"channel": "email", "address": "one@)" + domain + R"("}]},
    {"name": "Print", "recipients": [{"channel": "print", "address": "Print\nStreet 1\n1000 Town"}]},
    {"name": "File", "recipients": [{"channel": "file", "address": "roles/file.html"}]},
    {"nom": "invalid"}])";
  std::string job;
  {
    pqxx::connection conn(integrator_url);
    pqxx::work tx(conn);
    job = tx.exec_params("SELECT al.submit_job('letter', $1::jsonb)", records)[0][0].as<std::string>();
    tx.commit();
  }
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail();
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered || ' delivered, ' || errors || ' errors' "
                             "FROM al.job_overview WHERE job_id = " + job),
            "3 delivered, 1 errors");
  const std::string denied = al::test::run_command("grep -h 'permission denied' '" + line.dir() + "'/logs/*.log");
  EXPECT_EQ(denied, "") << "no process may have been refused anything";
}
