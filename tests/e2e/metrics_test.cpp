// Metrics: the leading scheduler serves Prometheus text at metrics.listen with
// the line's counters, histograms and gauges; a standby scheduler binds nothing.
#include <chrono>
#include <string>
#include <thread>

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "support/line_process.hpp"
#include "support/test_env.hpp"

namespace {

// GET `url`; returns the body, or "" when nothing answers (connection refused).
std::string http_get(const std::string& url, long* status = nullptr) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, size * n);
    return size * n;
  });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  if (status) *status = rc == CURLE_OK ? code : -1;
  return rc == CURLE_OK ? body : "";
}

// The value of the first sample line starting with `series` ("name{labels}"), or -1.
double sample(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

std::string scrape_until(const std::string& url, const std::string& series, double at_least, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::string text;
  while (std::chrono::steady_clock::now() < deadline) {
    text = http_get(url);
    if (sample(text, series) >= at_least) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return text;
}

}  // namespace

TEST(Metrics, LeadingSchedulerServesPrometheusTextAndStandbyBindsNothing) {
  const std::string url = al::test::fresh_database("e2e_metrics");
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("SELECT al.put_template('note', '<p>Hello {{name}}</p>', 'Note', '{name}')");
    tx.commit();
  }
  const int port = al::test::free_port();
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  al::test::LineProcesses line("e2e_metrics", url);
  line.set("AL_METRICS_LISTEN", "127.0.0.1:" + std::to_string(port));
  line.start_all();

  const std::string job = al::test::query_value(
      url,
      "SELECT al.submit_job('note', '["
      "{\"name\": \"A\", \"recipients\": [{\"channel\": \"file\", \"address\": \"m/a.html\"}]},"
      "{\"name\": \"B\", \"recipients\": [{\"channel\": \"file\", \"address\": \"m/b.html\"}]},"
      "{\"name\": \"C\", \"recipients\": [{\"channel\": \"print\", \"address\": \"C\\nStreet 1\\n1000 Town\"}]}"
      "]'::jsonb, project => 'metrics')");
  ASSERT_EQ(al::test::wait_for_value(url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job, "999", 90), "999")
      << line.log_tail();

  long status = 0;
  std::string text = http_get(endpoint, &status);
  ASSERT_EQ(status, 200) << "GET " << endpoint << "; logs:\n" << line.log_tail();
  for (const char* name : {"al_stage_items", "al_stage_dispatched_total", "al_stage_completed_total",
                           "al_stage_failed_total", "al_stage_latency_seconds_bucket", "al_stage_latency_seconds_count",
                           "al_workers_connected", "al_stage_oldest_ready_seconds", "al_database_round_trip_seconds",
                           "al_scheduler_leading"}) {
    EXPECT_NE(text.find(std::string("\n") + name), std::string::npos) << "metric " << name << " missing in:\n"
                                                                       << text;
  }
  EXPECT_EQ(sample(text, "al_stage_dispatched_total{stage=\"assembler\"}"), 3) << text;
  EXPECT_EQ(sample(text, "al_stage_completed_total{stage=\"assembler\"}"), 3) << text;
  EXPECT_GE(sample(text, "al_stage_dispatched_total{stage=\"publisher\"}"), 2) << "one file and one print batch\n"
                                                                                << text;
  EXPECT_GE(sample(text, "al_stage_latency_seconds_count{stage=\"assembler\"}"), 1) << text;
  EXPECT_EQ(sample(text, "al_scheduler_leading"), 1) << text;

  // The gauges come from the database every 5 s.
  text = scrape_until(endpoint, "al_workers_connected{stage=\"notifier\"}", 1, 15);
  EXPECT_EQ(sample(text, "al_workers_connected{stage=\"notifier\"}"), 1) << text;
  EXPECT_EQ(sample(text, "al_stage_items{stage=\"assembler\",state=\"ready\"}"), 0) << text;
  EXPECT_GT(sample(text, "al_database_round_trip_seconds"), 0) << text;

  // A standby scheduler does not bind its metrics port.
  const int standby_port = al::test::free_port();
  line.set("AL_METRICS_LISTEN", "127.0.0.1:" + std::to_string(standby_port));
  line.start("al-scheduler");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  http_get("http://127.0.0.1:" + std::to_string(standby_port) + "/metrics", &status);
  EXPECT_EQ(status, -1) << "a standby scheduler answered on its metrics port";
  EXPECT_EQ(http_get(endpoint, &status).empty(), false) << "the leader stopped serving";
  EXPECT_TRUE(line.stop_all()) << line.log_tail();
}
