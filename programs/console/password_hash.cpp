#include "password_hash.hpp"

#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "assemblyline/error.hpp"

namespace al::console {
namespace {

constexpr const char* scheme = "pbkdf2-sha256";
constexpr int hash_bytes = 32;
constexpr int salt_bytes = 16;

std::string base64(const std::vector<unsigned char>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::vector<unsigned char> unbase64(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0) throw Error("password hash: bad base64");
  std::vector<unsigned char> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) throw Error("password hash: bad base64");
  // EVP_DecodeBlock counts the padding as bytes.
  size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::vector<unsigned char> derive(const std::string& password, const std::vector<unsigned char>& salt, int rounds,
                                  size_t length) {
  std::vector<unsigned char> out(length);
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(), static_cast<int>(salt.size()),
                        rounds, EVP_sha256(), static_cast<int>(out.size()), out.data()) != 1)
    throw Error("password hash: PBKDF2 failed");
  return out;
}

}  // namespace

std::string hash_password(const std::string& password, int rounds) {
  std::vector<unsigned char> salt(salt_bytes);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) throw Error("password hash: no random bytes");
  return std::string(scheme) + "$" + std::to_string(rounds) + "$" + base64(salt) + "$" +
         base64(derive(password, salt, rounds, hash_bytes));
}

bool verify_password(const std::string& password, const std::string& encoded) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dollar; (dollar = encoded.find('$', start)) != std::string::npos; start = dollar + 1)
    parts.push_back(encoded.substr(start, dollar - start));
  parts.push_back(encoded.substr(start));
  if (parts.size() != 4 || parts[0] != scheme)
    throw Error("password hash: expected pbkdf2-sha256$rounds$salt$hash (make one with `al-console hash-password`)");
  int rounds = 0;
  try {
    rounds = std::stoi(parts[1]);
  } catch (const std::exception&) {
    throw Error("password hash: rounds is not a number");
  }
  if (rounds < 1000) throw Error("password hash: fewer than 1000 rounds");
  const auto salt = unbase64(parts[2]);
  const auto want = unbase64(parts[3]);
  const auto got = derive(password, salt, rounds, want.size());
  return CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
}

}  // namespace al::console
