// al-console's JSON API over real HTTP against a real line: sign-in, roles
// and CSRF; the processes list filtered, sorted and paged against the
// database's own answer; the CSV export; the bound on event streams.
#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "password_hash.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

namespace {

using al::test::query_value;
using nlohmann::json;

constexpr int recipients = 120;

// A signed-in (or not) client of the console.
class ConsoleClient {
public:
  explicit ConsoleClient(int port) : m_http("127.0.0.1", port) { m_http.set_read_timeout(10); }

  httplib::Result sign_in(const std::string& user, const std::string& password) {
    auto res = m_http.Post("/api/session", json{{"user", user}, {"password", password}}.dump(), "application/json");
    if (res && res->status == 200) {
      const auto set_cookie = res->get_header_value("Set-Cookie");
      m_cookie = set_cookie.substr(0, set_cookie.find(';'));
      m_csrf = json::parse(res->body)["csrf"];
    }
    return res;
  }
  httplib::Result get(const std::string& path) { return m_http.Get(path.c_str(), headers(false)); }
  httplib::Result post(const std::string& path, bool with_csrf = true) {
    return m_http.Post(path.c_str(), headers(with_csrf), "", "application/json");
  }
  [[nodiscard]] const std::string& cookie() const { return m_cookie; }
  json get_json(const std::string& path) {
    auto res = get(path);
    if (!res) throw std::runtime_error("GET " + path + ": no answer");
    if (res->status != 200) throw std::runtime_error("GET " + path + ": " + std::to_string(res->status) + " " + res->body);
    return json::parse(res->body);
  }

private:
  httplib::Headers headers(bool with_csrf) const {
    httplib::Headers h;
    if (!m_cookie.empty()) h.emplace("Cookie", m_cookie);
    if (with_csrf && !m_csrf.empty()) h.emplace("X-CSRF-Token", m_csrf);
    return h;
  }
  httplib::Client m_http;
  std::string m_cookie, m_csrf;
};

class ConsoleApi : public ::testing::Test {
protected:
  // ctest runs tests side by side: each gets a database and a scratch directory of its own.
  void prepare(const std::string& test) {
    const std::string name = "console_" + test;
    m_url = al::test::fresh_database(name);
    m_port = al::test::free_port();
    m_line = std::make_unique<al::test::LineProcesses>(name, m_url);
    m_line->set("AL_CONSOLE_LISTEN", "127.0.0.1:" + std::to_string(m_port));
    m_line->set("AL_CONSOLE_ACCOUNTS", "olga:operator:" + al::console::hash_password("olga-pw", 1000) +
                                          ",victor:viewer:" + al::console::hash_password("victor-pw", 1000));
    m_line->set("AL_CONSOLE_THREADS", "4");
    m_line->set("AL_CONSOLE_MAX_EVENT_STREAMS", "1");
  }

