// ConnectionPool: the console's database connections, one per HTTP thread at
// most, opened on first use and replaced when broken. Every connection reads
// times in UTC (the pages show them in the browser's zone) and stops any
// statement after a few seconds, so a slow query cannot hold a thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace al::console {

class ConnectionPool {
public:
  ConnectionPool(std::string url, int size) : m_url(std::move(url)), m_size(size) {}

  /// A connection for the duration of one request; hand it back by destroying the lease.
  class Lease {
  public:
    Lease(ConnectionPool& pool, std::unique_ptr<pqxx::connection> conn) : m_pool(&pool), m_conn(std::move(conn)) {}
    Lease(Lease&&) = default;
    ~Lease();
    pqxx::connection& operator*() { return *m_conn; }
    pqxx::connection* operator->() { return m_conn.get(); }

  private:
    ConnectionPool* m_pool;
    std::unique_ptr<pqxx::connection> m_conn;
  };

  /// Waits for a free connection; opens one if none is idle. Throws al::Error
  /// (retryable) when the database cannot be reached.
  [[nodiscard]] Lease acquire();

private:
  void give_back(std::unique_ptr<pqxx::connection> conn);

  std::string m_url;
  int m_size;
  int m_open = 0;
  std::mutex m_mutex;
  std::condition_variable m_returned;
  std::vector<std::unique_ptr<pqxx::connection>> m_idle;
};

}  // namespace al::console
