// The text helpers for SQL parameters in al_core: array literals and the
// LIKE pattern alctl and the console build from a user's search text.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "assemblyline/database.hpp"

namespace {

TEST(SqlText, LikeContainsPatternTakesWildcardsAndBackslashesLiterally) {
  EXPECT_EQ(al::like_contains_pattern("smith"), "%smith%");
  EXPECT_EQ(al::like_contains_pattern("100%"), "%100\\%%");
  EXPECT_EQ(al::like_contains_pattern("a_b"), "%a\\_b%");
  EXPECT_EQ(al::like_contains_pattern("C:\\dir"), "%C:\\\\dir%");
  EXPECT_EQ(al::like_contains_pattern(""), "%%");
}

TEST(SqlText, TextArrayLiteralQuotesEveryElement) {
  EXPECT_EQ(al::text_array_literal({}), "{}");
  EXPECT_EQ(al::text_array_literal({"a", "b,c", "say \"hi\"", "back\\slash"}),
            "{\"a\",\"b,c\",\"say \\\"hi\\\"\",\"back\\\\slash\"}");
}

}  // namespace