  void start_console() {
    m_line->start("al-console");
    for (int i = 0; i < 100; ++i) {
      if (ConsoleClient(m_port).get("/api/session")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "al-console did not answer on port " << m_port << "\n" << m_line->log_tail();
  }

  // One job through the whole line: `recipients` file recipients with
  // addresses in scrambled order, an agent that starts like a formula.
  std::string run_job() {
    json records = json::array();
    for (int i = 1; i <= recipients; ++i) {
      const int scrambled = (i * 37) % recipients;
      records.push_back({{"name", "Person " + std::to_string(i)},
                         {"recipients", json::array({{{"channel", "file"},
                                                      {"address", "letters/p" + std::to_string(1000 + scrambled) +
                                                                      ".html"}}})}});
    }
    pqxx::connection conn(m_url);
    pqxx::work tx(conn);
    tx.exec("SELECT al.put_template('letter', '<p>Dear {{name}}</p>', 'Letter', '{name}')");
    const auto id = tx.exec_params1("SELECT al.submit_job('letter', $1::jsonb, project => 'console', "
                                    "created_by => '=HYPERLINK(\"x\")')",
                                    records.dump())[0]
                        .as<std::string>();
    tx.commit();
    m_line->start_all();
    EXPECT_EQ(al::test::wait_for_value(m_url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + id, "999", 120), "999")
        << m_line->log_tail();
    return id;
  }

  std::string m_url;
  int m_port = 0;
  std::unique_ptr<al::test::LineProcesses> m_line;
};

TEST_F(ConsoleApi, SignInRolesAndCsrfGuardEveryAction) {
  prepare("auth");
  start_console();
  const std::string job = query_value(m_url, "SELECT al.submit_job('none', '[{\"x\":1}]'::jsonb, 'p')");
  ConsoleClient anonymous(m_port);
  EXPECT_EQ(anonymous.get("/api/jobs")->status, 401);
  EXPECT_EQ(anonymous.sign_in("olga", "wrong")->status, 401);
  EXPECT_EQ(anonymous.sign_in("nobody", "olga-pw")->status, 401);

  ConsoleClient victor(m_port);
  ASSERT_EQ(victor.sign_in("victor", "victor-pw")->status, 200);
  EXPECT_EQ(victor.get_json("/api/session")["role"], "viewer");
  EXPECT_EQ(victor.get_json("/api/jobs")["jobs"][0]["job_id"].dump(), job);
  const auto refused = victor.post("/api/jobs/" + job + "/cancel");
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("operator role"), std::string::npos) << refused->body;

  ConsoleClient olga(m_port);
  ASSERT_EQ(olga.sign_in("olga", "olga-pw")->status, 200);
  EXPECT_EQ(olga.post("/api/jobs/" + job + "/cancel", false)->status, 403) << "a POST without the CSRF token";
  EXPECT_NE(query_value(m_url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job), "888");

  const auto cancelled = olga.post("/api/jobs/" + job + "/cancel");
  EXPECT_EQ(cancelled->status, 200) << cancelled->body;
  EXPECT_EQ(query_value(m_url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + job), "888");
  EXPECT_EQ(query_value(m_url, "SELECT count(*) FROM al.status_history WHERE object = 'JOBS' AND id = " + job +
                                   " AND changed_by = 'console:olga' AND note = 'console cancel: 0 items'"),
            "1");
  const auto again = olga.post("/api/jobs/" + job + "/cancel");
  EXPECT_EQ(again->status, 409);
  EXPECT_NE(again->body.find("already cancelled"), std::string::npos) << again->body;

  EXPECT_EQ(olga.post("/api/session/end")->status, 204);
  EXPECT_EQ(olga.get("/api/jobs")->status, 401) << "the session ended";
}

TEST_F(ConsoleApi, ProcessesFilterSortPageAndExportLikeTheDatabase) {
  prepare("processes");
  const std::string job = run_job();
  start_console();
  ConsoleClient olga(m_port);
  ASSERT_EQ(olga.sign_in("olga", "olga-pw")->status, 200);

  // A second, later job with another template, so the job-level sorts have something to order.
  {
    pqxx::connection conn(m_url);
    pqxx::work tx(conn);
    tx.exec("SELECT al.put_template('memo', '<p>{{name}}</p>', 'Memo', '{name}')");
    json records = json::array();
    for (int i = 1; i <= 7; ++i)
      records.push_back({{"name", "M" + std::to_string(i)},
                         {"recipients", json::array({{{"channel", "file"}, {"address", "memo/m" + std::to_string(i) + ".html"}}})}});
    const auto id = tx.exec_params1("SELECT al.submit_job('memo', $1::jsonb, project => 'console')", records.dump())[0]
                        .as<std::string>();
    tx.commit();
    ASSERT_EQ(al::test::wait_for_value(m_url, "SELECT jobstatus FROM al.jobs WHERE job_id = " + id, "999", 60), "999");
  }

  // Every sort order, paged 50 at a time, is the database's own order.
  const std::vector<std::pair<std::string, std::string>> orders = {
      {"sort=destination&dir=asc", "destination, process"},
      {"sort=destination&dir=desc", "destination DESC, process DESC"},
      {"sort=process&dir=asc", "process"},
      {"dir=desc", "process DESC"},
      {"sort=created_at&dir=desc", "created_at DESC, workflow DESC, process DESC"},
      {"sort=template&dir=asc", "template, workflow, process"},
  };
  for (const auto& [query, order_by] : orders) {
    std::vector<long long> seen;
    std::string path = "/api/processes?limit=50&" + query;
    for (int page = 0; page < 10; ++page) {
      const auto body = olga.get_json(path);
      EXPECT_EQ(body["count"], recipients + 7) << query;
      EXPECT_FALSE(body["count_capped"]);
      for (const auto& row : body["rows"]) seen.push_back(row["process"]);
      if (body["next_after"].is_null()) break;
      path = "/api/processes?limit=50&" + query + "&after=" +
             httplib::detail::encode_query_param(body["next_after"].get<std::string>());
    }
    std::vector<long long> want;
    pqxx::connection conn(m_url);
    pqxx::read_transaction tx(conn);
    for (const auto& row : tx.exec("SELECT process FROM al.processes ORDER BY " + order_by))
      want.push_back(row[0].as<long long>());
    EXPECT_EQ(seen, want) << query;
  }

  // Free text finds one destination; a date range of tomorrow finds nothing.
  const auto one = olga.get_json("/api/processes?q=p1005.html");
  ASSERT_EQ(one["rows"].size(), 1u);
  EXPECT_EQ(one["rows"][0]["destination"], "letters/p1005.html");
  EXPECT_EQ(one["rows"][0]["indicator"], "ok");
  EXPECT_EQ(olga.get_json("/api/processes?from=2999-01-01")["count"], 0);
  const auto details = olga.get_json("/api/processes/" + one["rows"][0]["process"].dump())["process"];
  EXPECT_EQ(details["workflow"].dump(), job);
  EXPECT_EQ(details["token"], query_value(m_url, "SELECT token FROM al.rcps WHERE address = 'letters/p1005.html'"));

  // Parameters that make no sense are named.
  const auto bad = olga.get("/api/processes?sort=colour");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("sort: 'colour' is not one of"), std::string::npos) << bad->body;
  EXPECT_EQ(olga.get("/api/processes?from=yesterday-ish")->status, 400);
  EXPECT_EQ(olga.get("/api/processes/999999")->status, 404);

