// Closing a job (seed serial-correspondence-de.txt): a serial e-mail sent
// completely closes automatically; anything else is closed by hand once it has
// come to rest, and a closed job can never change again.
#include <string>

#include <gtest/gtest.h>

#include "db/line_driver.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::value;

const char* const all_email = R"([
  {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"}]},
  {"name": "B", "recipients": [{"channel": "email", "address": "b@example.com"}]}])";

const char* const with_failures = R"([
  {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"},
                               {"channel": "email", "address": "bad@example.com"}]},
  {"name": "B", "recipients": [{"channel": "print", "address": "B\nStreet 1"}]},
  {"x": 1, "recipients": [{"channel": "file", "address": "x.pdf"}]}])";

std::string state(pqxx::connection& conn, std::int64_t job) {
  return value(conn, "SELECT state FROM al.job_overview WHERE job_id = " + std::to_string(job));
}

TEST(Close, ASerialEmailSentCompletelyClosesAutomatically) {
  auto conn = test::connect(test::fresh_database("close_auto"));
  test::put_template(*conn, "letter");
  const auto job = test::submit(*conn, "letter", all_email);
  test::run_line(*conn);
  EXPECT_EQ(state(*conn, job), "closed (automatically)");
  EXPECT_EQ(value(*conn, "SELECT closed_by FROM al.jobs"), "line");
  EXPECT_EQ(value(*conn, "SELECT note FROM al.status_history WHERE object = 'JOBS' ORDER BY history_id DESC LIMIT 1"),
            "closed (automatically): every e-mail sent");
  EXPECT_EQ(value(*conn, "SELECT count(*) FROM al.job_events"), "1") << "the completion event is still written";
}

TEST(Close, ByHandMakesTheJobImmutableAndRetryIsRefused) {
  const std::string url = test::fresh_database("close_manual");
  auto conn = test::connect(url);
  test::put_template(*conn, "letter");
  const auto job = test::submit(*conn, "letter", with_failures);
  test::run_line(*conn, {500, {"bad@example.com"}});
  ASSERT_EQ(state(*conn, job), "created with 2 errors") << "errors keep a job open for a decision";

  const std::string alctl = "AL_DATABASE_URL='" + url + "' " + AL_BIN_DIR + "/alctl";
  const std::string id = std::to_string(job);
  EXPECT_EQ(test::run_command(alctl + " close " + id + " 2>&1; echo \"exit $?\""), "job " + id + ": closed\nexit 0\n");
  EXPECT_EQ(state(*conn, job), "closed");
  EXPECT_EQ(value(*conn, "SELECT closed_by FROM al.jobs WHERE job_id = " + id), "alctl");
  EXPECT_EQ(test::run_command(alctl + " close " + id + " 2>&1"), "job " + id + ": already closed\n");

  const std::string retry = test::run_command(alctl + " retry " + id + " 2>&1; echo \"exit $?\"");
  EXPECT_NE(retry.find("job " + id + ": closed"), std::string::npos) << retry;
  EXPECT_NE(retry.find("exit 1"), std::string::npos) << retry;
  EXPECT_EQ(value(*conn, "SELECT count(*) FROM al.trns WHERE job_id = " + id + " AND trnstatus = 241"), "1")
      << "the refused retry changed nothing";
  for (const std::string verb : {"skip", "cancel", "hold"}) {
    EXPECT_NE(test::run_command(alctl + " " + verb + " " + id + " 2>&1").find("closed"), std::string::npos) << verb;
  }
  try {
    value(*conn, "UPDATE al.trns SET trnstatus = 211 WHERE job_id = " + id + " AND trnstatus = 241");
    ADD_FAILURE() << "a manual change to a closed job's record went through";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("closed"), std::string::npos) << e.what();
  }

  // A job still in the line cannot be closed.
  const auto fresh = test::submit(*conn, "letter", all_email);
  const std::string refused = test::run_command(alctl + " close " + std::to_string(fresh) + " 2>&1; echo \"exit $?\"");
  EXPECT_NE(refused.find("pending (status 101)"), std::string::npos) << refused;
  EXPECT_NE(refused.find("exit 1"), std::string::npos) << refused;
}

}  // namespace
}  // namespace al
