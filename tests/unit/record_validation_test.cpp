// Record validation and record files: what the identifier accepts, and the
// message it gives for what it does not.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "assemblyline/record_source.hpp"
#include "assemblyline/record_validation.hpp"

using nlohmann::json;

struct ValidationCase {
  const char* name;
  const char* record;
  const char* want;  // "" = valid, else a substring of the problem
};

class RecordValidation : public ::testing::TestWithParam<ValidationCase> {};

TEST_P(RecordValidation, ReportsTheFirstProblemNamingTheField) {
  const auto& c = GetParam();
  const std::string got = al::record_problem(json::parse(c.record), {"name"});
  if (std::string(c.want).empty()) {
    EXPECT_EQ(got, "") << c.name;
  } else {
    EXPECT_NE(got.find(c.want), std::string::npos) << c.name << ": got \"" << got << "\", want it to contain \""
                                                   << c.want << "\"";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RecordValidation,
    ::testing::Values(
        ValidationCase{"valid", R"({"name":"A","recipients":[{"channel":"email","address":"a@example.com"}]})", ""},
        ValidationCase{"no recipients is valid", R"({"name":"A"})", ""},
        ValidationCase{"missing field", R"({"x":1})", "missing required field 'name'"},
        ValidationCase{"empty field", R"({"name":""})", "missing required field 'name'"},
        ValidationCase{"null field", R"({"name":null})", "missing required field 'name'"},
        ValidationCase{"not an object", R"([1,2])", "not a JSON object"},
        ValidationCase{"recipients not an array", R"({"name":"A","recipients":{}})", "recipients must be an array"},
        ValidationCase{"unknown channel", R"({"name":"A","recipients":[{"channel":"fax","address":"1"}]})",
                       "recipients[0]: unknown channel 'fax'"},
        ValidationCase{"invalid e-mail", R"({"name":"A","recipients":[{"channel":"email","address":"no-at"}]})",
                       "invalid e-mail address"},
        ValidationCase{"CR/LF in e-mail", R"({"name":"A","recipients":[{"channel":"email","address":"a@b.c\r\nBcc: x@y.z"}]})",
                       "invalid e-mail address"},
        ValidationCase{"file escapes outbox", R"({"name":"A","recipients":[{"channel":"file","address":"../etc/passwd"}]})",
                       "file address refused"},
        ValidationCase{"file absolute", R"({"name":"A","recipients":[{"channel":"file","address":"/etc/passwd"}]})",
                       "file address refused"},
        ValidationCase{"missing address", R"({"name":"A","recipients":[{"channel":"print"}]})", "has no address"},
        ValidationCase{"second recipient bad",
                       R"({"name":"A","recipients":[{"channel":"print","address":"A\nB"},{"channel":"email","address":"x"}]})",
                       "recipients[1]"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& ch : n) if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(RecordFile, CsvColumnsBecomeFieldsAndRecipients) {
  const std::string path = ::testing::TempDir() + "/records.csv";
  std::ofstream(path) << "\xEF\xBB\xBFname,email,postal_address,note\n"
                         "Ann,ann@example.com,\"Ann\nMain St 1\",\"says \"\"hi\"\", twice\"\n"
                         "Bob,,,\n";
  auto source = al::open_record_file(path, "csv");
  al::SourceRecord r;
  ASSERT_TRUE(source->next(r));
  EXPECT_EQ(r.problem, "");
  EXPECT_EQ(r.data["name"], "Ann");
  EXPECT_EQ(r.data["note"], "says \"hi\", twice");
  ASSERT_EQ(r.data["recipients"].size(), 2u) << r.data.dump();
  EXPECT_EQ(r.data["recipients"][1]["address"], "Ann\nMain St 1");
  ASSERT_TRUE(source->next(r));
  EXPECT_EQ(r.data["name"], "Bob");
  EXPECT_FALSE(r.data.contains("recipients"));
  EXPECT_FALSE(source->next(r));
}

TEST(RecordFile, MalformedJsonlLineIsARecordWithAProblem) {
  const std::string path = ::testing::TempDir() + "/records.jsonl";
  std::ofstream(path) << "{\"name\":\"A\"}\n\n{not json\n{\"name\":\"C\"}\n";
  auto source = al::open_record_file(path, "jsonl");
  al::SourceRecord r;
  ASSERT_TRUE(source->next(r));
  EXPECT_EQ(r.problem, "");
  ASSERT_TRUE(source->next(r));
  EXPECT_EQ(r.problem, "line 3: malformed JSON");
  ASSERT_TRUE(source->next(r));
  EXPECT_EQ(r.data["name"], "C");
  EXPECT_FALSE(source->next(r));
}

TEST(RecordFile, UnreadableFileIsAnErrorNamingThePath) {
  try {
    (void)al::open_record_file("/nonexistent/records.csv", "csv");
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/records.csv"), std::string::npos) << e.what();
  }
}
