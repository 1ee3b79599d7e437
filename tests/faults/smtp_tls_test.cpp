// SMTP over TLS with AUTH (issue: STARTTLS / SMTPS and AUTH from config,
// tested against a local TLS server): the SMTP sink with a certificate made
// for the test by openssl, trusted through smtp.ca_file.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "assemblyline/mime_message.hpp"
#include "assemblyline/smtp_client.hpp"
#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

namespace {

// A self-signed certificate for 127.0.0.1 in `dir`: {cert, key}.
std::pair<std::string, std::string> make_certificate(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  const std::string out = al::test::run_command(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
      "-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' -keyout '" + key + "' -out '" + cert + "' 2>&1");
  if (!std::filesystem::exists(cert)) throw std::runtime_error("openssl failed: " + out);
  return {cert, key};
}

std::string message_to(const std::string& rcpt) {
  al::MailMessage m;
  m.from = "Assembly Line <line@example.org>";
  m.to = rcpt;
  m.subject = "TLS check";
  m.text = "over TLS";
  return al::build_mime(m, 0);
}

}  // namespace

TEST(SmtpTls, StartTlsWithAuthDeliversAndRefusesAWrongPasswordOrAServerWithoutTls) {
  const std::string dir = al::test::env("AL_TEST_TMP") + "/" + f::unique("smtp-starttls");
  const auto [cert, key] = make_certificate(dir);
  const int port = al::test::free_port();
  auto sink = f::start_smtp_sink(port, dir + "/mail", dir + "/smtp.log", 0, "",
                                 {"--tls-cert", cert, "--tls-key", key, "--auth", "al:s3cret"});
  al::SmtpSettings settings;
  settings.url = "smtp://127.0.0.1:" + std::to_string(port);
  settings.starttls = true;
  settings.ca_file = cert;
  settings.username = "al";
  settings.password = "s3cret";
  const auto ok = al::SmtpClient(settings).send("line@example.org", "one@tls.example", message_to("one@tls.example"));
  EXPECT_TRUE(ok.ok) << ok.reply;
  const auto mails = f::mails(dir + "/mail", "tls.example");
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_NE(mails[0].find("X-TLS: yes"), std::string::npos) << mails[0];
  EXPECT_NE(mails[0].find("X-Auth-Login: al"), std::string::npos) << mails[0];

  settings.password = "wrong";
  const auto refused = al::SmtpClient(settings).send("line@example.org", "two@tls.example", message_to("two@tls.example"));
  EXPECT_FALSE(refused.ok);
  EXPECT_TRUE(refused.permanent) << "535 is a permanent refusal: " << refused.reply;

  // A server that offers no STARTTLS: nothing may go out in clear.
  const int plain_port = al::test::free_port();
  auto plain = f::start_smtp_sink(plain_port, dir + "/plain", dir + "/plain.log");
  settings.url = "smtp://127.0.0.1:" + std::to_string(plain_port);
  settings.password = "s3cret";
  const auto clear = al::SmtpClient(settings).send("line@example.org", "three@tls.example", message_to("three@tls.example"));
  EXPECT_FALSE(clear.ok);
  EXPECT_TRUE(f::mails(dir + "/plain", "tls.example").empty());
}

TEST(SmtpTls, TheLineDeliversOverSmtpsWithAuthFromTheConfig) {
  const std::string url = al::test::fresh_database("faults_smtps");
  const std::string domain = f::unique("smtps") + ".example";
  al::test::LineProcesses line("faults_smtps", url);
  const auto [cert, key] = make_certificate(line.dir() + "/tls");
  const int port = al::test::free_port();
  const std::string maildir = line.dir() + "/mail";
  auto sink = f::start_smtp_sink(port, maildir, line.dir() + "/logs/smtp.log", 0, "",
                                 {"--tls-cert", cert, "--tls-key", key, "--smtps", "--auth", "line:pa55"});
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_SMTP_URL", "smtps://127.0.0.1:" + std::to_string(port));
  line.set("AL_SMTP_CA_FILE", cert);
  line.set("AL_SMTP_USERNAME", "line");
  line.set("AL_SMTP_PASSWORD", "pa55");
  f::start_line(line);
  const std::string job = f::submit(url, f::email_records(5, domain));
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job), "5");
  const auto mails = f::mails(maildir, domain);
  ASSERT_EQ(mails.size(), 5u);
  for (const auto& mail : mails) {
    EXPECT_NE(mail.find("X-TLS: yes"), std::string::npos);
    EXPECT_NE(mail.find("X-Auth-Login: line"), std::string::npos);
  }
}
