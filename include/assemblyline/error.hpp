// Error: the one exception type of Assembly Line. It says whether retrying the
// same operation can help (a lost connection can; a malformed record cannot),
// which is what the worker runtime and the scheduler loop act on.
#pragma once

#include <stdexcept>
#include <string>

namespace al {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& what, bool retryable = false)
      : std::runtime_error(what), m_retryable(retryable) {}
  [[nodiscard]] bool retryable() const noexcept { return m_retryable; }

private:
  bool m_retryable;
};

/// True for exceptions a retry can cure: libpqxx broken connections,
/// serialization failures and deadlocks, and al::Error marked retryable.
[[nodiscard]] bool is_retryable(const std::exception& e) noexcept;

}  // namespace al
