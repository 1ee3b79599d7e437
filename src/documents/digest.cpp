#include "assemblyline/digest.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "assemblyline/error.hpp"

namespace al {
namespace {

std::string to_hex(unsigned char const* bytes, unsigned int n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw Error{"sha256: EVP_Digest failed"};
  return to_hex(md, len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // The one-shot HMAC() is not deprecated in OpenSSL 3 and uses the EVP digest.
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<unsigned char const*>(data.data()), data.size(), md, &len) == nullptr)
    throw Error{"hmac-sha256: HMAC failed"};
  return to_hex(md, len);
}

}  // namespace al
