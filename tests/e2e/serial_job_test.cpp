// End to end: a serial job of 200 records through all seven stages on real
// PostgreSQL, real processes, a real SMTP server and a real webhook receiver.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <unistd.h>

#include "assemblyline/digest.hpp"
#include "assemblyline/tar_archive.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

namespace fs = std::filesystem;
using al::test::query_value;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Expected {
  int email = 0, print = 0, file = 0, invalid = 0, excluded = 0;
};

// Record i has one recipient, its channel by i % 3; five records lack the
// required field `name`; three e-mail addresses are opted out.
nlohmann::json make_records(const std::string& domain, Expected& want) {
  const std::set<int> invalid = {10, 50, 90, 130, 170};
  const std::set<int> opted_out = {3, 6, 9};
  nlohmann::json records = nlohmann::json::array();
  for (int i = 1; i <= 200; ++i) {
    nlohmann::json r = {{"balance", i * 10}, {"zip", std::to_string(10000 + (i * 7919) % 90000)}};
    if (!invalid.count(i)) r["name"] = "Person " + std::to_string(i);
    nlohmann::json rcp;
    switch (i % 3) {
      case 0: rcp = {{"channel", "email"}, {"address", "person" + std::to_string(i) + "@" + domain}}; break;
      case 1: rcp = {{"channel", "print"}, {"address", "Person " + std::to_string(i) + "\nMain Street " + std::to_string(i) + "\n1000 Town"}}; break;
      default: rcp = {{"channel", "file"}, {"address", "letters/person" + std::to_string(i) + ".html"}}; break;
    }
    r["recipients"] = nlohmann::json::array({rcp});
    records.push_back(r);
    if (invalid.count(i)) {
      ++want.invalid;
    } else if (i % 3 == 0 && opted_out.count(i)) {
      ++want.excluded;
    } else {
      ++(i % 3 == 0 ? want.email : i % 3 == 1 ? want.print : want.file);
    }
  }
  return records;
}

}  // namespace

