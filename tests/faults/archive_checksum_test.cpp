// A publication whose bytes changed between presenter and archiver (disk or
// database corruption, a bad manual edit) fails its checksum: that recipient
// ends at 541 with archive_error naming the publication and both checksums,
// the rest of the batch is archived and delivered.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "assemblyline/tar_archive.hpp"
#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

TEST(ArchiveChecksum, CorruptPublicationFailsItsRecipientOnlyAndTheRestIsArchived) {
  const std::string url = al::test::fresh_database("faults_archive_checksum");
  const std::string domain = f::unique("checksum") + ".example";
  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  f::put_letter_template(url);
  al::test::LineProcesses line("faults_archive_checksum", url);
  f::tune_for_faults(line);
  f::start_line(line, {"al-archiver"});
  const std::string job = f::submit(url, f::email_records(6, domain));
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, "SELECT count(*) FROM al.bchs WHERE job_id = " + job + " AND bchstatus = 511") == "1"; }, 30))
      << line.log_tail();

  const std::string victim = query_value(url, "SELECT rcp_id FROM al.rcps WHERE address = 'p3@" + domain + "'");
  query_value(url, "UPDATE al.pubs SET content = convert_to('tampered', 'UTF8') WHERE rcp_id = " + victim + " RETURNING 1");
  line.start("al-archiver");

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  EXPECT_EQ(query_value(url, "SELECT rcpstatus || ' ' || archive_status FROM al.rcps WHERE rcp_id = " + victim), "541 false");
  const std::string error = query_value(url, "SELECT archive_error FROM al.rcps WHERE rcp_id = " + victim);
  EXPECT_NE(error.find("is corrupt: sha256"), std::string::npos) << error;
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps WHERE job_id = " + job +
                             " AND rcpstatus = 999 AND archive_status AND doc_number LIKE 'AL-" + job + "-%'"),
            "5");
  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job), "created with 1 errors");
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 5u);
  EXPECT_EQ(counts.count("p3@" + domain), 0u) << "a recipient whose archive failed is not delivered";
  int archived = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(line.storage("archive") + "/" + job)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    for (const auto& [name, content] : al::read_tar(bytes)) archived += std::filesystem::path(name).extension() == ".eml";
  }
  EXPECT_EQ(archived, 5) << "the batch's tar file holds the five intact messages";
}
