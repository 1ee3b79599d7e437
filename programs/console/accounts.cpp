#include "accounts.hpp"

#include <algorithm>
#include <cctype>

#include "assemblyline/error.hpp"
#include "password_hash.hpp"

namespace al::console {
namespace {

bool valid_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '@';
  });
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

const char* role_name(Role role) { return role == Role::operator_ ? "operator" : "viewer"; }

Accounts Accounts::parse(const std::string& text) {
  Accounts accounts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string entry = trimmed(text.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;
    const size_t first = entry.find(':');
    const size_t second = first == std::string::npos ? first : entry.find(':', first + 1);
    if (second == std::string::npos)
      throw Error("console.accounts: '" + entry.substr(0, entry.find(':')) +
                  "…' is not name:role:hash (make one with `al-console hash-password NAME ROLE`)");
    Account account;
    account.name = entry.substr(0, first);
    const std::string role = entry.substr(first + 1, second - first - 1);
    account.password_hash = entry.substr(second + 1);
    if (!valid_name(account.name))
      throw Error("console.accounts: account name '" + account.name + "' must be 1–64 of A-Z a-z 0-9 . _ - @");
    if (role == "operator") {
      account.role = Role::operator_;
    } else if (role != "viewer") {
      throw Error("console.accounts: account " + account.name + ": role '" + role + "' is neither viewer nor operator");
    }
    try {
      (void)verify_password("", account.password_hash);  // reads the format; the answer does not matter
    } catch (const Error& e) {
      throw Error("console.accounts: account " + account.name + ": " + e.what());
    }
    for (const auto& other : accounts.m_accounts)
      if (other.name == account.name) throw Error("console.accounts: account " + account.name + " appears twice");
    accounts.m_accounts.push_back(std::move(account));
  }
  accounts.m_decoy_hash = accounts.m_accounts.empty() ? hash_password("decoy", 1000)
                                                      : accounts.m_accounts.front().password_hash;
  return accounts;
}

std::optional<Account> Accounts::sign_in(const std::string& name, const std::string& password) const {
  for (const auto& account : m_accounts)
    if (account.name == name)
      return verify_password(password, account.password_hash) ? std::optional<Account>(account) : std::nullopt;
  (void)verify_password(password, m_decoy_hash);
  return std::nullopt;
}

}  // namespace al::console
