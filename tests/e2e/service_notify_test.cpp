// systemd Type=notify: the scheduler and a worker, run under a real
// NOTIFY_SOCKET (an AF_UNIX datagram socket this test owns) with a watchdog
// armed, say READY=1, what they do in STATUS= lines, WATCHDOG=1 at half the
// interval, and STOPPING=1 when they get SIGTERM.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "support/line_process.hpp"
#include "support/test_env.hpp"

namespace {

// The receiving end of NOTIFY_SOCKET: every datagram, in order.
class NotifySocket {
public:
  explicit NotifySocket(std::string path) : m_path(std::move(path)) {
    ::unlink(m_path.c_str());
    m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    m_path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind " + m_path);
  }
  ~NotifySocket() {
    ::close(m_fd);
    ::unlink(m_path.c_str());
  }
  [[nodiscard]] const std::string& path() const { return m_path; }

  /// Reads what arrived; returns every message so far.
  const std::vector<std::string>& drain() {
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(m_fd, buffer, sizeof buffer, 0)) > 0) m_messages.emplace_back(buffer, n);
    return m_messages;
  }

  /// Waits until a message containing `part` arrived; true if it did.
  bool wait_for(const std::string& part, int timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (true) {
      for (const auto& m : drain())
        if (m.find(part) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  [[nodiscard]] int count(const std::string& part) {
    int n = 0;
    for (const auto& m : drain()) n += m.find(part) != std::string::npos;
    return n;
  }

  [[nodiscard]] std::string all() {
    std::string out;
    for (const auto& m : drain()) out += "[" + m + "]\n";
    return out;
  }

private:
  std::string m_path;
  int m_fd = -1;
  std::vector<std::string> m_messages;
};

}  // namespace

TEST(ServiceNotify, SchedulerAndWorkerReportReadyStatusWatchdogAndStopping) {
  const std::string url = al::test::fresh_database("e2e_notify");
  // sun_path holds 108 bytes: a short path under /tmp, unique per test process.
  const std::string base = "/tmp/al-notify-" + std::to_string(::getpid());
  NotifySocket scheduler_socket(base + "-scheduler.sock");
  NotifySocket worker_socket(base + "-worker.sock");

  al::test::LineProcesses line("e2e_notify", url);
  line.set("AL_METRICS_LISTEN", "");
  line.set("WATCHDOG_USEC", "400000");  // WATCHDOG=1 every 200 ms
  line.set("NOTIFY_SOCKET", scheduler_socket.path());
  line.start("al-scheduler");
  line.set("NOTIFY_SOCKET", worker_socket.path());
  line.start("al-assembler");

  EXPECT_TRUE(scheduler_socket.wait_for("READY=1", 20)) << scheduler_socket.all() << line.log_tail();
  EXPECT_TRUE(scheduler_socket.wait_for("STATUS=leading, 1 worker", 20)) << scheduler_socket.all();
  EXPECT_TRUE(worker_socket.wait_for("READY=1", 20)) << worker_socket.all() << line.log_tail();
  EXPECT_TRUE(worker_socket.wait_for("STATUS=idle, connected to scheduler at tcp://127.0.0.1:", 20))
      << worker_socket.all();

  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_GE(scheduler_socket.count("WATCHDOG=1"), 3) << scheduler_socket.all();
  EXPECT_GE(worker_socket.count("WATCHDOG=1"), 3) << worker_socket.all();
  EXPECT_EQ(scheduler_socket.count("READY=1"), 1) << "READY once\n" << scheduler_socket.all();

  // A second scheduler is ready too, as a standby.
  NotifySocket standby_socket(base + "-standby.sock");
  line.set("NOTIFY_SOCKET", standby_socket.path());
  line.start("al-scheduler");
  EXPECT_TRUE(standby_socket.wait_for("READY=1\nSTATUS=standby", 20)) << standby_socket.all();

  EXPECT_TRUE(line.stop_all()) << line.log_tail();
  EXPECT_TRUE(scheduler_socket.wait_for("STOPPING=1", 5)) << scheduler_socket.all();
  EXPECT_TRUE(worker_socket.wait_for("STOPPING=1", 5)) << worker_socket.all();
  EXPECT_TRUE(standby_socket.wait_for("STOPPING=1", 5)) << standby_socket.all();
}
