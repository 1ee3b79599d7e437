#include "change_feed.hpp"

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/database.hpp"
#include "bus/stop_signals.hpp"

namespace al::console {
namespace {

constexpr auto poll_interval = std::chrono::milliseconds(500);

class Wakeup : public pqxx::notification_receiver {
public:
  Wakeup(pqxx::connection_base& conn, const std::string& channel, bool& flag)
      : pqxx::notification_receiver(conn, channel), m_flag(flag) {}
  void operator()(const std::string&, int) override { m_flag = true; }

private:
  bool& m_flag;
};

}  // namespace

ChangeFeed::ChangeFeed(std::string database_url, int max_streams)
    : m_url(std::move(database_url)), m_max_streams(max_streams), m_thread([this] { run(); }) {}

ChangeFeed::~ChangeFeed() {
  stop();
  if (m_thread.joinable()) m_thread.join();
}

void ChangeFeed::stop() {
  std::lock_guard lock(m_mutex);
  m_stop = true;
  m_changed.notify_all();
}

uint64_t ChangeFeed::wait(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  m_changed.wait_for(lock, timeout, [&] { return m_generation.load() != seen || m_stop.load(); });
  return m_generation.load();
}

bool ChangeFeed::open_stream() {
  int open = m_streams.load();
  while (open < m_max_streams)
    if (m_streams.compare_exchange_weak(open, open + 1)) return true;
  return false;
}

void ChangeFeed::close_stream() { --m_streams; }

void ChangeFeed::publish() {
  std::lock_guard lock(m_mutex);
  ++m_generation;
  m_changed.notify_all();
}

void ChangeFeed::run() {
  block_stop_signals_in_this_thread();
  int64_t last_marker = -1;
  bool publish_again = false;
  while (!m_stop) {
    auto conn = connect_with_retry(m_url, "al-console-feed", m_stop);
    if (!conn) break;
    try {
      bool notified = false;
      Wakeup ready(*conn, "al_ready", notified);
      Wakeup done(*conn, "al_job_done", notified);
      while (!m_stop) {
        conn->await_notification(0, static_cast<long>(poll_interval.count() * 1000));
        conn->get_notifs();
        pqxx::nontransaction tx(*conn);
        const auto marker = tx.exec1("SELECT last_value FROM al.change_marker")[0].as<int64_t>();
        tx.commit();
        // nextval is visible before the change commits: tell pages once more
        // on the next tick, when the change they refetch for is there.
        const bool changed = marker != last_marker || notified;
        if (changed || publish_again) publish();
        publish_again = changed;
        last_marker = marker;
        notified = false;
      }
    } catch (const std::exception& e) {
      spdlog::warn("console: change feed: {}; reconnecting in 1 s", e.what());
      for (int i = 0; i < 10 && !m_stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace al::console
