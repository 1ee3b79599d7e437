// Digests: SHA-256 of stored documents (the PUBS/DOCS `sha256` column) and
// HMAC-SHA-256 signatures of webhook bodies. Both return lower-case hex and
// rely on OpenSSL's EVP layer, which stays out of this header.
#pragma once

#include <string>
#include <string_view>

namespace al {

/// SHA-256 of `data` as 64 lower-case hex digits.
[[nodiscard]] std::string sha256_hex(std::string_view data);

/// HMAC-SHA-256 (RFC 2104) of `data` under `key`, as 64 lower-case hex digits.
[[nodiscard]] std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace al
