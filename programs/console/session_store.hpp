// Sessions of signed-in users, in memory: a restart signs everyone out, which
// is what a console that holds no other state should do. Tokens are 256-bit
// random; each session has its own CSRF token that every POST must echo.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "accounts.hpp"

namespace al::console {

struct Session {
  std::string user;
  Role role = Role::viewer;
  std::string csrf;
  std::chrono::steady_clock::time_point last_seen;
};

class SessionStore {
public:
  explicit SessionStore(std::chrono::minutes idle_limit) : m_idle_limit(idle_limit) {}

  /// Starts a session; returns its token (the cookie value).
  std::string start(const Account& account);
  /// The session of `token` if it exists and has not been idle too long; touches it.
  [[nodiscard]] std::optional<Session> find(const std::string& token);
  void end(const std::string& token);

private:
  void forget_idle(std::chrono::steady_clock::time_point now);  // with m_mutex held

  std::chrono::minutes m_idle_limit;
  std::mutex m_mutex;
  std::map<std::string, Session> m_sessions;
};

/// 32 random bytes as 64 hex digits.
[[nodiscard]] std::string random_token();

}  // namespace al::console
