// Fault 7: the webhook receiver answering 503. The job-done notification is
// retried with backoff (al.job_events.attempts grows, one delivery id for all
// tries), gives up after webhook.max_attempts with the error recorded; the job
// is 999 all along. A receiver that recovers gets the event on a later try.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "faults/fault_helpers.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

using al::test::query_value;
namespace f = al::faults;

namespace {

// The POSTs the receiver logged for `path`: (status answered, X-AL-Delivery).
std::vector<std::pair<int, std::string>> posts(const std::string& jsonl, const std::string& path) {
  std::vector<std::pair<int, std::string>> out;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    const auto hit = nlohmann::json::parse(line, nullptr, false);
    if (hit.is_discarded() || hit.value("path", "") != path) continue;
    std::string delivery;
    const nlohmann::json headers = hit.value("headers", nlohmann::json::object());  // items() must not outlive it
    for (const auto& [k, v] : headers.items()) {
      std::string key = k;
      for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (key == "x-al-delivery" && v.is_string()) delivery = v.get<std::string>();
    }
    out.emplace_back(hit.value("status", 0), delivery);
  }
  return out;
}

}  // namespace

TEST(WebhookOutage, NotificationRetriesWithBackoffThenRecordsTheErrorAndTheJobStays999) {
  const std::string url = al::test::fresh_database("faults_webhook");
  const std::string domain = f::unique("webhook") + ".example";
  al::test::LineProcesses line("faults_webhook", url);
  const std::string jsonl = line.dir() + "/hooks.jsonl";
  const int port = al::test::free_port();
  auto receiver = f::start_webhook_receiver(port, jsonl, line.dir() + "/logs/webhook.log", 503);
  const std::string hook = "http://127.0.0.1:" + std::to_string(port);
  f::put_letter_template(url);
  f::tune_for_faults(line);
  line.set("AL_WEBHOOK_MAX_ATTEMPTS", "3");
  line.set("AL_WEBHOOK_TIMEOUT_S", "2");
  f::start_line(line);

  const std::string job = f::submit(url, f::email_records(5, domain), hook + "/down");
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 60), "999")
      << line.log_tail(30);
  const auto done = std::chrono::steady_clock::now();
  const std::string gave_up_sql = "SELECT count(*) FROM al.job_events WHERE job_id = " + job +
                                  " AND attempts = 3 AND delivered_at IS NULL AND last_error LIKE 'gave up after 3 attempts%'";
  // Backoff 2 s, then 4 s: well under 20 s.
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, gave_up_sql) == "1"; }, 20))
      << query_value(url, "SELECT attempts || ' / ' || coalesce(last_error, '') FROM al.job_events WHERE job_id = " + job)
      << line.log_tail(20);
  const double gave_up_after = f::seconds_since(done);
  std::printf("[ figures  ] webhook 503: gave up after 3 attempts, %.2f s after the job reached 999: %s\n", gave_up_after,
              query_value(url, "SELECT last_error FROM al.job_events WHERE job_id = " + job).c_str());
  EXPECT_GE(gave_up_after, 4.0) << "the retries should back off, not hammer the receiver";
  const auto tries = posts(jsonl, "/down");
  ASSERT_EQ(tries.size(), 3u);
  for (const auto& [status, delivery] : tries) {
    EXPECT_EQ(status, 503);
    EXPECT_EQ(delivery, tries.front().second) << "every try carries the same delivery id";
  }
  EXPECT_FALSE(tries.front().second.empty());
  EXPECT_EQ(query_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job), "999");
  EXPECT_EQ(query_value(url, "SELECT recipients_delivered FROM al.job_overview WHERE job_id = " + job), "5");

  // A receiver that fails twice, then answers 200, gets the event on the third try.
  receiver->stop();
  receiver = f::start_webhook_receiver(port, jsonl, line.dir() + "/logs/webhook.log", 200);
  (void)al::test::run_command("curl -s -X PUT --data 2 " + hook + "/_control/fail-first");
  const std::string job2 = f::submit(url, f::email_records(3, "second-" + domain), hook + "/flaky");
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job2, "999", 60), "999");
  ASSERT_TRUE(f::wait_until([&] { return query_value(url, "SELECT count(*) FROM al.job_events WHERE job_id = " + job2 + " AND delivered_at IS NOT NULL") == "1"; }, 20))
      << line.log_tail(20);
  EXPECT_EQ(query_value(url, "SELECT attempts FROM al.job_events WHERE job_id = " + job2), "3");
  const auto flaky = posts(jsonl, "/flaky");
  ASSERT_EQ(flaky.size(), 3u);
  EXPECT_EQ(flaky[0].first, 503);
  EXPECT_EQ(flaky[2].first, 200);
}
