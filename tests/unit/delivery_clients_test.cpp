#include <gtest/gtest.h>

#include "assemblyline/http_client.hpp"
#include "assemblyline/smtp_client.hpp"

// Only the failure paths that need no peer; delivery to real SMTP and HTTP
// servers is covered by the e2e tests.
namespace {

// Port 1 on loopback has no listener: the connection is refused at once.
constexpr char const* unreachable_smtp = "smtp://127.0.0.1:1";
constexpr char const* unreachable_http = "http://127.0.0.1:1/hook";

TEST(SmtpClient, ReportsAnUnreachableServerAsATemporaryFailure) {
  al::SmtpClient client{{.url = unreachable_smtp, .timeout_s = 5}};
  auto const result = client.send("from@example.com", "to@example.org", "Subject: x\r\n\r\nbody\r\n");
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.permanent) << "a refused connection is worth a retry";
  EXPECT_EQ(result.code, 0);
  EXPECT_FALSE(result.reply.empty());
}

TEST(SmtpClient, RefusesLineBreaksInEnvelopeAddressesWithoutSending) {
  al::SmtpClient client{{.url = unreachable_smtp, .timeout_s = 5}};
  auto const result = client.send("from@example.com", "to@example.org\r\nRCPT TO:<x@example.net>", "x");
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(result.permanent);
  EXPECT_NE(result.reply.find("envelope"), std::string::npos) << "got: " << result.reply;
}

TEST(HttpClient, ReportsAnUnreachableUrlWithoutThrowing) {
  auto const result = al::post_json(unreachable_http, "{}", {{"X-Signature", "abc"}}, 5);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.status, 0);
  EXPECT_FALSE(result.error.empty());
}

TEST(HttpClient, RefusesHeaderValuesWithLineBreaks) {
  auto const result = al::post_json(unreachable_http, "{}", {{"X-Signature", "abc\r\nX-Evil: 1"}}, 5);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.error.find("header injection"), std::string::npos) << "got: " << result.error;
}

TEST(HttpClient, RefusesSchemesOtherThanHttp) {
  auto const result = al::post_json("file:///etc/passwd", "{}", {}, 5);
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.error.empty());
}

}  // namespace
