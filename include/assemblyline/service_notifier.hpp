// ServiceNotifier: what a process tells systemd under Type=notify — READY=1
// once it is connected, STATUS= lines saying what it is doing, WATCHDOG=1 at
// half of WATCHDOG_USEC, STOPPING=1 on a clean stop. Relies on libsystemd's
// sd_notify; without NOTIFY_SOCKET (not under systemd) every call is a no-op.
#pragma once

#include <chrono>
#include <string>

namespace al {

class ServiceNotifier {
public:
  /// Reads NOTIFY_SOCKET and the watchdog interval (WATCHDOG_USEC/WATCHDOG_PID) once.
  ServiceNotifier();

  /// True when a service manager listens (NOTIFY_SOCKET is set).
  [[nodiscard]] bool enabled() const { return m_enabled; }

  /// The process works: READY=1 on the first call (with the status), then
  /// STATUS= whenever `status` differs from the last one sent.
  void running(const std::string& status);

  /// STATUS= when it changed, without declaring the process ready.
  void status(const std::string& status);

  /// STOPPING=1 with a last status; later running()/status() calls are ignored.
  void stopping(const std::string& status);

  /// WATCHDOG=1 when half the watchdog interval has passed since the last
  /// one; call it from the main loop (a hung loop then gets restarted).
  void watchdog();

  /// Half of WATCHDOG_USEC, or zero when no watchdog is armed.
  [[nodiscard]] std::chrono::microseconds watchdog_every() const { return m_watchdog_every; }

private:
  void send(const std::string& message);

  bool m_enabled = false;
  bool m_ready = false;
  bool m_stopping = false;
  std::string m_status;
  std::chrono::microseconds m_watchdog_every{0};
  std::chrono::steady_clock::time_point m_next_watchdog{};
};

}  // namespace al
