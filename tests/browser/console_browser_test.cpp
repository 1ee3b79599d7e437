// Browser: the web console (docs/console.md) in headless Chromium. A real
// line and a real al-console on a fresh database; tests/browser/console.spec.mjs
// (playwright-core, axe-core, installed by tests/browser/setup into the folder
// AL_TEST_BROWSER_NODE_PATH names) signs in, watches jobs arrive live, filters,
// sorts and exports processes, reattempts failed items, checks what a viewer
// may not do, and runs axe on every page. Its screenshots stay in
// AL_TEST_TMP/browser_console/screenshots.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/line_process.hpp"
#include "support/test_env.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace {

constexpr int console_start_timeout_s = 20;
constexpr int spec_timeout_s = 180;  // the spec gives up by itself after 150 s

struct Finished {
  int exit_code = -1;  // -1: killed (timeout or signal)
  std::string output;  // stdout and stderr together
};

// Runs argv in `cwd` with the environment plus `extra`, in a process group of
// its own so that a timeout also ends the Chromium it started.
Finished run_program(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra,
                     const std::string& cwd, int timeout_s) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (extra.count(entry.substr(0, entry.find('='))) == 0) env_strings.push_back(entry);
  }
  for (const auto& [key, value] : extra) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  int out[2];
  if (::pipe(out) != 0) return {-1, std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = ::fork();
  if (pid < 0) return {-1, std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::close(out[0]);
    ::close(out[1]);
    if (::chdir(cwd.c_str()) != 0) {
      std::perror(cwd.c_str());
      ::_exit(127);
    }
    ::execvpe(argp[0], argp.data(), envp.data());
    std::perror(argp[0]);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(out[1]);

  Finished done;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  bool timed_out = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{out[0], POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;  // EOF: the program (and whatever inherited the pipe) is done writing
    done.output.append(buffer, static_cast<size_t>(n));
  }
  ::close(out[0]);
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    done.output += "\n[killed after " + std::to_string(timeout_s) + " s]\n";
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!timed_out && WIFEXITED(status)) done.exit_code = WEXITSTATUS(status);
  return done;
}

// The status code of GET `path` on 127.0.0.1:`port`, or -1 if nothing answers.
int http_status(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  int status = -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buffer[64] = {};
      const ssize_t n = ::recv(fd, buffer, sizeof buffer - 1, 0);
      // "HTTP/1.1 401 Unauthorized"
      if (n > 12 && std::strncmp(buffer, "HTTP/1.", 7) == 0) status = std::atoi(buffer + 9);
    }
  }
  ::close(fd);
  return status;
}

// A console.accounts entry made the documented way: the password on stdin.
std::string account_entry(const std::string& name, const std::string& role, const std::string& password) {
  // The passwords are ours and hold no quotes.
  std::string line = al::test::run_command("printf '%s\\n' '" + password + "' | '" + std::string(AL_BIN_DIR) +
                                           "/al-console' hash-password " + name + " " + role + " 2>&1");
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

}  // namespace

TEST(ConsoleBrowser, OperatorAndViewerWorkThroughJobsProcessesAndTheBoardInChromium) {
  const char* node_path = std::getenv("AL_TEST_BROWSER_NODE_PATH");
  ASSERT_TRUE(node_path != nullptr && *node_path != '\0')
      << "AL_TEST_BROWSER_NODE_PATH is not set: run the tests through ./scripts/test, which runs "
         "tests/browser/setup DIR and exports DIR/node_modules; by hand: tests/browser/setup /tmp/al-browser && "
         "export AL_TEST_BROWSER_NODE_PATH=/tmp/al-browser/node_modules";
  ASSERT_TRUE(fs::is_directory(fs::path(node_path) / "playwright-core"))
      << "AL_TEST_BROWSER_NODE_PATH=" << node_path << " holds no playwright-core: run tests/browser/setup DIR";
  ASSERT_TRUE(fs::exists(std::string(AL_BIN_DIR) + "/al-console")) << "no " << AL_BIN_DIR << "/al-console: build it";

  const std::string url = al::test::fresh_database("browser_console");
  al::test::LineProcesses line("browser_console", url);
  line.start_all();

  const std::string olga_password = "olga-operates-" + std::to_string(::getpid());
  const std::string victor_password = "victor-views-" + std::to_string(::getpid());
  const std::string olga = account_entry("olga", "operator", olga_password);
  const std::string victor = account_entry("victor", "viewer", victor_password);
  ASSERT_EQ(olga.rfind("olga:operator:", 0), 0u) << "al-console hash-password olga operator printed: " << olga;
  ASSERT_EQ(victor.rfind("victor:viewer:", 0), 0u) << "al-console hash-password victor viewer printed: " << victor;

  const int port = al::test::free_port();
  const std::string console_url = "http://127.0.0.1:" + std::to_string(port);
  line.set("AL_CONSOLE_LISTEN", "127.0.0.1:" + std::to_string(port));
  line.set("AL_CONSOLE_ACCOUNTS", olga + "," + victor);
  const pid_t console = line.start("al-console");

  // Up when the API answers; 401 because nobody is signed in.
  int status = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(console_start_timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    status = http_status(port, "/api/session");
    if (status != -1) break;
    int wait_status = 0;
    ASSERT_NE(::waitpid(console, &wait_status, WNOHANG), console)
        << "al-console exited before it served anything; logs:\n" << line.log_tail(25);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(status, 401) << "GET " << console_url << "/api/session: got " << status
                         << " (-1: no answer within " << console_start_timeout_s << " s), want 401; logs:\n"
                         << line.log_tail(25);

  std::map<std::string, std::string> env = {
      {"CONSOLE_URL", console_url},
      {"DATABASE_URL", url},
      {"OLGA_PASSWORD", olga_password},
      {"VICTOR_PASSWORD", victor_password},
      {"SCREENSHOT_DIR", line.dir() + "/screenshots"},
      {"NODE_PATH", node_path},
  };
  // ./scripts/test unsets AL_* but AL_TEST_*: this one survives and names
  // where fresh docs/console-*.png go.
  if (const char* update = std::getenv("AL_TEST_UPDATE_SCREENSHOTS_DIR"); update != nullptr && *update != '\0')
    env["AL_UPDATE_SCREENSHOTS_DIR"] = update;

  const auto spec = run_program({"node", "tests/browser/console.spec.mjs"}, env, AL_SOURCE_DIR, spec_timeout_s);
  ASSERT_EQ(spec.exit_code, 0) << "tests/browser/console.spec.mjs: exit code " << spec.exit_code
                               << " (-1: killed), want 0; screenshots in " << line.dir()
                               << "/screenshots; its output:\n"
                               << spec.output << "\nthe line's logs:\n"
                               << line.log_tail(25);
  std::printf("%s", spec.output.c_str());

  EXPECT_TRUE(line.stop_all()) << "a process (the console among them) did not stop cleanly on SIGTERM; logs:\n"
                               << line.log_tail();
}
