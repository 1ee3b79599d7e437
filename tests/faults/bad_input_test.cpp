// Bad input: each gets a clear error on the row that holds it (or a refusal
// from al.submit_job naming the problem), the right x41 code, the good
// records of the same job go on, and every process keeps running.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

namespace {

// The error al.submit_job (or any statement) raises, "" if none.
std::string refusal(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Validates pending jobs as the scheduler does, without a line.
void receive(const std::string& url) { (void)query_value(url, "SELECT al.receive_jobs(100)"); }

struct RecordCase {
  std::string name;
  nlohmann::json record;  // the bad record (its recipients included)
  std::string error;      // what its error must say
};

std::string big_field() { return std::string(5 * 1024 * 1024, 'x'); }

const std::vector<RecordCase>& record_cases() {
  static const std::vector<RecordCase> cases = {
      {"MissingRequiredField", {{"n", 1}, {"recipients", {{{"channel", "print"}, {"address", "A\nB"}}}}},
       "missing required field 'name'"},
      {"UnknownChannel", {{"name", "Fax"}, {"recipients", {{{"channel", "fax"}, {"address", "+49 30 1234"}}}}},
       "unknown channel 'fax'"},
      {"InvalidEmail", {{"name", "Bad"}, {"recipients", {{{"channel", "email"}, {"address", "not-an-address"}}}}},
       "invalid e-mail address 'not-an-address'"},
      {"EmailWithLineBreak",
       {{"name", "Bad"}, {"recipients", {{{"channel", "email"}, {"address", "a@b.example\r\nBcc: evil@b.example"}}}}},
       "invalid e-mail address"},
      {"FileAddressEscapingUpwards", {{"name", "Up"}, {"recipients", {{{"channel", "file"}, {"address", "../x"}}}}},
       "file address refused"},
      {"FileAddressAbsolute", {{"name", "Abs"}, {"recipients", {{{"channel", "file"}, {"address", "/etc/x"}}}}},
       "file address refused"},
      {"RecordNotAnObject", 42, "the record is not a JSON object"},
      {"FiveMegabyteField", {{"name", big_field()}}, "over the limit of 1048576 (al.settings max_record_bytes)"},
  };
  return cases;
}

class BadRecord : public ::testing::TestWithParam<RecordCase> {};

}  // namespace

TEST(BadInput, MalformedJsonIsRefusedBySubmitJob) {
  const std::string url = al::test::fresh_database("bad_malformed");
  f::put_letter_template(url);
  const std::string error = refusal(url, "SELECT al.submit_job('letter', '[{\"name\": \"x\",]')");
  EXPECT_NE(error.find("invalid input syntax for type json"), std::string::npos) << "got: " << error;
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.jobs"), "0");
}

// PostgreSQL's jsonb cannot hold U+0000: a NUL anywhere (say, in a file
// address meant to cut a path short) is refused at submission, naming it.
TEST(BadInput, NulInARecordIsRefusedBySubmitJob) {
  const std::string url = al::test::fresh_database("bad_nul");
  f::put_letter_template(url);
  const std::string error = refusal(
      url, "SELECT al.submit_job('letter', '[{\"name\": \"x\", \"recipients\": "
           "[{\"channel\": \"file\", \"address\": \"a\\u0000/../../etc/passwd\"}]}]')");
  EXPECT_NE(error.find("\\u0000"), std::string::npos) << "got: " << error;
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.jobs"), "0");
}

TEST(BadInput, NonArrayOrEmptyRecordsFailTheJobAt141WithAClearError) {
  const std::string url = al::test::fresh_database("bad_non_array");
  f::put_letter_template(url);
  const std::string object = query_value(url, "SELECT al.submit_job('letter', '{\"name\": \"x\"}')");
  const std::string string = query_value(url, "SELECT al.submit_job('letter', '\"x\"')");
  const std::string empty = query_value(url, "SELECT al.submit_job('letter', '[]')");
  receive(url);
  for (const auto& [job, want] : std::vector<std::pair<std::string, std::string>>{
           {object, "records must be a JSON array of objects, not object"},
           {string, "records must be a JSON array of objects, not string"},
           {empty, "records is an empty array"}}) {
    EXPECT_EQ(query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job), "141");
    const std::string error = query_value(url, "SELECT error FROM al.jobs WHERE job_id = " + job);
    EXPECT_NE(error.find(want), std::string::npos) << "got '" << error << "', want '" << want << "'";
    EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "failed");
  }
}

