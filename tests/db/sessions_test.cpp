// The session settings al::connect gives each kind of connection: the line's
// processes take generic plans at once, tools (alctl, the console) keep
// PostgreSQL's default; both kinds have JIT off. In the URL form and in the
// key=value form of a connection string.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "assemblyline/database.hpp"
#include "support/test_env.hpp"

namespace {

std::string setting(pqxx::connection& conn, const std::string& name) {
  pqxx::nontransaction tx(conn);
  return tx.exec1("SHOW " + name)[0].as<std::string>();
}

TEST(Sessions, LineSessionsTakeGenericPlansAndToolsKeepTheDefault) {
  const std::string url = al::test::env("AL_TEST_DATABASE_URL");
  const std::string key_value = "host=127.0.0.1 port=" + al::test::env("AL_TEST_PG_PORT") + " user=postgres dbname=postgres";
  for (const auto& target : {url, key_value}) {
    auto line = al::connect(target, "al-test-line", al::Session::line);
    EXPECT_EQ(setting(*line, "plan_cache_mode"), "force_generic_plan") << target;
    EXPECT_EQ(setting(*line, "jit"), "off") << target;
    EXPECT_EQ(setting(*line, "application_name"), "al-test-line") << target;

    auto tool = al::connect(target, "al-test-tool");
    EXPECT_EQ(setting(*tool, "plan_cache_mode"), "auto") << target;
    EXPECT_EQ(setting(*tool, "jit"), "off") << target;
  }
}

}  // namespace
