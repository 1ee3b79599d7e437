// The status code table is the one source of truth: the C++ enums
// (assemblyline/status.hpp), the CHECK constraints on the status columns and
// the legal moves in al.status_transitions must all agree with it.
#include "assemblyline/status.hpp"

#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "db/line_driver.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using CodeSet = std::set<std::pair<std::string, int>>;

std::string describe(const CodeSet& codes) {
  std::string s;
  for (const auto& [object, code] : codes) s += (s.empty() ? "" : " ") + object + " " + std::to_string(code);
  return s.empty() ? "(none)" : s;
}

CodeSet table_codes(pqxx::connection& conn) {
  pqxx::work tx(conn);
  CodeSet out;
  for (const auto& row : tx.exec("SELECT object, code FROM al.status_codes")) {
    out.emplace(row[0].c_str(), row[1].as<int>());
  }
  return out;
}

TEST(StatusCodes, EnumsNameExactlyTheCodesOfTheTable) {
  auto conn = test::connect(test::fresh_database("codes_enum"));
  const CodeSet in_table = table_codes(*conn);
  CodeSet in_header;
  for (const auto& c : status_codes()) {
    EXPECT_TRUE(in_header.emplace(std::string(c.object), c.code).second)
        << "status.hpp lists " << c.object << " " << c.code << " twice";
  }

  CodeSet missing_in_header, missing_in_table;
  for (const auto& c : in_table) {
    if (!in_header.count(c)) missing_in_header.insert(c);
  }
  for (const auto& c : in_header) {
    if (!in_table.count(c)) missing_in_table.insert(c);
  }
  EXPECT_TRUE(missing_in_header.empty()) << "in al.status_codes but not in status.hpp: got "
                                         << describe(missing_in_header) << ", want (none)";
  EXPECT_TRUE(missing_in_table.empty()) << "in status.hpp but not in al.status_codes: got "
                                        << describe(missing_in_table) << ", want (none)";
}

TEST(StatusCodes, StatusColumnChecksAcceptExactlyTheCodesOfTheirObject) {
  auto conn = test::connect(test::fresh_database("codes_check"));
  const CodeSet in_table = table_codes(*conn);
  struct Case {
    std::string object, table, column;
  };
  const Case cases[] = {{"JOBS", "jobs", "jobstatus"},
                        {"TRNS", "trns", "trnstatus"},
                        {"RCPS", "rcps", "rcpstatus"},
                        {"BCHS", "bchs", "bchstatus"},
                        {"PUBS", "pubs", "pubstatus"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.object);
    // Every CHECK on the table that mentions the status column; the codes are
    // the integers of its definition (the column names carry no digits).
    // rcps_failed_has_error (sql/021) ties failure codes to an error message;
    // it is not the list of codes.
    pqxx::work tx(*conn);
    auto checks = tx.exec_params(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = ('al.' || $1)::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%' || $2 || '%' "
        "  AND conname <> 'rcps_failed_has_error'",
        c.table, c.column);
    tx.commit();
    ASSERT_EQ(checks.size(), 1u) << "CHECK constraints on al." << c.table << "." << c.column << ": got "
                                 << checks.size() << ", want 1";
    const std::string def = checks[0][1].c_str();
    std::set<int> accepted;
    for (const auto& v : test::int_column(*conn, "SELECT m[1]::int FROM regexp_matches(" +
                                                     conn->quote(def) + ", '(\\d+)', 'g') AS m")) {
      accepted.insert(v);
    }
    std::set<int> known;
    for (const auto& [object, code] : in_table) {
      if (object == c.object) known.insert(code);
    }
    EXPECT_EQ(accepted, known) << checks[0][0].c_str() << " is " << def
                               << "; want exactly the codes of al.status_codes for " << c.object;
  }
}

TEST(StatusCodes, EveryTransitionGoesBetweenKnownCodes) {
  auto conn = test::connect(test::fresh_database("codes_transitions"));
  const auto unknown = test::text_column(*conn, R"(
    SELECT t.object || ' ' || t.from_code || ' -> ' || t.to_code FROM al.status_transitions t
    WHERE NOT EXISTS (SELECT 1 FROM al.status_codes c WHERE c.object = t.object AND c.code = t.from_code)
       OR NOT EXISTS (SELECT 1 FROM al.status_codes c WHERE c.object = t.object AND c.code = t.to_code))");
  EXPECT_TRUE(unknown.empty()) << "transitions with unknown codes: got " << unknown.size() << " (first: "
                               << (unknown.empty() ? "" : unknown.front()) << "), want 0";
}

