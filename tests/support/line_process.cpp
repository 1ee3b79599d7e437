#include "support/line_process.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fcntl.h>

#include "support/test_env.hpp"

extern char** environ;

namespace al::test {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

LineProcesses::LineProcesses(std::string name, std::string database_url) : m_name(std::move(name)) {
  m_dir = env("AL_TEST_TMP") + "/" + m_name;
  std::filesystem::remove_all(m_dir);
  std::filesystem::create_directories(m_dir + "/logs");
  m_env["AL_DATABASE_URL"] = database_url;
  m_env["AL_BUS_ENDPOINT"] = "tcp://127.0.0.1:" + std::to_string(free_port());
  m_env["AL_SMTP_URL"] = env("AL_TEST_SMTP_URL");
  m_env["AL_STORAGE_ARCHIVE_DIR"] = storage("archive");
  m_env["AL_STORAGE_OUTBOX_DIR"] = storage("outbox");
  m_env["AL_STORAGE_SPOOL_DIR"] = storage("spool");
  m_env["AL_LOG_LEVEL"] = "debug";
  // Tests run side by side: each line gets its own metrics port.
  m_env["AL_METRICS_LISTEN"] = "127.0.0.1:" + std::to_string(free_port());
}

LineProcesses::~LineProcesses() { stop_all(5); }

pid_t LineProcesses::start(const std::string& program) {
  const std::string path = std::string(AL_BIN_DIR) + "/" + program;
  const std::string log = m_dir + "/logs/" + program + "." + std::to_string(++m_started) + ".log";
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string key = entry.substr(0, entry.find('='));
    if (m_env.count(key) == 0) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : m_env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    ::execve(path.c_str(), argv, envp.data());
    std::perror("execve");
    ::_exit(127);
  }
  m_children.emplace_back(program, pid);
  return pid;
}

void LineProcesses::start_all() {
  start("al-scheduler");
  for (const char* stage : {"identifier", "assembler", "distributor", "presenter", "archiver", "publisher", "notifier"}) {
    start(std::string("al-") + stage);
  }
}

void LineProcesses::kill(const std::string& program, int signal) {
  for (auto& [name, pid] : m_children) {
    if (name == program && pid > 0) ::kill(pid, signal);
  }
}

bool LineProcesses::stop_all(int grace_s) {
  for (auto& [name, pid] : m_children) {
    if (pid > 0) ::kill(pid, SIGTERM);
  }
  bool clean = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace_s);
  for (auto& [name, pid] : m_children) {
    if (pid <= 0) continue;
    int status = 0;
    while (true) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0) {
        status = 0;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        clean = false;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) clean = false;
    pid = -1;
  }
  m_children.clear();
  return clean;
}

std::string LineProcesses::log_tail(int lines) const {
  std::string out;
  for (const auto& entry : std::filesystem::directory_iterator(m_dir + "/logs")) {
    out += "== " + entry.path().filename().string() + "\n";
    out += run_command("tail -n " + std::to_string(lines) + " '" + entry.path().string() + "'");
  }
  return out;
}

std::string wait_for_value(const std::string& url, const std::string& sql, const std::string& want, int timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::string value;
  while (true) {
    value = query_value(url, sql);
    if (value == want || std::chrono::steady_clock::now() > deadline) return value;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

}  // namespace al::test
