// alctl up: the whole line in the foreground. A small supervisor: it starts
// al-scheduler and the configured workers found beside alctl, restarts any
// that exits (backoff 0.5 s doubling to 10 s, reset after a minute of
// uptime), and on SIGINT/SIGTERM stops them all, SIGKILLing stragglers after
// a grace period. Signals arrive through a signalfd, so the loop only sleeps
// in poll() — until a signal or the next scheduled restart.
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "alctl.hpp"
#include "assemblyline/database.hpp"
#include "assemblyline/error.hpp"
#include "assemblyline/log.hpp"
#include "assemblyline/migrations.hpp"

namespace alctl {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds first_backoff{500};
constexpr milliseconds max_backoff{10000};
constexpr auto stable_uptime = std::chrono::seconds(60);

struct UpArgs {
  int grace_s = 15;
  bool migrate = false;
};

struct Child {
  std::string name;     ///< "publisher-2"; "scheduler" for al-scheduler
  std::string program;  ///< absolute path of the binary
  std::vector<std::string> args;
  pid_t pid = 0;        ///< 0: not running
  Clock::time_point started{};
  Clock::time_point restart_at{};
  milliseconds backoff{0};
};

std::string seconds_text(Clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
  return text;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "was killed by signal " + std::to_string(sig) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "") +
           (WCOREDUMP(status) ? ", core dumped" : "");
  }
  return "changed state " + std::to_string(status);
}

class Supervisor {
public:
  Supervisor(std::vector<Child> children, int signal_fd, sigset_t original_mask, int grace_s)
      : m_children(std::move(children)), m_signal_fd(signal_fd), m_original_mask(original_mask), m_grace_s(grace_s) {}

  /// Runs until SIGINT/SIGTERM, then stops every child; returns the exit code.
  int run() {
    for (auto& child : m_children) start(child);
    spdlog::info("up: started {} processes; stop with Ctrl-C or SIGTERM", m_children.size());
    while (!m_stopping) {
      wait_for_event(next_restart_timeout());
      const auto now = Clock::now();
      if (m_stopping) break;
      for (auto& child : m_children)
        if (child.pid == 0 && child.restart_at <= now) start(child);
    }
    return stop();
  }

private:
  void start(Child& child) {
    std::vector<char*> argv;
    argv.push_back(child.program.data());
    for (auto& arg : child.args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      spdlog::error("up: {}: cannot fork: {}; retrying in {}", child.name, std::strerror(errno),
                    seconds_text(max_backoff));
      child.restart_at = Clock::now() + max_backoff;
      return;
    }
    if (pid == 0) {
      // Own process group: a terminal's Ctrl-C reaches alctl only, which stops
      // the children in order; PDEATHSIG stops them if alctl itself is killed.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);
      ::sigprocmask(SIG_SETMASK, &m_original_mask, nullptr);
      ::execv(argv[0], argv.data());
      const std::string message = "alctl: up: cannot run " + child.program + ": " + std::strerror(errno) + "\n";
      [[maybe_unused]] auto n = ::write(STDERR_FILENO, message.data(), message.size());
      ::_exit(127);
    }
    child.pid = pid;
    child.started = Clock::now();
    spdlog::info("up: {}: started {} (pid {})", child.name, child.program, pid);
  }

  int next_restart_timeout() const {
    std::optional<Clock::time_point> next;
    for (const auto& child : m_children)
      if (child.pid == 0 && (!next || child.restart_at < *next)) next = child.restart_at;
    if (!next) return -1;
    const auto wait = std::chrono::ceil<milliseconds>(*next - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(wait, 0, 60000));
  }

