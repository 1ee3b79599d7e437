// smtp.max_connections (sql/015): connection slots are session-level
// advisory locks, so they are shared by every publisher session and freed by
// PostgreSQL itself when a session ends.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "db/line_driver.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::value;

std::string take(pqxx::connection& conn, int max) {
  return value(conn, "SELECT coalesce(al.take_smtp_connection('smtp://mx:25', " + std::to_string(max) + ")::text, 'none')");
}

TEST(SmtpConnections, SlotsAreSharedBySessionsAndFreedWhenASessionEnds) {
  const std::string url = test::fresh_database("smtp_connections");
  auto first = test::connect(url);
  auto second = test::connect(url);
  auto third = test::connect(url);

  EXPECT_EQ(take(*first, 2), "0");
  EXPECT_EQ(take(*second, 2), "1");
  EXPECT_EQ(take(*third, 2), "none") << "two slots, both held by other sessions";
  EXPECT_EQ(value(*third, "SELECT count(*) FROM al.smtp_connections('smtp://mx:25')"), "2");
  EXPECT_EQ(value(*third, "SELECT count(*) FROM al.smtp_connections('smtp://other:25')"), "0")
      << "slots are counted per server";
  EXPECT_EQ(value(*third, "SELECT coalesce(al.take_smtp_connection('smtp://other:25', 2)::text, 'none')"), "0");

  EXPECT_EQ(value(*second, "SELECT al.give_back_smtp_connection('smtp://mx:25', 1)"), "t");
  EXPECT_EQ(take(*third, 2), "1") << "a slot given back is free for the next session";

  first.reset();  // the session ends without giving back: PostgreSQL frees the lock
  std::string freed = take(*second, 2);
  for (int i = 0; i < 50 && freed != "0"; ++i) {  // the backend exits a moment after the client hangs up
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    freed = take(*second, 2);
  }
  EXPECT_EQ(freed, "0") << "the slot of a session that ended is still taken";
}

}  // namespace
}  // namespace al
