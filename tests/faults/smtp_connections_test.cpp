// smtp.max_connections holds for all publisher processes together: three
// publishers, one connection allowed, a server that counts the connections
// open while each message comes in. Batches that find the slot taken wait
// ("waiting for continuation") and go on by themselves; every recipient gets
// exactly one message.
#include <gtest/gtest.h>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

TEST(SmtpConnections, MaxConnectionsHoldsAcrossAllPublishersAndEveryMessageGoesOnce) {
  const std::string url = al::test::fresh_database("faults_smtp_connections");
  const std::string domain = f::unique("conn") + ".example";
  al::test::LineProcesses line("faults_smtp_connections", url);
  const std::string maildir = line.dir() + "/mail";
  const int smtp_port = al::test::free_port();
  auto sink = f::start_smtp_sink(smtp_port, maildir, line.dir() + "/logs/smtp.log", 20);
  f::put_letter_template(url);
  f::tune_for_faults(line, 4, 4);
  line.set("AL_STAGES_PUBLISHER_TIMEOUT_S", "30");
  line.set("AL_SMTP_URL", "smtp://127.0.0.1:" + std::to_string(smtp_port));
  line.set("AL_SMTP_MAX_CONNECTIONS", "1");
  f::start_line(line);
  line.start("al-publisher");  // three publishers share one connection: the slot is the database's
  line.start("al-publisher");
  const std::string job = f::submit(url, f::email_records(48, domain));

  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 90), "999")
      << line.log_tail(30);
  const auto counts = f::mail_counts(maildir, domain);
  EXPECT_EQ(counts.size(), 48u);
  for (const auto& [rcpt, k] : counts) EXPECT_EQ(k, 1) << rcpt << " got " << k << " messages";
  for (const auto& text : f::mails(maildir, domain)) {
    const auto at = text.find("X-Open-Sessions: ");
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(text.substr(at + 17, text.find_first_of("\r\n", at) - at - 17), "1")
        << "a message came in while more than smtp.max_connections connections were open";
  }
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM al.smtp_connections('smtp://127.0.0.1:" +
                                 std::to_string(smtp_port) + "')"),
            "0")
      << "an idle line holds no connection slot";
}
