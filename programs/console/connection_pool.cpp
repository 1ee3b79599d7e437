#include "connection_pool.hpp"

#include <pqxx/pqxx>

#include "assemblyline/database.hpp"

namespace al::console {

ConnectionPool::Lease::~Lease() {
  if (m_pool != nullptr && m_conn) m_pool->give_back(std::move(m_conn));
}

ConnectionPool::Lease ConnectionPool::acquire() {
  {
    std::unique_lock lock(m_mutex);
    m_returned.wait(lock, [this] { return !m_idle.empty() || m_open < m_size; });
    if (!m_idle.empty()) {
      auto conn = std::move(m_idle.back());
      m_idle.pop_back();
      return Lease(*this, std::move(conn));
    }
    ++m_open;  // reserve the slot; opening happens outside the lock
  }
  try {
    auto conn = connect(m_url, "al-console");
    pqxx::nontransaction setup(*conn);
    setup.exec("SET TIME ZONE 'UTC'; SET statement_timeout = '10s'");
    return Lease(*this, std::move(conn));
  } catch (...) {
    std::lock_guard lock(m_mutex);
    --m_open;
    m_returned.notify_one();
    throw;
  }
}

void ConnectionPool::give_back(std::unique_ptr<pqxx::connection> conn) {
  std::lock_guard lock(m_mutex);
  if (conn->is_open()) {
    m_idle.push_back(std::move(conn));
  } else {
    --m_open;  // broken: the next acquire opens a new one
  }
  m_returned.notify_one();
}

}  // namespace al::console
