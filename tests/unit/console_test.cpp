// The console's pieces that need no server: password hashes, the accounts
// entry format, the CSV export's quoting and formula neutralisation, and the
// console.* config checks.
#include <string>

#include <gtest/gtest.h>

#include "accounts.hpp"
#include "assemblyline/config.hpp"
#include "assemblyline/error.hpp"
#include "csv_export.hpp"
#include "password_hash.hpp"

namespace {

using namespace al::console;

TEST(PasswordHash, VerifiesItsOwnHashAndRefusesOtherPasswords) {
  const std::string hash = hash_password("correct horse", 1000);
  EXPECT_EQ(hash.rfind("pbkdf2-sha256$1000$", 0), 0u) << hash;
  EXPECT_TRUE(verify_password("correct horse", hash));
  EXPECT_FALSE(verify_password("correct horsE", hash));
  EXPECT_FALSE(verify_password("", hash));
}

TEST(PasswordHash, SaltsEachHash) {
  EXPECT_NE(hash_password("same", 1000), hash_password("same", 1000));
}

TEST(PasswordHash, RefusesWhatItCannotRead) {
  EXPECT_THROW((void)verify_password("x", "plain"), al::Error);
  EXPECT_THROW((void)verify_password("x", "pbkdf2-sha256$ten$AAAA$AAAA"), al::Error);
  EXPECT_THROW((void)verify_password("x", "pbkdf2-sha256$999$AAAA$AAAA"), al::Error);
  EXPECT_THROW((void)verify_password("x", "pbkdf2-sha256$1000$A$AAAA"), al::Error);
}

TEST(Accounts, ParsesEntriesAndSignsInOnlyWithTheRightPassword) {
  const auto accounts = Accounts::parse("olga:operator:" + hash_password("pw-olga", 1000) + " , victor:viewer:" +
                                        hash_password("pw-victor", 1000));
  EXPECT_EQ(accounts.size(), 2u);
  const auto olga = accounts.sign_in("olga", "pw-olga");
  ASSERT_TRUE(olga);
  EXPECT_EQ(olga->role, Role::operator_);
  EXPECT_EQ(accounts.sign_in("victor", "pw-victor")->role, Role::viewer);
  EXPECT_FALSE(accounts.sign_in("victor", "pw-olga"));
  EXPECT_FALSE(accounts.sign_in("nobody", "pw-olga"));
}

TEST(Accounts, NamesWhatIsWrongWithAnEntry) {
  const std::string hash = hash_password("x", 1000);
  const auto message = [](const std::string& text) {
    try {
      (void)Accounts::parse(text);
    } catch (const al::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("olga").find("is not name:role:hash"), std::string::npos);
  EXPECT_NE(message("olga:admin:" + hash).find("role 'admin' is neither viewer nor operator"), std::string::npos);
  EXPECT_NE(message("ol ga:viewer:" + hash).find("account name 'ol ga'"), std::string::npos);
  EXPECT_NE(message("olga:viewer:plain").find("account olga: password hash"), std::string::npos);
  EXPECT_NE(message("olga:viewer:" + hash + ",olga:operator:" + hash).find("appears twice"), std::string::npos);
  EXPECT_TRUE(Accounts::parse("").empty());
}

TEST(CsvExport, QuotesSeparatorsQuotesAndLineBreaks) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_line({"1", "", "x,y"}), "1,,\"x,y\"\r\n");
}

TEST(CsvExport, NeutralisesWhatASpreadsheetWouldRunAsAFormula) {
  EXPECT_EQ(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(csv_field("+1"), "'+1");
  EXPECT_EQ(csv_field("-2"), "'-2");
  EXPECT_EQ(csv_field("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(csv_field("\tx"), "'\tx");
  EXPECT_EQ(csv_field("a=b"), "a=b");
}

TEST(ConsoleConfig, EventStreamsMustLeaveThreadsFree) {
  EXPECT_THROW((void)al::load_config("", {{"AL_CONSOLE_THREADS", "4"}, {"AL_CONSOLE_MAX_EVENT_STREAMS", "4"}}),
               al::Error);
  EXPECT_NO_THROW((void)al::load_config("", {{"AL_CONSOLE_THREADS", "4"}, {"AL_CONSOLE_MAX_EVENT_STREAMS", "3"}}));
  EXPECT_THROW((void)al::load_config("", {{"AL_CONSOLE_TLS_CERT", "/etc/cert.pem"}}), al::Error);
}

}  // namespace
