// ConsoleServer: al-console's HTTP server. It serves the embedded front end,
// the JSON API of docs/console.md behind sign-in (viewers read, operators
// act, every POST carries the session's CSRF token), and the live event
// stream. Closed by default: it refuses to start without accounts, and off
// loopback without TLS.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include <httplib.h>

#include "accounts.hpp"
#include "api.hpp"
#include "assemblyline/config.hpp"
#include "board_cache.hpp"
#include "change_feed.hpp"
#include "connection_pool.hpp"
#include "session_store.hpp"

namespace al::console {

class ConsoleServer : private ApiRoutes {
public:
  /// Checks the console.* config; throws al::Error naming what is wrong.
  explicit ConsoleServer(const Config& config);
  ~ConsoleServer() override;

  /// Binds, serves until `stop` is set, then returns 0 (1 when it cannot bind).
  int run(const std::atomic<bool>& stop);

private:
  void get(const std::string& pattern, ApiHandler handler) override;
  void post(const std::string& pattern, ApiHandler handler) override;

  void add_session_routes();
  void add_event_route();
  void add_pages();
  /// The session of the request's al_session cookie.
  [[nodiscard]] std::optional<Session> session_of(const httplib::Request& req);
  /// Runs `handler` for a signed-in user; for POST, only with the CSRF token
  /// and, when `operator_only`, for operators.
  httplib::Server::Handler guarded(ApiHandler handler, bool is_post, bool operator_only);

  Config m_config;
  Accounts m_accounts;
  SessionStore m_sessions;
  ConnectionPool m_pool;
  std::unique_ptr<ChangeFeed> m_feed;
  std::unique_ptr<BoardCache> m_board;
  std::unique_ptr<httplib::Server> m_server;
  std::string m_host;
  int m_port = 0;
  bool m_tls = false;
};

}  // namespace al::console