TEST(BadInput, UnknownTemplateFailsTheJobAt141NamingIt) {
  const std::string url = al::test::fresh_database("bad_template");
  const std::string job = query_value(url, "SELECT al.submit_job('no_such_template', '[{\"name\": \"x\"}]')");
  receive(url);
  EXPECT_EQ(query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job), "141");
  const std::string error = query_value(url, "SELECT error FROM al.jobs WHERE job_id = " + job);
  EXPECT_NE(error.find("unknown template 'no_such_template'"), std::string::npos) << "got '" << error << "'";
}

TEST(BadInput, IllegalManualStatusUpdateIsRejectedByTheGuard) {
  const std::string url = al::test::fresh_database("bad_guard");
  const std::string job = query_value(url, "SELECT al.submit_job('no_such_template', '[{\"name\": \"x\"}]')");
  receive(url);
  ASSERT_EQ(query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job), "141");
  const std::string error = refusal(url, "UPDATE al.jobs SET jobstatus = 999 WHERE job_id = " + job);
  EXPECT_NE(error.find("JOBS " + job + ": illegal status change 141 -> 999"), std::string::npos) << "got: " << error;
  EXPECT_EQ(query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job), "141");
  const std::string unknown_code = refusal(url, "UPDATE al.jobs SET jobstatus = 12345 WHERE job_id = " + job);
  EXPECT_FALSE(unknown_code.empty()) << "an unknown code must be refused";
}

TEST_P(BadRecord, FailsAloneAt241WithTheProblemNamedWhileGoodRecordsComplete) {
  const RecordCase& c = GetParam();
  const std::string db = "bad_record_" + c.name;
  std::string lower;
  for (char ch : db) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::string url = al::test::fresh_database(lower);
  std::string label = c.name;  // a domain has no underscores
  for (auto& ch : label) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::string domain = f::unique("bad-" + label) + ".example";
  f::put_letter_template(url);
  al::test::LineProcesses line(lower, url);
  f::tune_for_faults(line);
  const auto pids = f::start_line(line);
  auto records = f::email_records(3, domain);
  records.insert(records.begin() + 1, c.record);
  const std::string job = f::submit(url, records);

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(20);
  EXPECT_EQ(query_value(url, "SELECT trnstatus FROM al.trns WHERE job_id = " + job + " AND seq = 2"), "241");
  const std::string error = query_value(url, "SELECT error FROM al.trns WHERE job_id = " + job + " AND seq = 2");
  EXPECT_NE(error.find(c.error), std::string::npos) << "got '" << error.substr(0, 300) << "', want '" << c.error << "'";
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "created with 1 errors");
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job), "3");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps r JOIN al.trns t USING (trn_id) WHERE t.seq = 2 AND r.job_id = " + job), "0");
  for (const auto& [program, pid] : pids) EXPECT_TRUE(f::running(pid)) << program << " exited on bad input";
}

INSTANTIATE_TEST_SUITE_P(BadInput, BadRecord, ::testing::ValuesIn(record_cases()),
                         [](const ::testing::TestParamInfo<RecordCase>& info) { return info.param.name; });