  // Sleeps in poll() until a signal arrives or `timeout_ms` passes, then handles the signals.
  void wait_for_event(int timeout_ms) {
    pollfd pfd{m_signal_fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, timeout_ms);
    if (ready < 0 && errno != EINTR) throw al::Error(std::string("up: poll: ") + std::strerror(errno));
    signalfd_siginfo info{};
    while (::read(m_signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGCHLD) continue;  // reaped below, whatever the count of children
      if (m_stopping) {
        m_hurry = true;
        spdlog::warn("up: second {} while stopping: killing what is left", sigabbrev_np(info.ssi_signo));
      } else {
        spdlog::info("up: SIG{} received: stopping the line", sigabbrev_np(info.ssi_signo));
      }
      m_stopping = true;
    }
    reap();
  }

  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      const auto it = std::find_if(m_children.begin(), m_children.end(), [&](const Child& c) { return c.pid == pid; });
      if (it == m_children.end()) continue;
      Child& child = *it;
      const auto now = Clock::now();
      const auto uptime = now - child.started;
      child.pid = 0;
      if (m_stopping) {
        spdlog::info("up: {} (pid {}) {}", child.name, pid, describe_status(status));
        continue;
      }
      child.backoff = uptime >= stable_uptime || child.backoff.count() == 0 ? first_backoff
                                                                            : std::min(child.backoff * 2, max_backoff);
      child.restart_at = now + child.backoff;
      spdlog::warn("up: {} (pid {}) {} after {}; restarting in {}", child.name, pid, describe_status(status),
                   seconds_text(uptime), seconds_text(child.backoff));
    }
  }

  [[nodiscard]] std::size_t running() const {
    return static_cast<std::size_t>(
        std::count_if(m_children.begin(), m_children.end(), [](const Child& c) { return c.pid != 0; }));
  }

  void signal_all(int sig) {
    for (const auto& child : m_children)
      if (child.pid != 0) ::kill(child.pid, sig);
  }

  int stop() {
    signal_all(SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(m_grace_s);
    while (running() > 0 && !m_hurry && Clock::now() < deadline) {
      const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
      wait_for_event(static_cast<int>(std::max<long long>(left, 0)));
    }
    if (running() == 0) {
      spdlog::info("up: every process stopped");
      return 0;
    }
    for (const auto& child : m_children)
      if (child.pid != 0)
        spdlog::warn("up: {} (pid {}) still running {}; sending SIGKILL", child.name, child.pid,
                     m_hurry ? "after a second signal" : "after " + std::to_string(m_grace_s) + " s");
    signal_all(SIGKILL);
    while (running() > 0) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, 0);
      if (pid < 0) break;
      for (auto& child : m_children)
        if (child.pid == pid) child.pid = 0;
    }
    return 1;
  }

  std::vector<Child> m_children;
  int m_signal_fd;
  sigset_t m_original_mask;
  int m_grace_s;
  bool m_stopping = false;
  bool m_hurry = false;
};

std::vector<Child> plan_children(const al::Config& config, const std::filesystem::path& bin_dir,
                                 const std::string& config_path) {
  std::vector<std::string> common;
  if (!config_path.empty()) common = {"--config", std::filesystem::absolute(config_path).string()};

  std::vector<Child> children;
  const auto add = [&](const std::string& program, const std::string& name, bool with_name) {
    const auto path = bin_dir / program;
    if (::access(path.c_str(), X_OK) != 0)
      throw al::Error("up: " + program + " not found in " + bin_dir.string() + " (build it, or set stages." +
                      (program == "al-scheduler" ? std::string("<stage>") : program.substr(3)) +
                      ".enabled to false)");
    Child child;
    child.name = name;
    child.program = path.string();
    child.args = common;
    if (with_name) child.args.insert(child.args.end(), {"--name", name});
    children.push_back(std::move(child));
  };
  add("al-scheduler", "scheduler", false);
  for (const auto& stage : al::stage_names()) {
    const auto& sc = config.stage(stage);
    if (!sc.enabled) continue;  // the scheduler passes a disabled stage's items through
    for (int n = 1; n <= sc.workers; ++n) add("al-" + stage, stage + "-" + std::to_string(n), true);
  }
  return children;
}

int up(Context& ctx, const UpArgs& args) {
  const al::Config& config = ctx.config();
  al::init_logging(config, "alctl");
  const auto bin_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  auto children = plan_children(config, bin_dir, ctx.config_path);

  if (args.migrate) {
    auto conn = al::connect(config.database_url, "alctl");
    const int applied = al::migrate(*conn);
    spdlog::info("up: database: applied {} migrations", applied);
  }

  sigset_t handled, original;
  sigemptyset(&handled);
  for (const int sig : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&handled, sig);
  if (::sigprocmask(SIG_BLOCK, &handled, &original) != 0)
    throw al::Error(std::string("up: sigprocmask: ") + std::strerror(errno));
  const int fd = ::signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw al::Error(std::string("up: signalfd: ") + std::strerror(errno));

  Supervisor supervisor(std::move(children), fd, original, args.grace_s);
  const int code = supervisor.run();
  ::close(fd);
  return code;
}

}  // namespace

void add_up_command(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<UpArgs>();
  auto* sub = app.add_subcommand("up", "run the whole line in the foreground: al-scheduler plus "
                                       "stages.<stage>.workers of each enabled stage, restarted when they exit");
  sub->add_option("--grace-s", args->grace_s, "on stop, seconds to wait before SIGKILL")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  sub->add_flag("--migrate", args->migrate, "apply database migrations first");
  on_run(sub, ctx, [&ctx, args] { return up(ctx, *args); });
}

}  // namespace alctl
