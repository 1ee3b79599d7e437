// Console accounts: who may sign in and what they may do, read from
// console.accounts ("name:role:hash,…"). Viewers read; operators may also
// reattempt, skip and cancel.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace al::console {

enum class Role { viewer, operator_ };

[[nodiscard]] const char* role_name(Role role);

struct Account {
  std::string name;
  Role role = Role::viewer;
  std::string password_hash;
};

class Accounts {
public:
  /// Parses console.accounts; throws al::Error naming the bad entry.
  static Accounts parse(const std::string& text);

  /// The account when `name` exists and `password` is its password. Takes
  /// as long for an unknown name as for a wrong password.
  [[nodiscard]] std::optional<Account> sign_in(const std::string& name, const std::string& password) const;

  [[nodiscard]] bool empty() const { return m_accounts.empty(); }
  [[nodiscard]] size_t size() const { return m_accounts.size(); }

private:
  std::vector<Account> m_accounts;
  std::string m_decoy_hash;  // verified for unknown names, so timing does not tell names apart
};

}  // namespace al::console