TEST(BadInput, LineBreakInAValueThatReachesTheSubjectFailsThatRecipientAndSendsNoBcc) {
  const std::string url = al::test::fresh_database("bad_header_injection");
  const std::string domain = f::unique("bad-header") + ".example";
  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  f::put_letter_template(url, "{{name}}");
  al::test::LineProcesses line("bad_header_injection", url);
  f::tune_for_faults(line);
  const auto pids = f::start_line(line);
  auto records = f::email_records(4, domain);
  records[1]["name"] = "x\r\nBcc: evil@" + domain;
  records[2]["name"] = "y\nX-Injected: 1";
  const std::string job = f::submit(url, records);

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(20);
  for (int i : {2, 3}) {
    const std::string rcp = "p" + std::to_string(i) + "@" + domain;
    EXPECT_EQ(query_value(url, "SELECT rcpstatus FROM al.rcps WHERE address = '" + rcp + "'"), "641") << rcp;
    const std::string error = query_value(url, "SELECT error FROM al.rcps WHERE address = '" + rcp + "'");
    EXPECT_NE(error.find("header injection"), std::string::npos) << rcp << ": got '" << error << "'";
  }
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts.count("evil@" + domain), 0u);
  for (const auto& text : f::mails(maildir, domain)) {
    EXPECT_EQ(text.find("\nBcc:"), std::string::npos) << text.substr(0, 400);
    EXPECT_EQ(text.find("\nX-Injected:"), std::string::npos) << text.substr(0, 400);
  }
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "created with 2 errors");
  for (const auto& [program, pid] : pids) EXPECT_TRUE(f::running(pid)) << program;
}

TEST(BadInput, SqlLookingTextIsStoredAndRenderedLiterally) {
  const std::string url = al::test::fresh_database("bad_sql_text");
  const std::string domain = f::unique("bad-sql") + ".example";
  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  f::put_letter_template(url);
  al::test::LineProcesses line("bad_sql_text", url);
  f::tune_for_faults(line);
  f::start_line(line);
  const std::string evil = "Robert'); DROP TABLE al.jobs; --";
  const std::string evil_n = "1; SELECT pg_sleep(30) /* $1 */";
  auto records = f::email_records(2, domain);
  records[0]["name"] = evil;
  records[0]["n"] = evil_n;
  const std::string job = f::submit(url, records);

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(20);
  EXPECT_EQ(query_value(url, "SELECT data->>'name' FROM al.trns WHERE job_id = " + job + " AND seq = 1"), evil);
  EXPECT_EQ(query_value(url, "SELECT data->>'n' FROM al.trns WHERE job_id = " + job + " AND seq = 1"), evil_n);
  const std::string html = query_value(
      url, "SELECT d.html FROM al.documents d JOIN al.trns t USING (trn_id) WHERE t.job_id = " + job + " AND t.seq = 1");
  // Mustache escapes HTML (' → &#39;); the SQL text itself arrives unchanged.
  EXPECT_NE(html.find("DROP TABLE al.jobs; --"), std::string::npos) << html;
  EXPECT_NE(html.find("SELECT pg_sleep(30) /* $1 */"), std::string::npos) << html;
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job), "2");
  EXPECT_EQ(f::mail_counts(maildir, domain).size(), 2u);
}

TEST(BadInput, HundredThousandRecordsInOneCallAreAcceptedAndIdentified) {
  const std::string url = al::test::fresh_database("bad_100k");
  f::put_letter_template(url);
  al::test::LineProcesses line("bad_100k", url);
  line.set("AL_LOG_LEVEL", "info");
  line.start("al-scheduler");
  line.start("al-identifier");
  std::string records = "[";
  for (int i = 1; i <= 100000; ++i) {
    if (i > 1) records += ',';
    records += "{\"name\":\"P" + std::to_string(i) + "\",\"n\":" + std::to_string(i) +
               ",\"recipients\":[{\"channel\":\"email\",\"address\":\"p" + std::to_string(i) + "@big.example\"}]}";
  }
  records += ']';
  const auto started = std::chrono::steady_clock::now();
  std::string job;
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    job = tx.exec_params("SELECT al.submit_job('letter', $1::jsonb)", records)[0][0].as<std::string>();
    tx.commit();
  }
  const double submit_s = f::seconds_since(started);
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "211", 120), "211")
      << line.log_tail(20);
  std::printf("[ figures  ] 100 000 records: submit_job %.2f s, identified (JOBS 211) after %.2f s\n", submit_s,
              f::seconds_since(started));
  EXPECT_EQ(query_value(url, "SELECT n_records FROM al.jobs WHERE job_id = " + job), "100000");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job + " AND trnstatus = 211"), "100000");
  EXPECT_TRUE(line.stop_all()) << line.log_tail(20);
}
