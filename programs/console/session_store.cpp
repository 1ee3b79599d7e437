#include "session_store.hpp"

#include <array>

#include <openssl/rand.h>

#include "assemblyline/error.hpp"

namespace al::console {

std::string random_token() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) throw Error("session: no random bytes");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string SessionStore::start(const Account& account) {
  const auto now = std::chrono::steady_clock::now();
  std::string token = random_token();
  std::lock_guard lock(m_mutex);
  forget_idle(now);
  m_sessions[token] = Session{account.name, account.role, random_token(), now};
  return token;
}

std::optional<Session> SessionStore::find(const std::string& token) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(m_mutex);
  const auto it = m_sessions.find(token);
  if (it == m_sessions.end()) return std::nullopt;
  if (now - it->second.last_seen > m_idle_limit) {
    m_sessions.erase(it);
    return std::nullopt;
  }
  it->second.last_seen = now;
  return it->second;
}

void SessionStore::end(const std::string& token) {
  std::lock_guard lock(m_mutex);
  m_sessions.erase(token);
}

void SessionStore::forget_idle(std::chrono::steady_clock::time_point now) {
  for (auto it = m_sessions.begin(); it != m_sessions.end();)
    it = now - it->second.last_seen > m_idle_limit ? m_sessions.erase(it) : std::next(it);
}

}  // namespace al::console