TEST(SerialJob, TwoHundredRecordsReachCompletionWithEveryOutputInPlace) {
  const std::string url = al::test::fresh_database("e2e_serial");
  const std::string domain = "e2e-" + std::to_string(::getpid()) + ".example";
  const std::string hook_path = "/hook/e2e-serial-" + std::to_string(::getpid());
  Expected want;
  const nlohmann::json records = make_records(domain, want);
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("UPDATE al.settings SET value = 'on' WHERE key = 'history_items'");
    tx.exec("SELECT al.put_template('statement', '<h1>Dear {{name}}</h1><p>Your balance is {{balance}} EUR.</p>', "
            "'Statement for {{name}}', '{name}', 'zip')");
    for (int i : {3, 6, 9}) {
      tx.exec_params("INSERT INTO al.contact_preferences (address, channel, opted_out, reason) "
                     "VALUES ($1, 'email', true, 'no advertising')",
                     "person" + std::to_string(i) + "@" + domain);
    }
    tx.commit();
  }

  al::test::LineProcesses line("e2e_serial", url);
  const std::string secret = "e2e webhook secret";
  line.set("AL_WEBHOOK_SECRET", secret);
  line.start_all();
  const auto started = std::chrono::steady_clock::now();
  const std::string job_id = [&] {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    auto r = tx.exec_params("SELECT al.submit_job('statement', $1::jsonb, project => 'e2e', callback_url => $2)",
                            records.dump(), al::test::env("AL_TEST_WEBHOOK_URL").substr(0, al::test::env("AL_TEST_WEBHOOK_URL").rfind('/')) + hook_path);
    tx.commit();
    return r[0][0].as<std::string>();
  }();

  const std::string status =
      al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job_id, "999", 120);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(status, "999") << "job did not complete; logs:\n" << line.log_tail();
  std::printf("[ figures  ] 200-record job: insert -> 999 in %.2f s\n", seconds);

  EXPECT_EQ(query_value(url, "SELECT state FROM al.job_overview WHERE job_id = " + job_id),
            "created with " + std::to_string(want.invalid) + " errors");
  EXPECT_EQ(query_value(url, "SELECT recipients_excluded FROM al.job_overview WHERE job_id = " + job_id),
            std::to_string(want.excluded));
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job_id),
            std::to_string(want.email + want.print + want.file));

  // SMTP: exactly one message per delivered e-mail recipient, with its body.
  std::map<std::string, int> messages_per_rcpt;
  for (const auto& entry : fs::directory_iterator(fs::path(al::test::env("AL_TEST_MAILDIR")) / "new")) {
    const std::string text = read_file(entry.path());
    const auto at = text.find("X-RcptTo: ");
    if (at == std::string::npos) continue;
    const std::string rcpt = text.substr(at + 10, text.find('\n', at) - at - 10);
    if (rcpt.find("@" + domain) == std::string::npos) continue;
    ++messages_per_rcpt[rcpt];
    const std::string number = rcpt.substr(6, rcpt.find('@') - 6);
    EXPECT_NE(text.find("Dear Person " + number), std::string::npos) << "message to " << rcpt << " lacks its body";
    EXPECT_NE(text.find("Subject: Statement for Person " + number), std::string::npos) << rcpt;
  }
  EXPECT_EQ(static_cast<int>(messages_per_rcpt.size()), want.email);
  for (const auto& [rcpt, n] : messages_per_rcpt) EXPECT_EQ(n, 1) << rcpt << " got " << n << " messages";
  for (int i : {3, 6, 9}) EXPECT_EQ(messages_per_rcpt.count("person" + std::to_string(i) + "@" + domain), 0u);

  // Print: at least one page per print recipient, across the spool's PDFs.
  int pages = 0;
  for (const auto& entry : fs::directory_iterator(line.storage("spool"))) {
    const std::string info = al::test::run_command("pdfinfo '" + entry.path().string() + "' 2>/dev/null");
    const auto at = info.find("Pages:");
    ASSERT_NE(at, std::string::npos) << entry.path() << " is not a PDF pdfinfo can read";
    pages += std::stoi(info.substr(at + 6));
  }
  EXPECT_GE(pages, want.print);

  // Files: one per file recipient.
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(line.storage("outbox"))) files += entry.is_regular_file();
  EXPECT_EQ(files, want.file);

  // Archive: one tar file per batch, which tar itself lists; every manifest
  // entry's file has the checksum the manifest says.
  int archived = 0;
  for (const auto& entry : fs::recursive_directory_iterator(line.storage("archive"))) {
    if (!entry.is_regular_file()) continue;
    ASSERT_EQ(entry.path().extension(), ".tar") << entry.path();
    EXPECT_NE(al::test::run_command("tar -tf '" + entry.path().string() + "'").find("manifest.json"), std::string::npos)
        << entry.path() << " is not a tar file that tar lists with its manifest";
    std::map<std::string, std::string> files;
    for (auto& [name, bytes] : al::read_tar(read_file(entry.path()))) files[name] = std::move(bytes);
    const auto manifest = nlohmann::json::parse(files.at("manifest.json"));
    for (const auto& pub : manifest["publications"]) {
      ASSERT_EQ(files.count(pub["file"].get<std::string>()), 1u) << pub.dump();
      EXPECT_EQ(al::sha256_hex(files.at(pub["file"].get<std::string>())), pub["sha256"].get<std::string>()) << pub.dump();
      ++archived;
    }
  }
  EXPECT_EQ(archived, want.email + want.file + 1) << "one publication per e-mail and file recipient, one print stream";

  // Webhook: the summary reached the receiver.
  bool hooked = false;
  for (int waited = 0; waited < 100 && !hooked; ++waited) {
    std::ifstream log(al::test::env("AL_TEST_WEBHOOK_LOG"));
    for (std::string l; std::getline(log, l);) {
      const auto hit = nlohmann::json::parse(l, nullptr, false);
      if (hit.is_discarded() || hit.value("path", "") != hook_path) continue;
      const auto body = nlohmann::json::parse(hit.value("body", ""), nullptr, false);
      if (!body.is_discarded() && std::to_string(body.value("job_id", 0L)) == job_id) {
        hooked = true;
        EXPECT_EQ(body.value("errors", -1), want.invalid) << body.dump();
        // The receiver checks X-AL-Signature as docs/protocol.md tells it to.
        std::string signature;
        const auto headers = hit.value("headers", nlohmann::json::object());
        for (const auto& [name, value] : headers.items()) {
          std::string lower = name;
          for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (lower == "x-al-signature") signature = value.get<std::string>();
        }
        EXPECT_EQ(signature, "sha256=" + al::hmac_sha256_hex(secret, hit.value("body", ""))) << hit.dump();
      }
    }
    if (!hooked) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(hooked) << "no webhook POST for job " << job_id << " at " << hook_path;

  // Every status change on record is a legal move.
  EXPECT_EQ(query_value(url,
                        "SELECT count(*) FROM al.status_history h WHERE h.old_status IS NOT NULL AND NOT EXISTS "
                        "(SELECT 1 FROM al.status_transitions t WHERE t.object = h.object "
                        " AND t.from_code = h.old_status AND t.to_code = h.new_status)"),
            "0");
  EXPECT_NE(query_value(url, "SELECT count(*) FROM al.status_history WHERE object = 'RCPS'"), "0");
  // Publications are written at 511 (sql/042); their history still shows
  // the presenter's 490 -> 511, once, and the rest of their way to 999.
  EXPECT_EQ(query_value(url,
                        "SELECT count(*) FROM al.pubs p WHERE (SELECT array_agg(h.old_status || '>' || h.new_status "
                        "ORDER BY h.new_status) FROM al.status_history h WHERE h.object = 'PUBS' AND h.id = p.pub_id) "
                        "IS DISTINCT FROM '{490>511,511>611,611>711,711>999}'"),
            "0");
  EXPECT_NE(query_value(url, "SELECT count(*) FROM al.pubs"), "0");

  EXPECT_TRUE(line.stop_all()) << "a process did not stop cleanly on SIGTERM; logs:\n" << line.log_tail();
}
