// The processes list (seed process-details.txt): al.processes has one row per
// recipient delivery with its indicator and panels, and `alctl processes`
// filters it and exports it as CSV with spreadsheet formulas neutralised.
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "db/line_driver.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using test::value;

// Record A: two e-mails, the second refused by the publisher (RCPS 641);
// record B: one print recipient; the third record has no name (TRNS 241, no RCPS).
const char* const records = R"([
  {"name": "A", "recipients": [{"channel": "email", "address": "a@example.com"},
                               {"channel": "email", "address": "bad@example.com"}]},
  {"name": "Bertha", "recipients": [{"channel": "print", "address": "B\nStreet 1"}]},
  {"x": 1, "recipients": [{"channel": "file", "address": "x.pdf"}]}])";

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

TEST(Processes, OneRowPerRecipientWithIndicatorFiltersAndCsvExport) {
  const std::string url = test::fresh_database("processes_list");
  auto conn = test::connect(url);
  test::put_template(*conn, "letter");
  value(*conn, std::string("SELECT al.submit_job('letter', '") + records + "'::jsonb, project => '=1+2')");
  test::run_line(*conn, {500, {"bad@example.com"}});

  EXPECT_EQ(value(*conn, "SELECT string_agg(destination || ':' || indicator, ',' ORDER BY process) FROM al.processes"),
            "a@example.com:ok,bad@example.com:error,B\nStreet 1:ok");
  EXPECT_EQ(value(*conn, "SELECT count(DISTINCT token) FROM al.processes"), "3") << "a token per recipient";

  const std::string alctl = "AL_DATABASE_URL='" + url + "' " + AL_BIN_DIR + "/alctl";
  const auto csv = lines(test::run_command(alctl + " --format csv processes --limit 0 2>&1"));
  ASSERT_EQ(csv.size(), 5u) << "header + 3 rows (the print address spans two lines)";
  EXPECT_EQ(csv[0].rfind("process,created_at,project,destination,channel,agent,expires_at", 0), 0u) << csv[0];
  EXPECT_NE(csv[1].find(",'=1+2,"), std::string::npos) << "a formula-looking project is neutralised: " << csv[1];

  EXPECT_EQ(lines(test::run_command(alctl + " --format csv processes --state error")).size(), 2u);
  const auto found = lines(test::run_command(alctl + " --format csv processes --search bertha"));
  ASSERT_EQ(found.size(), 3u) << "search reaches record fields, case-insensitively";
  EXPECT_NE(found[1].find("\"B"), std::string::npos);
  EXPECT_EQ(lines(test::run_command(alctl + " --format csv processes --search nobody")).size(), 1u);
  EXPECT_EQ(lines(test::run_command(alctl + " --format csv processes --since tomorrow")).size(), 1u);

  const std::string first = value(*conn, "SELECT min(process) FROM al.processes");
  const auto page = lines(test::run_command(alctl + " --format csv processes --before " +
                                            std::to_string(std::stoll(first) + 1)));
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[1].rfind(first + ",", 0), 0u) << "--before pages by #";

  EXPECT_EQ(test::run_command(alctl + " processes --state bogus >/dev/null 2>&1; echo $?"), "2\n");
}

// The console's free text searches al.rcps_search: a recipient's destination,
// then its record's field values, one per line (sql/027); not the JSON keys,
// and not the record's other recipients.
TEST(Processes, SearchRowsHoldTheDestinationAndTheRecordsValues) {
  auto conn = test::connect(test::fresh_database("processes_search_rows"));
  test::put_template(*conn, "letter");
  test::submit(*conn, "letter", R"([{"name": "Bertha", "zip": "10115", "note": null,
    "recipients": [{"channel": "email", "address": "b@example.com"}, {"channel": "file", "address": "b.pdf"}]}])");
  test::run_line(*conn);

  EXPECT_EQ(value(*conn, "SELECT string_agg(s.text, '|' ORDER BY s.text) FROM al.rcps_search s"),
            "b.pdf\n10115\nBertha|b@example.com\n10115\nBertha");
}

}  // namespace
}  // namespace al
