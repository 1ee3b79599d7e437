// Password hashes of console accounts: salted PBKDF2-HMAC-SHA256 from
// OpenSSL, written as "pbkdf2-sha256$<rounds>$<salt base64>$<hash base64>"
// (base64 has no ':' or ',', so a hash fits the name:role:hash entries of
// console.accounts).
#pragma once

#include <string>

namespace al::console {

inline constexpr int default_password_rounds = 200000;

/// A new hash of `password` with a fresh 16-byte random salt.
[[nodiscard]] std::string hash_password(const std::string& password, int rounds = default_password_rounds);

/// True when `password` matches `encoded`; compares in constant time.
/// Throws al::Error when `encoded` is not a hash this function can read.
[[nodiscard]] bool verify_password(const std::string& password, const std::string& encoded);

}  // namespace al::console