// The triggers test moves against al.legal_status_moves (sql/039), a constant
// written from the table: it must list exactly the table's moves and the
// two-hop moves of al.finish, and follow the table when it changes.
TEST(StatusCodes, LegalMovesConstantFollowsTheTransitionTable) {
  auto conn = test::connect(test::fresh_database("codes_legal_constant"));
  const std::string differences = R"(
    WITH listed AS (
      SELECT object, from_code * 1000 + to_code AS move FROM al.status_transitions
      UNION SELECT 'TRNS', 231301 UNION SELECT 'TRNS', 331401
      UNION SELECT 'BCHS', 431511 UNION SELECT 'BCHS', 531611 UNION SELECT 'BCHS', 631711 UNION SELECT 'BCHS', 731999),
    constant AS (
      SELECT o.object, unnest(al.legal_status_moves(o.object)) AS move
      FROM (VALUES ('JOBS'), ('TRNS'), ('RCPS'), ('BCHS'), ('PUBS')) AS o(object))
    SELECT count(*) FROM ((TABLE listed EXCEPT TABLE constant) UNION ALL (TABLE constant EXCEPT TABLE listed)) d)";
  EXPECT_EQ(test::int_value(*conn, differences), 0) << "moves in one of al.status_transitions and "
                                                       "al.legal_status_moves but not the other";
  EXPECT_EQ(test::int_value(*conn, "SELECT count(*) FROM al.status_transitions WHERE object = 'PUBS'"),
            test::int_value(*conn, "SELECT cardinality(al.legal_status_moves('PUBS'))"));

  // A move taken out of the table is illegal at once, for the triggers too.
  pqxx::work tx(*conn);
  tx.exec("DELETE FROM al.status_transitions WHERE object = 'PUBS' AND from_code = 511 AND to_code = 611");
  EXPECT_FALSE(tx.exec1("SELECT 511611 = ANY (al.legal_status_moves('PUBS'))")[0].as<bool>())
      << "al.legal_status_moves still lists PUBS 511 -> 611 after it left al.status_transitions";
  EXPECT_FALSE(tx.exec1("SELECT al.status_moves_legal('PUBS', '{511}', '{611}')")[0].as<bool>());
  EXPECT_TRUE(tx.exec1("SELECT al.status_moves_legal('PUBS', '{611}', '{711}')")[0].as<bool>());
  tx.abort();
  EXPECT_TRUE(test::int_value(*conn, "SELECT (511611 = ANY (al.legal_status_moves('PUBS')))::int") == 1)
      << "rolled back, the move is legal again";
}

TEST(StatusCodes, EveryStageHasTheGenericStepFromReadyToProcessed) {
  auto conn = test::connect(test::fresh_database("codes_generic_step"));
  struct Case {
    std::string stage, object;
    int hundreds, processed;
  };
  const Case cases[] = {{"identifier", "JOBS", 1, 211}, {"assembler", "TRNS", 2, 290},
                        {"distributor", "TRNS", 3, 390}, {"presenter", "BCHS", 4, 490},
                        {"archiver", "BCHS", 5, 590},    {"publisher", "BCHS", 6, 690},
                        {"notifier", "BCHS", 7, 790}};
  for (const auto& c : cases) {
    const int h = c.hundreds * 100;
    const std::pair<int, int> moves[] = {{h + 11, h + 21}, {h + 21, h + 31}, {h + 31, c.processed},
                                         {h + 31, h + 41}, {h + 21, h + 11}, {h + 31, h + 11},
                                         {h + 41, h + 11}};
    for (const auto& [from, to] : moves) {
      const int found = test::int_value(*conn, "SELECT count(*) FROM al.status_transitions WHERE object = '" +
                                                   c.object + "' AND from_code = " + std::to_string(from) +
                                                   " AND to_code = " + std::to_string(to));
      EXPECT_EQ(found, 1) << c.stage << ": transition " << c.object << " " << from << " -> " << to
                          << ": got " << found << " rows, want 1";
    }
    // The stage's done code also matches al.stages.
    EXPECT_EQ(test::int_value(*conn, "SELECT done_code FROM al.stages WHERE name = '" + c.stage + "'"),
              c.processed)
        << c.stage << ": al.stages.done_code";
  }
}

}  // namespace
}  // namespace al
