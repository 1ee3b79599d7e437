#include "assemblyline/safe_path.hpp"

#include <gtest/gtest.h>

#include "assemblyline/error.hpp"

namespace {

namespace fs = std::filesystem;

TEST(SafePath, RefusesNamesThatCouldLeaveTheBaseDirectory) {
  struct Case {
    std::string name;
    std::string want_in_message;
  };
  Case const cases[] = {
      {"", "empty"},          {"../etc/passwd", "'..'"},   {"a/../../b", "'..'"},
      {"a/..", "'..'"},       {"/etc/passwd", "absolute"}, {std::string{"a\0b", 3}, "NUL"},
      {"a\nb", "control"},    {"a\x7f", "control"},        {"a\\..\\b", "backslash"},
      {".", "names no file"},
  };
  for (auto const& c : cases) {
    try {
      (void)al::safe_join("/srv/outbox", c.name);
      ADD_FAILURE() << "want al::Error for name \"" << c.name << "\"";
    } catch (al::Error const& e) {
      std::string const what = e.what();
      EXPECT_FALSE(e.retryable()) << what;
      EXPECT_NE(what.find(c.want_in_message), std::string::npos) << "got: " << what;
      EXPECT_EQ(what.find('\n'), std::string::npos)
          << "message must not carry raw control characters: " << what;
    }
  }
}

TEST(SafePath, NamesTheRefusedValueInTheMessage) {
  try {
    (void)al::safe_join("/srv/outbox", "../secret.txt");
    FAIL() << "want al::Error";
  } catch (al::Error const& e) {
    EXPECT_NE(std::string{e.what()}.find("../secret.txt"), std::string::npos) << "got: " << e.what();
  }
}

TEST(SafePath, AcceptsPlainRelativeNamesInsideTheBase) {
  EXPECT_EQ(al::safe_join("/srv/outbox", "job-42/letter.pdf"), fs::path{"/srv/outbox/job-42/letter.pdf"});
  EXPECT_EQ(al::safe_join("/srv/outbox/", "./a/./b.txt"), fs::path{"/srv/outbox/a/b.txt"});
  EXPECT_EQ(al::safe_join("/srv/outbox", "..hidden..txt"), fs::path{"/srv/outbox/..hidden..txt"});
  EXPECT_EQ(al::safe_join("/srv/outbox", "Müller.pdf"), fs::path{"/srv/outbox/Müller.pdf"});
}

}  // namespace
