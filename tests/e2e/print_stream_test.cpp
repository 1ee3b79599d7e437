// Print streams (seed serial-correspondence-de.txt: the sorting of the serial
// letter): a print batch is sorted by the template's field, split into streams
// of at most print.max_pages pages without splitting a letter, two-sided
// (print.duplex: each letter starts on a new sheet), and every recipient's
// archive document number is that of the stream holding its letter.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;

TEST(PrintStream, SortedSplitByPageCountDuplexAndNumberedPerStream) {
  const std::string url = al::test::fresh_database("e2e_print_stream");
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("SELECT al.put_template('letter', '<p>Dear {{name}}</p>', NULL, '{name}', 'zip')");
    tx.commit();
  }
  al::test::LineProcesses line("e2e_print_stream", url);
  line.set("AL_PRINT_DUPLEX", "true");
  line.set("AL_PRINT_MAX_PAGES", "4");
  line.start_all();
  // Six one-page letters, zips out of order: sorted, two per four-page stream.
  std::string records = "[";
  const int zips[] = {60000, 20000, 50000, 10000, 40000, 30000};
  for (int i = 0; i < 6; ++i) {
    const std::string name = "Person" + std::to_string(zips[i] / 10000);
    records += std::string(i ? "," : "") + R"({"name": ")" + name + R"(", "zip": ")" + std::to_string(zips[i]) +
               R"(", "recipients": [{"channel": "print", "address": ")" + name + R"(\nMain Street 1\n)" +
               std::to_string(zips[i]) + R"( Town"}]})";
  }
  const std::string job = query_value(url, "SELECT al.submit_job('letter', '" + records + "]'::jsonb)");
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail();

  EXPECT_EQ(query_value(url, "SELECT string_agg(pages || '/' || sheets || '/' || cardinality(stream_rcps), ' ' ORDER BY pub_id) "
                             "FROM al.pubs WHERE kind = 'print_stream'"),
            "4/2/2 4/2/2 4/2/2")
      << "pages / sheets / letters per stream";
  EXPECT_EQ(query_value(url, "SELECT pages || '/' || sheets FROM al.bchs WHERE job_id = " + job), "12/6");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps r JOIN al.pubs p ON r.rcp_id = ANY (p.stream_rcps) "
                             "WHERE r.doc_number = 'AL-" + job + "-' || p.pub_id"),
            "6")
      << "each recipient carries its own stream's document number";

  const std::string bch = query_value(url, "SELECT bch_id FROM al.bchs WHERE job_id = " + job);
  const std::string first = line.storage("spool") + "/" + job + "-" + bch + "-1.pdf";
  ASSERT_TRUE(std::filesystem::exists(first)) << al::test::run_command("ls -l '" + line.storage("spool") + "'");
  for (int k = 1; k <= 3; ++k) {
    const std::string info = al::test::run_command("pdfinfo '" + line.storage("spool") + "/" + job + "-" + bch + "-" +
                                                   std::to_string(k) + ".pdf' 2>&1");
    const auto at = info.find("Pages:");
    ASSERT_NE(at, std::string::npos) << info;
    EXPECT_EQ(std::stoi(info.substr(at + 6)), 4) << info;
  }
  const std::string text = al::test::run_command("pdftotext '" + first + "' - 2>&1");
  EXPECT_NE(text.find("Dear Person1"), std::string::npos) << text;
  EXPECT_NE(text.find("Dear Person2"), std::string::npos) << text;
  EXPECT_EQ(text.find("Person3"), std::string::npos) << "the lowest zips come first: " << text;
  EXPECT_LT(text.find("Dear Person1"), text.find("Dear Person2"));
}
