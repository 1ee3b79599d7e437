// Large serial jobs (seed serial-jobs-overview.txt: recipients are read in the
// background): a JSONL file is identified in committed chunks, so while it is
// being read the job says "reading recipients" with n_records growing and the
// first records are already assembled. The file is a FIFO the test feeds, so
// "while it is being read" is a state the test holds, not a race it hopes for.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;

namespace {

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    ASSERT_GT(n, 0) << "write to the FIFO failed";
    done += static_cast<std::size_t>(n);
  }
}

std::string jsonl(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) {
    out += R"({"name": "Reader )" + std::to_string(i) + R"(", "recipients": [{"channel": "file", "address": "big/)" +
           std::to_string(i) + ".html\"}]}\n";
  }
  return out;
}

}  // namespace

TEST(LargeFile, JobShowsProgressAndAssemblesWhileTheFileIsStillBeingRead) {
  const std::string url = al::test::fresh_database("e2e_large_file");
  al::test::LineProcesses line("e2e_large_file", url);
  const std::string fifo = line.dir() + "/records.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // O_RDWR: opening does not wait for the reader, and the identifier sees no
  // end of file until the test closes its end.
  const int fd = ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // CLOEXEC: the line's processes must not hold it open
  ASSERT_GE(fd, 0);
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("SELECT al.put_template('letter', '<p>Dear {{name}}</p>', NULL, '{name}')");
    tx.commit();
  }
  line.start_all();
  const std::string job = query_value(url, "SELECT al.submit_job_file('letter', '" + fifo + "')");

  // Four full chunks (250, 500, 1 000 and 2 000 records: the first ones are
  // small so the assemblers start early) and a little more, then the pipe
  // stays open.
  write_all(fd, jsonl(1, 4100));
  EXPECT_EQ(al::test::wait_for_value(url, "SELECT n_records FROM al.jobs WHERE job_id = " + job, "3750", 60), "3750")
      << line.log_tail();
  EXPECT_EQ(query_value(url, "SELECT jobstatus || ' ' || state FROM al.job_overview WHERE job_id = " + job),
            "131 reading recipients");
  EXPECT_EQ(al::test::wait_for_value(url, "SELECT count(*) FROM al.trns WHERE job_id = " + job + " AND trnstatus = 301",
                                     "3750", 60),
            "3750")
      << "records already read are assembled, then wait at the barrier for the rest";
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.rcps WHERE job_id = " + job), "0")
      << "distribution waits until identification is finished";

  write_all(fd, jsonl(4101, 5000));
  ::close(fd);
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 120), "999")
      << line.log_tail();
  EXPECT_EQ(query_value(url, "SELECT n_records || ' ' || recipients_delivered || ' ' || state FROM al.job_overview "
                             "WHERE job_id = " + job),
            "5000 5000 created");  // file recipients: "created"; "sent" is for e-mail
  EXPECT_EQ(query_value(url, "SELECT count(DISTINCT seq) || ' ' || min(seq) || ' ' || max(seq) FROM al.trns "
                             "WHERE job_id = " + job),
            "5000 1 5000");
}
