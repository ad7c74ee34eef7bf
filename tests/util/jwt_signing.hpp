// Test-only JWT making, shared by the JWT tests (tests/util/jwt_test.cpp), the engine's
// (tests/limit/engine_jwt_test.cpp) and the fuzz harness (tests/fuzz/jwt_fuzz.cpp):
// base64url without padding, and HS256 tokens from header and payload JSON.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::jwt_signing {

inline std::string b64url(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int pending = 0;
  for (const char c : in) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    pending += 8;
    while (pending >= 6) {
      pending -= 6;
      out += alphabet[(bits >> pending) & 63];
    }
    bits &= 0xff;
  }
  if (pending > 0) out += alphabet[(bits << (6 - pending)) & 63];
  return out;
}

inline std::string hmac_sha256(std::string_view input, std::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

// "header.payload.signature" for header and payload JSON, signed with `sign(input)`.
template <class Sign>
std::string token(std::string_view header, std::string_view payload, Sign sign) {
  const std::string input = b64url(header) + "." + b64url(payload);
  return input + "." + b64url(sign(input));
}

inline std::string hs256_token(std::string_view header, std::string_view payload,
                               std::string_view secret) {
  return token(header, payload, [&](std::string_view in) { return hmac_sha256(in, secret); });
}

}  // namespace sluice::jwt_signing
