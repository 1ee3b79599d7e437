// exec_prepared_sql: the statements a process runs for every message are
// prepared on the server once per connection, and again on a new one.
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "assemblyline/database.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

int prepared_count(pqxx::connection& conn, const std::string& name) {
  pqxx::work tx(conn);
  return tx.exec_params("SELECT count(*) FROM pg_prepared_statements WHERE name = $1", name)[0][0].as<int>();
}

TEST(PreparedStatements, PreparedOncePerConnectionAndRunWithEachCallsArguments) {
  const auto url = test::fresh_database("prepared_once");
  auto conn = connect(url, "test");
  const std::string sql = "SELECT $1::int * 2";
  EXPECT_EQ(prepared_count(*conn, "test.double"), 0);
  for (int i = 1; i <= 3; ++i) {
    pqxx::work tx(*conn);
    EXPECT_EQ(exec_prepared_sql(tx, "test.double", sql, i)[0][0].as<int>(), 2 * i);
    tx.commit();
  }
  EXPECT_EQ(prepared_count(*conn, "test.double"), 1) << "prepared once on this connection";

  // A connection opened after a lost one prepares it again on first use.
  auto second = connect(url, "test");
  pqxx::work tx(*second);
  EXPECT_EQ(exec_prepared_sql(tx, "test.double", sql, 21)[0][0].as<int>(), 42);
}

}  // namespace
}  // namespace al
