// JSON Web Token verification (RFC 7519, compact JWS of RFC 7515): the keys of a JWKS
// document and the check of a bearer token against them, for routes that limit by a
// token's claims (its subject, tenant or plan) rather than by client address.
//
// Security choices, each against a known attack on JWT libraries:
// - The algorithm is bound to the key, not taken on the token's word: RS256 only with
//   an RSA key, ES256 only with a P-256 key, HS256 only with an "oct" secret. An HS256
//   token is never checked against an RSA or EC key, whose public bytes an attacker
//   knows (the algorithm-confusion attack).
// - Never "none", nor any algorithm outside those three. Keys come from the JWKS only:
//   "jku", "jwk", "x5u" and "x5c" in a token's header are ignored, and a header with
//   "crit" is refused (no extension is understood, RFC 7515 4.1.11).
// - Every input is bounded before it is parsed: the token (8 KiB), the JWKS text
//   (1 MiB) and its keys (64), JSON nesting (32), the claims kept (64, values up to
//   1 KiB), RSA moduli (2048 to 8192 bits) and exponents (64 bits), so a hostile token
//   or key set costs a bounded parse and at most one signature check.
// - No exception leaves these functions: every failure is a value.
//
// Pure (no I/O, no clock: the time is an argument) and thread-safe: jwt_keys is
// immutable once parsed and shared by every thread that verifies.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

struct jwt_rules;
class jwt_claims;
enum class jwt_error;

// The verification keys of a JWKS document (RFC 7517). Immutable once parsed; shared by
// every thread that verifies tokens.
class jwt_keys {
 public:
  // Parses {"keys": [...]}. Supported: kty "RSA" (n, e; RS256; modulus >= 2048 bits),
  // kty "EC" crv "P-256" (x, y, 32 bytes each; ES256), kty "oct" (k, >= 32 bytes; HS256).
  // A key's optional "alg" must be the one its type implies, an optional "use" must be
  // "sig"; "kid" is optional but two keys may not share one. At most 64 keys; the text at
  // most 1 MiB. Returns null and sets `error` to a one-line message naming the key index
  // and field (e.g. "keys[1].crv: unsupported curve 'P-384' (P-256 only)") on any problem,
  // an empty "keys" included (every token would be refused: a mistake, not a policy).
  static std::shared_ptr<const jwt_keys> parse(std::string_view json, std::string& error);
  ~jwt_keys();
  jwt_keys(const jwt_keys&) = delete;
  jwt_keys& operator=(const jwt_keys&) = delete;
  std::size_t size() const;

 private:
  struct impl;
  explicit jwt_keys(std::unique_ptr<impl> keys);
  friend jwt_error verify_jwt(std::string_view, const jwt_keys&, const jwt_rules&, std::int64_t,
                              jwt_claims&);
  std::unique_ptr<impl> impl_;
};

enum class jwt_error {
  none,
  malformed,              // not three base64url parts, bad base64url, bad JSON, too long, ...
  unsupported_algorithm,  // alg not RS256/ES256/HS256 (including "none")
  unknown_key,            // no key with the token's kid, or no single key for its alg
  bad_signature,
  expired,        // now >= exp + leeway
  not_yet_valid,  // now + leeway < nbf
  wrong_issuer,
  wrong_audience,
};
std::string_view to_string(jwt_error e);  // "none", "malformed", ... (a metric label)
std::string_view describe(jwt_error e);   // a short sentence for a 401 body, e.g. "Token expired"

struct jwt_rules {
  std::vector<std::string> issuers;    // empty: any iss (and iss may be absent)
  std::vector<std::string> audiences;  // empty: any aud; else aud (string or array) must hold one
  std::int64_t leeway_seconds = 30;
};

// A verified token's top-level claims, as text. Reused per connection: clear() keeps capacity.
class jwt_claims {
 public:
  // The value of top-level claim `name`: a string as is, an integer in decimal, a boolean as
  // "true"/"false"; nullopt when absent, null, an object, an array or a non-integer number.
  std::optional<std::string_view> get(std::string_view name) const;
  void clear();

 private:
  friend jwt_error verify_jwt(std::string_view, const jwt_keys&, const jwt_rules&, std::int64_t,
                              jwt_claims&);
  // The first `used_` entries hold claims; the ones after keep their strings' buffers
  // for the next token, which is what clear() is for.
  std::vector<std::pair<std::string, std::string>> items_;
  std::size_t used_ = 0;
};

// Verifies a compact JWS `token` ("header.payload.signature", base64url without padding,
// at most 8192 bytes): alg RS256, ES256 or HS256 only (never "none"); the key is the one
// whose kid the header names, or, when the header has no kid, the only key of the type the
// alg needs (none or several: unknown_key). The key type must match the alg (an HS256 token
// is never checked against an RSA/EC key: the algorithm-confusion attack). Then exp and nbf
// (NumericDate, integer or fractional; when present) against `now_seconds` with the leeway,
// then iss and aud against `rules`. On success fills `claims` (cleared first) and returns none.
jwt_error verify_jwt(std::string_view token, const jwt_keys& keys, const jwt_rules& rules,
                     std::int64_t now_seconds, jwt_claims& claims);

}  // namespace sluice