  // The export: BOM, header, every row, and the formula-like agent neutralised.
  const auto csv = olga.get("/api/processes.csv?sort=destination&dir=asc&template=letter");
  ASSERT_EQ(csv->status, 200);
  ASSERT_EQ(csv->body.rfind("\xEF\xBB\xBF" "process,created_at,project,destination,", 0), 0u) << csv->body.substr(0, 80);
  std::istringstream lines(csv->body);
  std::string line;
  int rows = -1;  // the header
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ++rows;
    if (rows > 0) {
      EXPECT_NE(line.find(",\"'=HYPERLINK(\"\"x\"\")\","), std::string::npos) << line;
    }
  }
  EXPECT_EQ(rows, recipients);
}

TEST_F(ConsoleApi, EventStreamsAreBoundedAndSayWhenSomethingChanged) {
  prepare("events");
  start_console();
  ConsoleClient olga(m_port);
  ASSERT_EQ(olga.sign_in("olga", "olga-pw")->status, 200);

  // The one stream console.max_event_streams allows, read on its own thread.
  std::mutex mutex;
  std::string received;
  std::atomic<bool> changed{false}, stop{false};
  std::thread stream([&] {
    httplib::Client http("127.0.0.1", m_port);
    http.set_read_timeout(15);
    (void)http.Get("/api/events", httplib::Headers{{"Cookie", olga.cookie()}}, [&](const char* data, size_t n) {
      std::lock_guard lock(mutex);
      received.append(data, n);
      if (received.find("event: change") != std::string::npos) changed = true;
      return !changed.load() && !stop.load();
    });
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mutex);
      if (received.find("retry:") != std::string::npos) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto second = olga.get("/api/events");
  EXPECT_EQ(second->status, 503) << "a second stream while console.max_event_streams = 1";

  const auto submitted = std::chrono::steady_clock::now();
  (void)query_value(m_url, "SELECT al.submit_job('none', '[{\"x\":1}]'::jsonb, 'p')");
  while (!changed && std::chrono::steady_clock::now() - submitted < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - submitted);
  stop = true;
  stream.join();
  EXPECT_TRUE(changed) << "no change event within 5 s of a submission; received: " << received;
  EXPECT_LT(waited.count(), 2000) << "pages must hear of a change within 2 s";
}

TEST_F(ConsoleApi, SpeaksHttpsWithACertificateAndRefusesToListenBeyondLoopbackWithout) {
  prepare("tls");
  // Off loopback without TLS: no start, and a line that says what to set.
  m_line->set("AL_CONSOLE_LISTEN", "0.0.0.0:" + std::to_string(m_port));
  const pid_t refused = m_line->start("al-console");
  int status = 0;
  ASSERT_EQ(::waitpid(refused, &status, 0), refused);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "status " << status;
  EXPECT_NE(m_line->log_tail(5).find("is not loopback; set console.tls_cert and console.tls_key"), std::string::npos)
      << m_line->log_tail(5);

  // With a certificate it answers over TLS, and only over TLS.
  const std::string cert = m_line->dir() + "/console.crt", key = m_line->dir() + "/console.key";
  (void)al::test::run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout '" +
                              key + "' -out '" + cert + "' 2>&1");
  m_line->set("AL_CONSOLE_LISTEN", "127.0.0.1:" + std::to_string(m_port));
  m_line->set("AL_CONSOLE_TLS_CERT", cert);
  m_line->set("AL_CONSOLE_TLS_KEY", key);
  m_line->start("al-console");
  httplib::SSLClient https("127.0.0.1", m_port);
  https.set_ca_cert_path(cert.c_str());
  https.enable_server_certificate_verification(true);
  auto answer = https.Post("/api/session", json{{"user", "olga"}, {"password", "olga-pw"}}.dump(), "application/json");
  for (int i = 0; i < 100 && !answer; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    answer = https.Post("/api/session", json{{"user", "olga"}, {"password", "olga-pw"}}.dump(), "application/json");
  }
  ASSERT_TRUE(answer) << "no HTTPS answer\n" << m_line->log_tail();
  EXPECT_EQ(answer->status, 200);
  EXPECT_NE(answer->get_header_value("Set-Cookie").find("; Secure"), std::string::npos)
      << "the session cookie must be Secure under TLS: " << answer->get_header_value("Set-Cookie");
  const auto plain = ConsoleClient(m_port).get("/api/session");
  EXPECT_FALSE(plain && plain->status == 401) << "plain HTTP must not be served on the TLS port";
}

}  // namespace
