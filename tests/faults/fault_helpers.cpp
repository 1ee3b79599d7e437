#include "faults/fault_helpers.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <pqxx/pqxx>

#include "support/test_env.hpp"

namespace fs = std::filesystem;

namespace al::faults {

const std::vector<std::string>& worker_programs() {
  static const std::vector<std::string> programs = {"al-identifier", "al-assembler", "al-distributor",
                                                    "al-presenter",  "al-archiver",  "al-publisher",
                                                    "al-notifier"};
  return programs;
}

void tune_for_faults(test::LineProcesses& line, int batch_size, int trns_batch) {
  line.set("AL_BUS_HEARTBEAT_MS", "200");
  line.set("AL_BUS_PEER_DEAD_MS", "1000");
  line.set("AL_SCHEDULER_POLL_MS", "200");
  line.set("AL_LOG_LEVEL", "info");
  for (const auto& program : worker_programs()) {
    std::string stage = program.substr(3);
    for (auto& c : stage) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    line.set("AL_STAGES_" + stage + "_TIMEOUT_S", "3");
  }
  line.set("AL_STAGES_DISTRIBUTOR_BATCH_SIZE", std::to_string(batch_size));
  line.set("AL_STAGES_ASSEMBLER_BATCH_SIZE", std::to_string(trns_batch));
}

std::map<std::string, pid_t> start_line(test::LineProcesses& line, const std::vector<std::string>& except) {
  std::map<std::string, pid_t> pids;
  pids["al-scheduler"] = line.start("al-scheduler");
  for (const auto& program : worker_programs()) {
    bool skip = false;
    for (const auto& e : except) skip = skip || e == program;
    if (!skip) pids[program] = line.start(program);
  }
  return pids;
}

bool running(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

Helper::Helper(std::vector<std::string> argv, const std::string& log) {
  m_pid = ::fork();
  if (m_pid < 0) throw std::runtime_error("fork failed");
  if (m_pid == 0) {
    ::setpgid(0, 0);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::perror("execv");
    ::_exit(127);
  }
}

Helper::~Helper() { stop(); }

void Helper::stop() {
  if (m_pid <= 0) return;
  ::kill(m_pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(m_pid, SIGKILL);
  ::waitpid(m_pid, &status, 0);
  m_pid = -1;
}

bool wait_for_port(int port, int timeout_s) {
  return wait_until(
      [port] {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port));
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        return ok;
      },
      timeout_s);
}

std::unique_ptr<Helper> start_smtp_sink(int port, const std::string& maildir, const std::string& log, int delay_ms,
                                        const std::string& reject_prefix, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"/usr/bin/python3", std::string(AL_SOURCE_DIR) + "/tests/services/smtp_sink.py",
                                   "--port", std::to_string(port), "--maildir", maildir,
                                   "--delay-ms", std::to_string(delay_ms)};
  if (!reject_prefix.empty()) {
    argv.push_back("--reject-prefix");
    argv.push_back(reject_prefix);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto helper = std::make_unique<Helper>(argv, log);
  if (!wait_for_port(port, 20)) throw std::runtime_error("smtp_sink.py did not listen on port " + std::to_string(port));
  return helper;
}

std::unique_ptr<Helper> start_webhook_receiver(int port, const std::string& jsonl, const std::string& log,
                                               int status) {
  auto helper = std::make_unique<Helper>(
      std::vector<std::string>{"/usr/bin/python3", std::string(AL_SOURCE_DIR) + "/tests/services/webhook_receiver.py",
                               "--port", std::to_string(port), "--log", jsonl, "--status", std::to_string(status)},
      log);
  if (!wait_for_port(port, 20)) {
    throw std::runtime_error("webhook_receiver.py did not listen on port " + std::to_string(port));
  }
  return helper;
}

nlohmann::json email_records(int n, const std::string& domain) {
  nlohmann::json records = nlohmann::json::array();
  for (int i = 1; i <= n; ++i) {
    records.push_back({{"name", "Person " + std::to_string(i)},
                       {"n", i},
                       {"recipients", {{{"channel", "email"}, {"address", "p" + std::to_string(i) + "@" + domain}}}}});
  }
  return records;
}

void put_letter_template(const std::string& url, const std::string& subject, const std::string& required) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  tx.exec_params("SELECT al.put_template('letter', '<p>Dear {{name}}</p><p>Number {{n}}.</p>', $1, $2::text[])",
                 subject, required);
  tx.commit();
}

std::string submit(const std::string& url, const nlohmann::json& records, const std::string& callback_url,
                   const std::string& template_name) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  pqxx::result r;
  if (callback_url.empty()) {
    r = tx.exec_params("SELECT al.submit_job($1, $2::jsonb, project => 'faults')", template_name, records.dump());
  } else {
    r = tx.exec_params("SELECT al.submit_job($1, $2::jsonb, project => 'faults', callback_url => $3)", template_name,
                       records.dump(), callback_url);
  }
  tx.commit();
  return r[0][0].as<std::string>();
}

bool wait_until(const std::function<bool()>& predicate, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (true) {
    try {
      if (predicate()) return true;
    } catch (const std::exception&) {
      // a database that is restarting: keep polling
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::vector<std::string> mails(const std::string& maildir, const std::string& domain) {
  std::vector<std::string> out;
  const fs::path dir = fs::path(maildir) / "new";
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string text = read_text(entry.path().string());
    const auto at = text.find("X-RcptTo: ");
    if (at == std::string::npos) continue;
    const std::string rcpt = text.substr(at + 10, text.find('\n', at) - at - 10);
    if (rcpt.find("@" + domain) == std::string::npos) continue;
    out.push_back(std::move(text));
  }
  return out;
}

std::map<std::string, int> mail_counts(const std::string& maildir, const std::string& domain) {
  std::map<std::string, int> counts;
  for (const auto& text : mails(maildir, domain)) {
    const auto at = text.find("X-RcptTo: ");
    std::string rcpt = text.substr(at + 10, text.find('\n', at) - at - 10);
    while (!rcpt.empty() && (rcpt.back() == '\r' || rcpt.back() == ' ')) rcpt.pop_back();
    ++counts[rcpt];
  }
  return counts;
}

std::string in_flight(const std::string& url, const std::string& job_id) {
  return test::query_value(
      url, "SELECT (SELECT count(*) FROM al.jobs WHERE job_id = " + job_id + " AND jobstatus IN (121, 131)) + "
           "(SELECT count(*) FROM al.trns WHERE job_id = " + job_id + " AND trnstatus % 100 IN (21, 31)) + "
           "(SELECT count(*) FROM al.bchs WHERE job_id = " + job_id + " AND bchstatus % 100 IN (21, 31))");
}

std::string unique(const std::string& base) { return base + "-" + std::to_string(::getpid()); }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double seconds_since(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace al::faults
