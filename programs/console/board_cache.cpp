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
  m_requested_at = std::chrono::steady_clock::now();
  m_wake.notify_all();  // a sleeping counter looks again
  if (m_board.empty()) m_counted.wait_for(lock, std::chrono::seconds(10), [&] { return m_stop || !m_board.empty(); });
  if (m_board.empty()) throw Error("status board: not counted yet; the database may be unreachable", true);
  return "{\"board\":" + m_board + ",\"as_of\":" + m_as_of + "}";
}

void BoardCache::run() {
  block_stop_signals_in_this_thread();
  std::unique_ptr<pqxx::connection> conn;
  int64_t counted_marker = -1;
  std::unique_lock lock(m_mutex);
  while (!m_stop) {
    lock.unlock();
    try {
      if (!conn || !conn->is_open()) {
        conn = connect(m_url, "al-console-board");
        pqxx::nontransaction setup(*conn);
        setup.exec("SET TIME ZONE 'UTC'");
      }
      // Read before counting: a change during the count moves it again.
      pqxx::nontransaction check(*conn);
      const auto row = check.exec1("SELECT last_value, to_json(now())::text FROM al.change_marker");
      check.commit();
      const auto marker = row[0].as<int64_t>();
      std::string board;
      if (marker != counted_marker) {
        pqxx::read_transaction tx(*conn);
        board = tx.exec1("SELECT coalesce(json_agg(b), '[]')::text FROM "
                         "(SELECT object, code, name, count FROM al.status_board) b")[0]
                    .as<std::string>();
        tx.commit();
        counted_marker = marker;
      }
      lock.lock();
      if (!board.empty()) m_board = std::move(board);
      m_as_of = row[1].as<std::string>();  // the counts are exact as of this check
      m_counted.notify_all();
      lock.unlock();
    } catch (const std::exception& e) {
      spdlog::warn("console: status board: {}; counting again in 2 s", e.what());
      conn.reset();
    }
    lock.lock();
    // Look again in 2 s while someone watches; otherwise sleep until asked.
    m_wake.wait_for(lock, recount_every, [&] { return m_stop; });
    m_wake.wait(lock, [&] { return m_stop || std::chrono::steady_clock::now() - m_requested_at < watched_for; });
  }
}

}  // namespace al::console
