// Fuzzes JWT verification (gateway/util/jwt.hpp), three ways per input: as a compact
// token against fixed keys (the public keys of tests/fixtures/jwt/jwks.json), as the JSON
// of a header and a payload that the harness signs with the fixture's HS256 secret (to get
// past the signature, into the claims, times, issuer and audience), and as JWKS text.
// Properties:
// - verify_jwt returns one of its nine results and leaves the claims empty unless it
//   returns none (they hold an earlier token's claims before each call);
// - a token of more than 8192 bytes, or not of three non-empty parts, is malformed;
// - a token signed with the secret whose header (read here with the same JSON parser)
//   names HS256 without "crit" is never bad_signature nor unsupported_algorithm;
// - a verified token's iss, when kept, is the accepted issuer;
// - jwt_keys::parse returns exactly one of a key set (1 to 64 keys) or a one-line error.
// Crashes, leaks, undefined behaviour and reads out of bounds: ASan and UBSan.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "../util/jwt_signing.hpp"
#include "fuzz_support.hpp"
#include "util/jwt.hpp"

namespace {

using sluice::jwt_error;

// tests/fixtures/jwt/jwks.json, compact; and the raw HS256 secret (hmac_secret.bin).
constexpr std::string_view jwks =
    R"({"keys":[{"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","n":"m5GVJjRMXL1ysROr2mv)"
    R"(70Xq1An5wAOo6MT2DRNURLcMU_STliXdhPzNsBK9r11-V5qIGBz3mrf7Y_bB8SRaBg63LTlSC21oYQWk4rit0iH)"
    R"(1x_tWZbeFvRwq-jHpy8iy_8ZimnWnAtxKImU3SGQUe2Bw_C2_jiXN-mWKvpZwcbz_Ow6vA5O_FRUhiVGVs_OYXy)"
    R"(IoK0s0TNQOw14XZy4aVRNAjk66gJ2fUQMJmGl61_nMKMwaKZjxd6tSVnfJpKwNCeKpBjDxsaApBvRjohmKvYA44)"
    R"(lYoinORW6pb5zTUL-QNkrv92_3K2o2oG0QPmFjH8zz93tfo2q0Zby9rrvs1f0Q","e":"AQAB"},{"kty":"EC",)"
    R"("kid":"ec-1","use":"sig","alg":"ES256","crv":"P-256","x":"MZULapaE0jZqNOjMnSQlgmB1ULGeb)"
    R"(YrhBI-GnfU6H9U","y":"7-B023KcKfqUJ7i-mSwXTSb30zbfBZttOLRNntPD23E"},{"kty":"oct","kid":")"
    R"(hmac-1","use":"sig","alg":"HS256","k":"2szQ2iDV-UR665Q0I2ofQkEf4gVkEgMIeHctXjH77uI"}]})";
constexpr std::string_view hmac_secret(
    "\xda\xcc\xd0\xda\x20\xd5\xf9\x44\x7a\xeb\x94\x34\x23\x6a\x1f\x42"
    "\x41\x1f\xe2\x05\x64\x12\x03\x08\x78\x77\x2d\x5e\x31\xfb\xee\xe2",
    32);

constexpr std::int64_t now = 1'767'225'600;  // 2026-01-01T00:00:00Z
constexpr std::string_view issuer = "https://issuer.example";

const sluice::jwt_keys& keys() {
  static const std::shared_ptr<const sluice::jwt_keys> k = [] {
    std::string error;
    auto parsed = sluice::jwt_keys::parse(jwks, error);
    FUZZ_CHECK(parsed && parsed->size() == 3, error);
    return parsed;
  }();
  return *k;
}

const sluice::jwt_rules& rules() {
  static const sluice::jwt_rules r{{std::string(issuer)}, {"api"}, 30};
  return r;
}

std::string hs256_token(std::string_view header, std::string_view payload) {
  return sluice::jwt_signing::hs256_token(header, payload, hmac_secret);
}

// A verified token, so that each check starts from claims that must be cleared.
const std::string& earlier_token() {
  static const std::string t =
      hs256_token(R"({"alg":"HS256","kid":"hmac-1"})",
                  R"({"sub":"earlier","iss":"https://issuer.example","aud":"api"})");
  return t;
}

// Verifies `token` into claims that hold the earlier token's; checks what holds for
// every result.
jwt_error check_verify(std::string_view token) {
  sluice::jwt_claims claims;
  const jwt_error earlier = sluice::verify_jwt(earlier_token(), keys(), rules(), now, claims);
  FUZZ_CHECK(earlier == jwt_error::none && claims.get("sub") == "earlier", earlier_token());

  const jwt_error result = sluice::verify_jwt(token, keys(), rules(), now, claims);
  const auto code = static_cast<int>(result);
  FUZZ_CHECK(code >= 0 && code <= static_cast<int>(jwt_error::wrong_audience), token);
  FUZZ_CHECK(sluice::to_string(result) != "unknown" && !sluice::describe(result).empty(), token);
  if (result != jwt_error::none) {
    FUZZ_CHECK(!claims.get("sub") && !claims.get("iss") && !claims.get("aud"), token);
    return result;
  }
  FUZZ_CHECK(token.size() <= 8192, token);
  FUZZ_CHECK(std::count(token.begin(), token.end(), '.') == 2, token);
  FUZZ_CHECK(token.front() != '.' && token.back() != '.' && token.find("..") == token.npos, token);
  const auto iss = claims.get("iss");
  FUZZ_CHECK(!iss || *iss == issuer, token);
  return result;
}

// The header's alg as this harness reads it, when the header is an object without "crit".
std::optional<std::string> plain_alg(std::string_view header) {
  boost::json::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 32;
  const boost::json::value v = boost::json::parse(header, ec, {}, options);
  if (ec || !v.is_object() || v.get_object().contains("crit")) return std::nullopt;
  const boost::json::value* alg = v.get_object().if_contains("alg");
  if (!alg || !alg->is_string()) return std::nullopt;
  return std::string(alg->get_string());
}

// The input as "header JSON \n payload JSON" (no newline: the payload under a fixed
// header), signed with the secret.
void check_signed(std::string_view text) {
  std::string_view header = R"({"alg":"HS256","kid":"hmac-1"})";
  std::string_view payload = text;
  if (const std::size_t nl = text.find('\n'); nl != text.npos) {
    header = text.substr(0, nl);
    payload = text.substr(nl + 1);
  }
  if (header.empty() || payload.empty()) return;  // an empty part: malformed, seen above
  const std::string token = hs256_token(header, payload);
  const jwt_error result = check_verify(token);
  if (token.size() > 8192) return;
  if (plain_alg(header) == "HS256") {
    FUZZ_CHECK(result != jwt_error::bad_signature, text);
    FUZZ_CHECK(result != jwt_error::unsupported_algorithm, text);
  }
}

void check_keys(std::string_view text) {
  std::string error = "stale";
  const auto parsed = sluice::jwt_keys::parse(text, error);
  FUZZ_CHECK((parsed != nullptr) == error.empty(), error);
  FUZZ_CHECK(error.find('\n') == std::string::npos, error);
  if (parsed) FUZZ_CHECK(parsed->size() >= 1 && parsed->size() <= 64, text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_verify(text);
  check_signed(text);
  check_keys(text);
  return 0;
}
