// ServiceNotifier over libsystemd's sd_notify (see service_notifier.hpp).
// A failed send is logged once at debug: the service manager is an observer,
// never a reason to stop the line.
#include "assemblyline/service_notifier.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace al {

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  m_enabled = socket != nullptr && *socket != '\0';
  if (!m_enabled) return;
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    m_watchdog_every = std::chrono::microseconds(usec / 2);
    spdlog::debug("systemd: watchdog armed, WATCHDOG=1 every {} ms", usec / 2000);
  }
}

void ServiceNotifier::send(const std::string& message) {
  const int rc = sd_notify(0, message.c_str());
  if (rc < 0) spdlog::debug("systemd: sd_notify({}) failed: {}", message.substr(0, message.find('\n')), -rc);
}

void ServiceNotifier::running(const std::string& status) {
  if (!m_enabled || m_stopping) return;
  if (!m_ready) {
    m_ready = true;
    m_status = status;
    send("READY=1\nSTATUS=" + status);
    return;
  }
  this->status(status);
}

void ServiceNotifier::status(const std::string& status) {
  if (!m_enabled || m_stopping || status == m_status) return;
  m_status = status;
  send("STATUS=" + status);
}

void ServiceNotifier::stopping(const std::string& status) {
  if (!m_enabled || m_stopping) return;
  m_stopping = true;
  m_status = status;
  send("STOPPING=1\nSTATUS=" + status);
}

void ServiceNotifier::watchdog() {
  if (!m_enabled || m_watchdog_every.count() == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < m_next_watchdog) return;
  m_next_watchdog = now + m_watchdog_every;
  send("WATCHDOG=1");
}

}  // namespace al
