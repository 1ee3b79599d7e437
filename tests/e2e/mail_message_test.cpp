// The e-mails people expect (issue: "messages people expect"): a Mustache
// subject with non-ASCII names, HTML with a plain-text alternative, the
// document as a PDF attachment when the template asks for it, Reply-To from
// the template, Message-ID and Date. Read back from the SMTP sink's Maildir
// with Python's email package, the PDF checked with poppler's pdftotext.
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;

TEST(MailMessage, UnicodeSubjectAlternativeBodiesPdfAttachmentAndReplyTo) {
  const std::string url = al::test::fresh_database("e2e_mail_message");
  const std::string domain = "mail-" + std::to_string(::getpid()) + ".example";
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("SELECT al.put_template('invoice', '<h1>Rechnung</h1><p>Sehr geehrte(r) {{name}}, anbei Ihre Rechnung.</p>', "
            "'Rechnung für {{name}}', '{name}', NULL, attach_pdf => true, reply_to => 'Büro Łódź <office@example.org>')");
    tx.commit();
  }
  al::test::LineProcesses line("e2e_mail_message", url);
  line.start_all();
  const std::string records = R"([{"name": "Jürgen Müller 東京", "recipients": [{"channel": "email", "address": "juergen@)" +
                              domain + R"("}]}])";
  const std::string job = query_value(url, "SELECT al.submit_job('invoice', '" + records + "'::jsonb)");
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail();

  const std::string maildir = al::test::env("AL_TEST_MAILDIR");
  const std::string file = al::test::run_command("grep -l 'X-RcptTo: juergen@" + domain + "' '" + maildir + "'/new/* | head -1");
  ASSERT_FALSE(file.empty()) << "no message for juergen@" << domain;
  const std::string pdf = line.dir() + "/attachment.pdf";
  const std::string script = R"PY(
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1].strip(), 'rb'), policy=email.policy.default)
print('subject:', m['Subject'])
print('reply-to:', m['Reply-To'])
print('message-id:', bool(m['Message-ID']), 'date:', bool(m['Date']))
print('type:', m.get_content_type())
for part in m.walk():
    if part.get_content_type() == 'application/pdf':
        print('attachment:', part.get_filename())
        open(sys.argv[2], 'wb').write(part.get_payload(decode=True))
    elif part.get_content_type() in ('text/plain', 'text/html'):
        print(part.get_content_type() + ':', 'Jürgen Müller 東京' in part.get_content())
)PY";
  const std::string out = al::test::run_command("python3 -c \"$(cat <<'EOF'\n" + script + "\nEOF\n)\" '" + file +
                                                "' '" + pdf + "' 2>&1");
  EXPECT_NE(out.find("subject: Rechnung für Jürgen Müller 東京\n"), std::string::npos) << out;
  EXPECT_NE(out.find("reply-to: Büro Łódź <office@example.org>\n"), std::string::npos) << out;
  EXPECT_NE(out.find("message-id: True date: True\n"), std::string::npos) << out;
  EXPECT_NE(out.find("type: multipart/mixed\n"), std::string::npos) << out;
  EXPECT_NE(out.find("text/plain: True\n"), std::string::npos) << out;
  EXPECT_NE(out.find("text/html: True\n"), std::string::npos) << out;
  EXPECT_NE(out.find("attachment: invoice.pdf\n"), std::string::npos) << out;
  const std::string text = al::test::run_command("pdftotext '" + pdf + "' - 2>&1");
  EXPECT_NE(text.find("Jürgen Müller"), std::string::npos) << text;
  EXPECT_NE(text.find("anbei Ihre Rechnung"), std::string::npos) << text;
}
