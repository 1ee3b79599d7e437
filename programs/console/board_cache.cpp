#include "board_cache.hpp"

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "assemblyline/database.hpp"
#include "assemblyline/error.hpp"
#include "bus/stop_signals.hpp"

namespace al::console {
namespace {

constexpr auto recount_every = std::chrono::seconds(2);
constexpr auto watched_for = std::chrono::seconds(30);
constexpr auto too_old = std::chrono::seconds(10);

}  // namespace

BoardCache::BoardCache(std::string database_url) : m_url(std::move(database_url)), m_thread([this] { run(); }) {}

BoardCache::~BoardCache() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  m_thread.join();
}

std::string BoardCache::json() {
  std::unique_lock lock(m_mutex);
  const auto now = std::chrono::steady_clock::now();
  m_requested_at = now;
  m_wake.notify_all();  // a sleeping counter starts again
  if (m_json.empty() || now - m_counted_at > too_old) {
    m_counted.wait_for(lock, std::chrono::seconds(10), [&] { return m_stop || (!m_json.empty() && m_counted_at >= now); });
  }
  if (m_json.empty()) throw Error("status board: not counted yet; the database may be unreachable", true);
  return m_json;
}

void BoardCache::run() {
  block_stop_signals_in_this_thread();
  std::unique_ptr<pqxx::connection> conn;
  std::unique_lock lock(m_mutex);
  while (!m_stop) {
    lock.unlock();
    try {
      if (!conn || !conn->is_open()) {
        conn = connect(m_url, "al-console-board");
        pqxx::nontransaction setup(*conn);
        setup.exec("SET TIME ZONE 'UTC'");
      }
      pqxx::read_transaction tx(*conn);
      const auto text = tx.exec1(
          "SELECT json_build_object('board', coalesce((SELECT json_agg(b) FROM "
          "  (SELECT object, code, name, count FROM al.status_board) b), '[]'), 'as_of', now())::text")[0]
                            .as<std::string>();
      tx.commit();
      lock.lock();
      m_json = text;
      m_counted_at = std::chrono::steady_clock::now();
      m_counted.notify_all();
    } catch (const std::exception& e) {
      spdlog::warn("console: status board: {}; counting again in 2 s", e.what());
      conn.reset();
      lock.lock();
    }
    // Recount every 2 s while someone watches; otherwise sleep until asked.
    m_wake.wait_for(lock, recount_every, [&] { return m_stop; });
    m_wake.wait(lock, [&] {
      return m_stop || std::chrono::steady_clock::now() - m_requested_at < watched_for;
    });
  }
}

}  // namespace al::console
