// JWT verification (util/jwt.hpp): tokens signed here with OpenSSL from the private keys
// of tests/fixtures/jwt/ (RSA 2048, P-256, a 32-byte HMAC secret; jwks.json holds their
// public halves as "rsa-1", "ec-1", "hmac-1"), checked at explicit times.
#include "util/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "jwt_signing.hpp"

namespace sluice {
namespace {

constexpr std::int64_t t0 = 1'767'225'600;  // 2026-01-01T00:00:00Z, "now" unless a test says

std::string read_file(std::string_view name) {
  std::ifstream in(std::string(SLUICE_FIXTURES_DIR "/jwt/") + std::string(name), std::ios::binary);
  EXPECT_TRUE(in) << "cannot open tests/fixtures/jwt/" << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---- a test-only signer ----

std::string b64url_decode(std::string_view in) {
  std::string out;
  std::uint32_t bits = 0;
  int pending = 0;
  for (const char c : in) {
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    bits = (bits << 6) | static_cast<std::uint32_t>(alphabet.find(c));
    pending += 6;
    if (pending >= 8) {
      pending -= 8;
      out += static_cast<char>((bits >> pending) & 0xff);
    }
    bits &= 0xff;
  }
  return out;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr load_private_key(std::string_view file) {
  const std::string pem = read_file(file);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  pkey_ptr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  EXPECT_NE(key, nullptr) << file;
  return key;
}

EVP_PKEY* rsa_private() {
  static const pkey_ptr key = load_private_key("rsa_private.pem");
  return key.get();
}
EVP_PKEY* ec_private() {
  static const pkey_ptr key = load_private_key("ec_private.pem");
  return key.get();
}
const std::string& hmac_secret() {
  static const std::string secret = read_file("hmac_secret.bin");
  return secret;
}

std::string digest_sign(EVP_PKEY* key, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t length = 0;
  std::string out;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestSign(ctx, nullptr, &length, bytes(input), input.size()) == 1) {
    out.resize(length);
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(out.data()), &length, bytes(input),
                       input.size()) == 1) {
      out.resize(length);
    } else {
      out.clear();
    }
  }
  EVP_MD_CTX_free(ctx);
  EXPECT_FALSE(out.empty()) << "signing failed";
  return out;
}

std::string sign_rs256(std::string_view input) {
  return digest_sign(rsa_private(), input);
}

// OpenSSL signs ECDSA as DER; JWS wants r || s, 32 bytes each.
std::string sign_es256(std::string_view input) {
  const std::string der = digest_sign(ec_private(), input);
  const unsigned char* p = bytes(der);
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32), 32);
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32), 32);
  ECDSA_SIG_free(sig);
  return raw;
}

std::string sign_hs256(std::string_view input, std::string_view secret = hmac_secret()) {
  return jwt_signing::hmac_sha256(input, secret);
}

using jwt_signing::b64url;
using jwt_signing::token;

// The usual headers, with the fixture's kid.
std::string rs256(std::string_view claims,
                  std::string_view header = R"({"alg":"RS256","typ":"JWT","kid":"rsa-1"})") {
  return token(header, claims, sign_rs256);
}
std::string es256(std::string_view claims,
                  std::string_view header = R"({"alg":"ES256","typ":"JWT","kid":"ec-1"})") {
  return token(header, claims, sign_es256);
}
std::string hs256(std::string_view claims,
                  std::string_view header = R"({"alg":"HS256","typ":"JWT","kid":"hmac-1"})") {
  return token(header, claims, [](std::string_view in) { return sign_hs256(in); });
}

// The token's parts.
std::vector<std::string> parts(const std::string& t) {
  std::vector<std::string> out(1);
  for (const char c : t) {
    if (c == '.') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// ---- keys and verification ----

const std::string& fixture_jwks() {
  static const std::string text = read_file("jwks.json");
  return text;
}

std::shared_ptr<const jwt_keys> parse_ok(std::string_view json) {
  std::string error = "stale";
  auto keys = jwt_keys::parse(json, error);
  EXPECT_NE(keys, nullptr) << error;
  EXPECT_EQ(error, "");
  return keys;
}

const jwt_keys& fixture_keys() {
  static const std::shared_ptr<const jwt_keys> keys = parse_ok(fixture_jwks());
  return *keys;
}

// The JWK of `kid` in the fixture JWKS, as text, with its "kid" replaced (or dropped).
std::string fixture_jwk(std::string_view kid, std::string_view new_kid) {
  const std::string& text = fixture_jwks();
  const std::size_t at = text.find("\"kid\": \"" + std::string(kid) + "\"");
  const std::size_t open = text.rfind('{', at);
  const std::size_t close = text.find('}', at);
  std::string jwk = text.substr(open, close - open + 1);
  const std::string field = "\"kid\": \"" + std::string(kid) + "\",";
  const std::string replacement =
      new_kid.empty() ? std::string() : "\"kid\": \"" + std::string(new_kid) + "\",";
  jwk.replace(jwk.find(field), field.size(), replacement);
  return jwk;
}

std::string jwks_of(const std::vector<std::string>& jwks) {
  std::string out = R"({"keys":[)";
  for (std::size_t i = 0; i < jwks.size(); ++i) out += (i ? "," : "") + jwks[i];
  return out + "]}";
}

const std::string payload = R"({"sub":"alice","iss":"https://issuer.example","aud":"api",)"
                            R"("exp":1767229200,"iat":1767225600,"org_id":"acme"})";

jwt_error verify(const std::string& t, const jwt_keys& keys = fixture_keys(),
                 const jwt_rules& rules = {}, std::int64_t now = t0) {
  jwt_claims claims;
  return verify_jwt(t, keys, rules, now, claims);
}

TEST(Jwt, ValidTokensOfEachAlgorithm) {
  for (const std::string& t : {rs256(payload), es256(payload), hs256(payload)}) {
    jwt_claims claims;
    EXPECT_EQ(verify_jwt(t, fixture_keys(), {}, t0, claims), jwt_error::none) << t;
    EXPECT_EQ(claims.get("sub"), "alice");
    EXPECT_EQ(claims.get("org_id"), "acme");
    EXPECT_EQ(claims.get("exp"), "1767229200");
  }
  EXPECT_EQ(fixture_keys().size(), 3u);
}

TEST(Jwt, TypIsIgnored) {
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256","kid":"hmac-1"})")), jwt_error::none);
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256","kid":"hmac-1","typ":"at+jwt"})")),
            jwt_error::none);
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256","kid":"hmac-1","typ":7})")), jwt_error::none);
}

TEST(Jwt, WithoutKidTheOnlyKeyOfTheAlgorithmsType) {
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256"})")), jwt_error::none);
  EXPECT_EQ(verify(es256(payload, R"({"alg":"ES256"})")), jwt_error::none);
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256"})")), jwt_error::none);
  // Keys without kids are found the same way.
  const auto anonymous = parse_ok(jwks_of({fixture_jwk("rsa-1", ""), fixture_jwk("ec-1", "")}));
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256"})"), *anonymous), jwt_error::none);
  EXPECT_EQ(verify(es256(payload, R"({"alg":"ES256"})"), *anonymous), jwt_error::none);
  // A token's kid names a key by its kid only, never a key that has none.
  EXPECT_EQ(verify(rs256(payload), *anonymous), jwt_error::unknown_key);
  // No key of the type: no HMAC secret here.
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256"})"), *anonymous), jwt_error::unknown_key);
}

TEST(Jwt, WithoutKidSeveralKeysOfTheTypeIsUnknownKey) {
  const auto two_rsa = parse_ok(jwks_of(
      {fixture_jwk("rsa-1", "rsa-1"), fixture_jwk("rsa-1", "rsa-2"), fixture_jwk("ec-1", "ec-1")}));
  EXPECT_EQ(two_rsa->size(), 3u);
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256"})"), *two_rsa), jwt_error::unknown_key);
  // A kid picks one of them; the one type with a single key still needs none.
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256","kid":"rsa-2"})"), *two_rsa), jwt_error::none);
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256","kid":"rsa-1"})"), *two_rsa), jwt_error::none);
  EXPECT_EQ(verify(es256(payload, R"({"alg":"ES256"})"), *two_rsa), jwt_error::none);
}

TEST(Jwt, UnknownKidOrKidOfAnotherType) {
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256","kid":"rsa-9"})")), jwt_error::unknown_key);
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256","kid":""})")), jwt_error::unknown_key);
  // The kid of an EC key does not make it verify RS256.
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256","kid":"ec-1"})")), jwt_error::unknown_key);
  EXPECT_EQ(verify(es256(payload, R"({"alg":"ES256","kid":"hmac-1"})")), jwt_error::unknown_key);
  // A kid must be a string.
  EXPECT_EQ(verify(rs256(payload, R"({"alg":"RS256","kid":1})")), jwt_error::malformed);
}

std::string flip_signature_bit(const std::string& t, std::size_t byte, int bit) {
  const std::vector<std::string> p = parts(t);
  std::string sig = b64url_decode(p[2]);
  sig[byte] = static_cast<char>(sig[byte] ^ (1 << bit));
  return p[0] + "." + p[1] + "." + b64url(sig);
}

TEST(Jwt, FlippedSignatureBitIsBadSignature) {
  for (const std::string& t : {rs256(payload), es256(payload), hs256(payload)}) {
    ASSERT_EQ(verify(t), jwt_error::none);
    EXPECT_EQ(verify(flip_signature_bit(t, 0, 0)), jwt_error::bad_signature) << t;
    EXPECT_EQ(verify(flip_signature_bit(t, 17, 7)), jwt_error::bad_signature) << t;
    EXPECT_EQ(verify(flip_signature_bit(t, b64url_decode(parts(t)[2]).size() - 1, 3)),
              jwt_error::bad_signature)
        << t;
  }
}

TEST(Jwt, AlteredPayloadIsBadSignature) {
  const std::string other = b64url(R"({"sub":"mallory","aud":"api","exp":1767229200})");
  for (const std::string& t : {rs256(payload), es256(payload), hs256(payload)}) {
    const std::vector<std::string> p = parts(t);
    EXPECT_EQ(verify(p[0] + "." + other + "." + p[2]), jwt_error::bad_signature) << t;
    // Another header with the same alg and kid: the header is signed too.
    const std::string header = b64url(b64url_decode(p[0]) + " ");
    EXPECT_EQ(verify(header + "." + p[1] + "." + p[2]), jwt_error::bad_signature) << t;
  }
}

TEST(Jwt, SignatureOfTheWrongLengthIsBadSignature) {
  const std::string input = b64url(R"({"alg":"ES256","kid":"ec-1"})") + "." + b64url(payload);
  const std::string raw = sign_es256(input);
  EXPECT_EQ(verify(input + "." + b64url(raw)), jwt_error::none);
  EXPECT_EQ(verify(input + "." + b64url(raw.substr(0, 63))), jwt_error::bad_signature);
  EXPECT_EQ(verify(input + "." + b64url(raw + '\0')), jwt_error::bad_signature);
  // The DER form OpenSSL produces is not a JWS signature.
  EXPECT_EQ(verify(input + "." + b64url(digest_sign(ec_private(), input))),
            jwt_error::bad_signature);
  // r = 0, s = 0.
  EXPECT_EQ(verify(input + "." + b64url(std::string(64, '\0'))), jwt_error::bad_signature);

  const std::string hs_input = b64url(R"({"alg":"HS256","kid":"hmac-1"})") + "." + b64url(payload);
  const std::string mac = sign_hs256(hs_input);
  EXPECT_EQ(verify(hs_input + "." + b64url(mac)), jwt_error::none);
  EXPECT_EQ(verify(hs_input + "." + b64url(mac.substr(0, 16))), jwt_error::bad_signature);
  EXPECT_EQ(verify(hs_input + "." + b64url(mac + mac)), jwt_error::bad_signature);

  const std::string rs_input = b64url(R"({"alg":"RS256","kid":"rsa-1"})") + "." + b64url(payload);
  const std::string rs = sign_rs256(rs_input);
  EXPECT_EQ(verify(rs_input + "." + b64url(rs.substr(1))), jwt_error::bad_signature);
  EXPECT_EQ(verify(rs_input + "." + b64url(rs + "x")), jwt_error::bad_signature);
  EXPECT_EQ(verify(rs_input + "." + b64url(std::string(256, '\xff'))), jwt_error::bad_signature);
}

TEST(Jwt, OnlyRs256Es256AndHs256) {
  const std::string body = b64url(payload);
  for (const char* alg : {"none", "None", "NONE", "HS512", "HS384", "RS384", "RS512", "PS256",
                          "ES384", "ES512", "EdDSA", "hs256", "", "RS256 "}) {
    const std::string header = std::string(R"({"alg":")") + alg + R"(","kid":"hmac-1"})";
    EXPECT_EQ(verify(b64url(header) + "." + body + "." + b64url("sig")),
              jwt_error::unsupported_algorithm)
        << alg;
    // Even correctly signed with the secret.
    EXPECT_EQ(verify(hs256(payload, header)), jwt_error::unsupported_algorithm) << alg;
  }
  // alg "none" with the empty signature it calls for: not three parts.
  EXPECT_EQ(verify(b64url(R"({"alg":"none"})") + "." + body + "."), jwt_error::malformed);
  // alg missing or not a string.
  EXPECT_EQ(verify(hs256(payload, R"({"kid":"hmac-1"})")), jwt_error::malformed);
  EXPECT_EQ(verify(hs256(payload, R"({"alg":null,"kid":"hmac-1"})")), jwt_error::malformed);
  EXPECT_EQ(verify(hs256(payload, R"({"alg":["HS256"],"kid":"hmac-1"})")), jwt_error::malformed);
}

// The algorithm-confusion attack: an HS256 token "signed" with the RSA (or EC) public key
// as HMAC secret, which anyone can read from the JWKS.
TEST(Jwt, Hs256WithThePublicKeyAsSecretNeverVerifies) {
  const std::string pem = read_file("rsa_public.pem");
  const std::string& jwks = fixture_jwks();
  const std::size_t n_at = jwks.find("\"n\": \"") + 6;
  const std::string n = b64url_decode(jwks.substr(n_at, jwks.find('"', n_at) - n_at));
  ASSERT_EQ(n.size(), 256u);
  const auto rsa_only = parse_ok(jwks_of({fixture_jwk("rsa-1", "rsa-1")}));
  for (const std::string& secret : {pem, fixture_jwks(), fixture_jwk("rsa-1", "rsa-1"), n}) {
    for (const char* header : {R"({"alg":"HS256","kid":"rsa-1"})", R"({"alg":"HS256"})",
                               R"({"alg":"HS256","kid":"ec-1"})"}) {
      const std::string t =
          token(header, payload, [&](std::string_view in) { return sign_hs256(in, secret); });
      EXPECT_NE(verify(t), jwt_error::none) << header;
      EXPECT_NE(verify(t, *rsa_only), jwt_error::none) << header;
    }
    const std::string with_kid = token(R"({"alg":"HS256","kid":"rsa-1"})", payload,
                                       [&](std::string_view in) { return sign_hs256(in, secret); });
    EXPECT_EQ(verify(with_kid), jwt_error::unknown_key);
    EXPECT_EQ(verify(with_kid, *rsa_only), jwt_error::unknown_key);
  }
}

TEST(Jwt, ExpiryWithLeeway) {
  const std::string t = hs256(R"({"exp":1000})");
  const jwt_rules rules;  // leeway 30
  EXPECT_EQ(verify(t, fixture_keys(), rules, 0), jwt_error::none);
  EXPECT_EQ(verify(t, fixture_keys(), rules, 999), jwt_error::none);
  EXPECT_EQ(verify(t, fixture_keys(), rules, 1029), jwt_error::none);  // exp + leeway - 1
  EXPECT_EQ(verify(t, fixture_keys(), rules, 1030), jwt_error::expired);
  EXPECT_EQ(verify(t, fixture_keys(), rules, t0), jwt_error::expired);
  jwt_rules strict;
  strict.leeway_seconds = 0;
  EXPECT_EQ(verify(t, fixture_keys(), strict, 999), jwt_error::none);
  EXPECT_EQ(verify(t, fixture_keys(), strict, 1000), jwt_error::expired);
  // Fractional NumericDate: expired from the first whole second at or past it.
  const std::string f = hs256(R"({"exp":1000.5})");
  EXPECT_EQ(verify(f, fixture_keys(), rules, 1030), jwt_error::none);
  EXPECT_EQ(verify(f, fixture_keys(), rules, 1031), jwt_error::expired);
  // Far past and far future, without overflow.
  EXPECT_EQ(verify(hs256(R"({"exp":9223372036854775807})"), fixture_keys(), rules, INT64_MAX),
            jwt_error::none);
  const std::string late = hs256(R"({"exp":9223372036854775777})");  // INT64_MAX - 30
  EXPECT_EQ(verify(late, fixture_keys(), rules, INT64_MAX), jwt_error::expired);
  EXPECT_EQ(verify(late, fixture_keys(), rules, INT64_MAX - 1), jwt_error::none);
  jwt_rules lenient;
  lenient.leeway_seconds = INT64_MAX;
  EXPECT_EQ(verify(hs256(R"({"exp":0})"), fixture_keys(), lenient, INT64_MAX), jwt_error::expired);
  EXPECT_EQ(verify(hs256(R"({"exp":0})"), fixture_keys(), lenient, INT64_MAX - 1), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"nbf":9223372036854775807})"), fixture_keys(), lenient, 0),
            jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"nbf":18446744073709551615})"), fixture_keys(), lenient, INT64_MAX),
            jwt_error::not_yet_valid);
  EXPECT_EQ(verify(hs256(R"({"exp":18446744073709551615})"), fixture_keys(), rules, INT64_MAX),
            jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":1e300})"), fixture_keys(), rules, INT64_MAX), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"exp":-1e300})"), fixture_keys(), rules, INT64_MIN),
            jwt_error::expired);
  EXPECT_EQ(verify(hs256(R"({"exp":-9223372036854775808})"), fixture_keys(), rules, INT64_MIN),
            jwt_error::none);
  // Not a NumericDate.
  EXPECT_EQ(verify(hs256(R"({"exp":"1000"})"), fixture_keys(), rules, 0), jwt_error::malformed);
  EXPECT_EQ(verify(hs256(R"({"exp":null})"), fixture_keys(), rules, 0), jwt_error::malformed);
  EXPECT_EQ(verify(hs256(R"({"exp":1e400})"), fixture_keys(), rules, 0), jwt_error::malformed);
}

TEST(Jwt, NotBeforeWithLeeway) {
  const std::string t = hs256(R"({"nbf":1000})");
  const jwt_rules rules;
  EXPECT_EQ(verify(t, fixture_keys(), rules, 969), jwt_error::not_yet_valid);
  EXPECT_EQ(verify(t, fixture_keys(), rules, 970), jwt_error::none);  // now + leeway == nbf
  EXPECT_EQ(verify(t, fixture_keys(), rules, 2000), jwt_error::none);
  const std::string f = hs256(R"({"nbf":1000.5})");
  EXPECT_EQ(verify(f, fixture_keys(), rules, 970), jwt_error::not_yet_valid);
  EXPECT_EQ(verify(f, fixture_keys(), rules, 971), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"nbf":true})"), fixture_keys(), rules, 2000), jwt_error::malformed);
  // exp is checked first.
  EXPECT_EQ(verify(hs256(R"({"nbf":5000,"exp":1000})"), fixture_keys(), rules, 2000),
            jwt_error::expired);
}

TEST(Jwt, Issuer) {
  jwt_rules rules;
  EXPECT_EQ(verify(hs256(R"({"sub":"a"})"), fixture_keys(), rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"iss":7})"), fixture_keys(), rules), jwt_error::none);
  rules.issuers = {"https://other.example", "https://issuer.example"};
  EXPECT_EQ(verify(hs256(payload), fixture_keys(), rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"iss":"https://issuer.example/"})"), fixture_keys(), rules),
            jwt_error::wrong_issuer);
  EXPECT_EQ(verify(hs256(R"({"iss":"HTTPS://issuer.example"})"), fixture_keys(), rules),
            jwt_error::wrong_issuer);
  EXPECT_EQ(verify(hs256(R"({"sub":"a"})"), fixture_keys(), rules), jwt_error::wrong_issuer);
  EXPECT_EQ(verify(hs256(R"({"iss":["https://issuer.example"]})"), fixture_keys(), rules),
            jwt_error::wrong_issuer);
  // Time comes before the issuer.
  EXPECT_EQ(verify(hs256(R"({"iss":"x","exp":1})"), fixture_keys(), rules), jwt_error::expired);
}

TEST(Jwt, Audience) {
  jwt_rules rules;
  EXPECT_EQ(verify(hs256(R"({"sub":"a"})"), fixture_keys(), rules), jwt_error::none);
  rules.audiences = {"api", "admin"};
  EXPECT_EQ(verify(hs256(R"({"aud":"api"})"), fixture_keys(), rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"aud":"admin"})"), fixture_keys(), rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"aud":["web","admin"]})"), fixture_keys(), rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"aud":[1,null,"api"]})"), fixture_keys(), rules), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"aud":"API"})"), fixture_keys(), rules), jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(R"({"aud":["web"]})"), fixture_keys(), rules), jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(R"({"aud":[]})"), fixture_keys(), rules), jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(R"({"aud":[["api"]]})"), fixture_keys(), rules),
            jwt_error::wrong_audience);
  EXPECT_EQ(verify(hs256(R"({"sub":"a"})"), fixture_keys(), rules), jwt_error::wrong_audience);
  // The issuer comes before the audience.
  rules.issuers = {"https://issuer.example"};
  EXPECT_EQ(verify(hs256(R"({"aud":"web"})"), fixture_keys(), rules), jwt_error::wrong_issuer);
}

TEST(Jwt, MalformedStructure) {
  const std::string good = hs256(payload);
  const std::vector<std::string> p = parts(good);
  ASSERT_EQ(verify(good), jwt_error::none);
  for (const std::string& t : {
           std::string(),
           std::string("."),
           std::string(".."),
           p[0],
           p[0] + "." + p[1],                      // two parts
           good + "." + p[2],                      // four parts
           good + ".",                             // four parts, the last empty
           "." + p[1] + "." + p[2],                // empty header
           p[0] + ".." + p[2],                     // empty payload
           p[0] + "." + p[1] + ".",                // empty signature
           p[0] + "=." + p[1] + "." + p[2],        // padding
           p[0] + "." + p[1] + "." + p[2] + "=",   //
           p[0] + "." + p[1] + "." + p[2] + "==",  //
           p[0] + " ." + p[1] + "." + p[2],        // whitespace
           p[0] + "." + p[1] + "." + p[2] + "\n",  //
           p[0] + "." + p[1] + "+." + p[2],        // base64, not base64url
           p[0] + "." + p[1] + "." + p[2] + "/",   //
           p[0] + "." + p[1] + "." + p[2] + "AA",  // a length of 4n + 1
           p[0] + "." + p[1] + "." + p[2] + std::string(1, '\0'),
           p[0] + "." + p[1] + "." + p[2] + "\xc3\xa9",
       }) {
    EXPECT_EQ(verify(t), jwt_error::malformed) << t;
  }
}

TEST(Jwt, NonCanonicalBase64urlIsMalformed) {
  // 32 bytes of HMAC end with a character carrying 2 unused bits, which must be zero.
  const std::string good = hs256(payload);
  std::string t = good;
  const char last = t.back();
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  ASSERT_EQ(alphabet.find(last) & 3, 0u);
  t.back() = alphabet[alphabet.find(last) | 1];
  EXPECT_EQ(verify(t), jwt_error::malformed);
}

TEST(Jwt, TokenSizeLimit) {
  // A payload that brings the token to exactly 8192 bytes, then one more.
  const std::string empty = hs256(R"({"pad":""})");
  const std::size_t fill = (8192 - empty.size()) * 3 / 4;
  std::string t;
  for (std::size_t n = fill - 8; n <= fill + 8; ++n) {
    t = hs256(R"({"pad":")" + std::string(n, 'x') + R"("})");
    if (t.size() == 8192) break;
  }
  ASSERT_EQ(t.size(), 8192u);
  EXPECT_EQ(verify(t), jwt_error::none);
  for (std::size_t n = fill; n <= fill + 16; ++n) {
    t = hs256(R"({"pad":")" + std::string(n, 'x') + R"("})");
    if (t.size() > 8192) break;
  }
  ASSERT_GT(t.size(), 8192u);
  EXPECT_EQ(verify(t), jwt_error::malformed);
  EXPECT_EQ(verify(std::string(100'000, 'A')), jwt_error::malformed);
}

TEST(Jwt, DeepJsonIsMalformed) {
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256","x":)" + deep + "}")), jwt_error::malformed);
  EXPECT_EQ(verify(hs256(R"({"x":)" + deep + "}")), jwt_error::malformed);
  // 32 levels are fine, 33 are not.
  const auto nested = [](int depth) {
    return std::string(static_cast<std::size_t>(depth - 1), '[') +
           std::string(static_cast<std::size_t>(depth - 1), ']');
  };
  EXPECT_EQ(verify(hs256(R"({"x":)" + nested(32) + "}")), jwt_error::none);
  EXPECT_EQ(verify(hs256(R"({"x":)" + nested(33) + "}")), jwt_error::malformed);
}

TEST(Jwt, HeaderOrPayloadThatIsNotAnObjectIsMalformed) {
  for (const char* bad :
       {R"(["HS256"])", R"("HS256")", "1", "null", "", "{", R"({"alg":"HS256"} x)",
        R"({"alg":"HS256",})", "\xef\xbb\xbf{\"alg\":\"HS256\"}"}) {
    EXPECT_EQ(verify(token(bad, payload, [](std::string_view in) { return sign_hs256(in); })),
              jwt_error::malformed)
        << bad;
  }
  // A payload that is not an object, after a valid signature.
  for (const char* bad : {"[]", R"("alice")", "1", "true", "null", "{", "not json",
                          R"({"sub":"a"}{})", "{\"sub\":\"\xff\"}"}) {
    EXPECT_EQ(verify(hs256(bad)), jwt_error::malformed) << bad;
    EXPECT_EQ(verify(rs256(bad)), jwt_error::malformed) << bad;
  }
  // The signature is checked before the payload is read.
  EXPECT_EQ(verify(flip_signature_bit(hs256("[]"), 0, 0)), jwt_error::bad_signature);
}

TEST(Jwt, CriticalHeaderExtensionsAreRefused) {
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256","kid":"hmac-1","crit":["exp"],"exp":1})")),
            jwt_error::malformed);
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256","kid":"hmac-1","b64":false,"crit":["b64"]})")),
            jwt_error::malformed);
}

TEST(Jwt, DuplicateMembersTheLastWins) {
  // RFC 7515 section 4: a parser may keep the lexically last of duplicate names.
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"none","alg":"HS256","kid":"hmac-1"})")),
            jwt_error::none);
  EXPECT_EQ(verify(hs256(payload, R"({"alg":"HS256","alg":"none","kid":"hmac-1"})")),
            jwt_error::unsupported_algorithm);
  jwt_claims claims;
  ASSERT_EQ(verify_jwt(hs256(R"({"sub":"a","sub":"b"})"), fixture_keys(), {}, t0, claims),
            jwt_error::none);
  EXPECT_EQ(claims.get("sub"), "b");
}

TEST(JwtClaims, ValuesAsText) {
  jwt_claims claims;
  ASSERT_EQ(
      verify_jwt(hs256(R"({"s":"text","e":"","i":42,"n":-17,"z":0,"big":18446744073709551615,)"
                       R"("min":-9223372036854775808,"t":true,"f":false,"x":1.5,"y":2.0,)"
                       R"("o":{"a":1},"a":[1],"nul":null,"u":"caf\u00e9"})"),
                 fixture_keys(), {}, t0, claims),
      jwt_error::none);
  EXPECT_EQ(claims.get("s"), "text");
  EXPECT_EQ(claims.get("e"), "");
  EXPECT_EQ(claims.get("i"), "42");
  EXPECT_EQ(claims.get("n"), "-17");
  EXPECT_EQ(claims.get("z"), "0");
  EXPECT_EQ(claims.get("big"), "18446744073709551615");
  EXPECT_EQ(claims.get("min"), "-9223372036854775808");
  EXPECT_EQ(claims.get("t"), "true");
  EXPECT_EQ(claims.get("f"), "false");
  EXPECT_EQ(claims.get("u"), "caf\xc3\xa9");
  for (const char* absent : {"x", "y", "o", "a", "nul", "missing", "S", ""}) {
    EXPECT_EQ(claims.get(absent), std::nullopt) << absent;
  }
}

TEST(JwtClaims, BoundsOnWhatIsKept) {
  jwt_claims claims;
  std::string many = "{";
  for (int i = 0; i < 70; ++i)
    many += (i ? ",\"c" : "\"c") + std::to_string(i) + "\":" + std::to_string(i);
  many += "}";
  ASSERT_EQ(verify_jwt(hs256(many), fixture_keys(), {}, t0, claims), jwt_error::none);
  EXPECT_EQ(claims.get("c0"), "0");
  EXPECT_EQ(claims.get("c63"), "63");
  EXPECT_EQ(claims.get("c64"), std::nullopt);

  const std::string kept(1024, 'k');
  const std::string dropped(1025, 'd');
  ASSERT_EQ(
      verify_jwt(hs256(R"({"kept":")" + kept + R"(","dropped":")" + dropped + R"(","sub":"a"})"),
                 fixture_keys(), {}, t0, claims),
      jwt_error::none);
  EXPECT_EQ(claims.get("kept"), kept);
  EXPECT_EQ(claims.get("dropped"), std::nullopt);
  EXPECT_EQ(claims.get("sub"), "a");
  EXPECT_EQ(claims.get("c0"), std::nullopt) << "cleared before the next token";
}

TEST(JwtClaims, EmptyUnlessVerified) {
  jwt_claims claims;
  ASSERT_EQ(verify_jwt(hs256(payload), fixture_keys(), {}, t0, claims), jwt_error::none);
  ASSERT_EQ(claims.get("sub"), "alice");
  jwt_rules rules;
  rules.audiences = {"other"};
  EXPECT_EQ(verify_jwt(hs256(payload), fixture_keys(), rules, t0, claims),
            jwt_error::wrong_audience);
  EXPECT_EQ(claims.get("sub"), std::nullopt);
  ASSERT_EQ(verify_jwt(hs256(payload), fixture_keys(), {}, t0, claims), jwt_error::none);
  EXPECT_EQ(verify_jwt("x.y.z", fixture_keys(), {}, t0, claims), jwt_error::malformed);
  EXPECT_EQ(claims.get("sub"), std::nullopt);
  ASSERT_EQ(verify_jwt(hs256(payload), fixture_keys(), {}, t0, claims), jwt_error::none);
  claims.clear();
  EXPECT_EQ(claims.get("sub"), std::nullopt);
}

TEST(Jwt, ErrorNamesAndDescriptions) {
  const std::vector<std::pair<jwt_error, const char*>> names = {
      {jwt_error::none, "none"},
      {jwt_error::malformed, "malformed"},
      {jwt_error::unsupported_algorithm, "unsupported_algorithm"},
      {jwt_error::unknown_key, "unknown_key"},
      {jwt_error::bad_signature, "bad_signature"},
      {jwt_error::expired, "expired"},
      {jwt_error::not_yet_valid, "not_yet_valid"},
      {jwt_error::wrong_issuer, "wrong_issuer"},
      {jwt_error::wrong_audience, "wrong_audience"},
  };
  for (const auto& [e, name] : names) {
    EXPECT_EQ(to_string(e), name);
    EXPECT_FALSE(describe(e).empty());
  }
  EXPECT_EQ(describe(jwt_error::expired), "Token expired");
}

TEST(Jwt, SharedKeysAcrossThreads) {
  const std::vector<std::string> tokens = {rs256(payload), es256(payload), hs256(payload),
                                           flip_signature_bit(rs256(payload), 3, 1)};
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      jwt_claims claims;
      for (int round = 0; round < 50; ++round) {
        for (std::size_t j = 0; j < tokens.size(); ++j) {
          const jwt_error want = j == 3 ? jwt_error::bad_signature : jwt_error::none;
          if (verify_jwt(tokens[j], fixture_keys(), {}, t0, claims) != want) ++failures[i];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

// ---- JWKS errors ----

std::string parse_error(std::string_view json) {
  std::string error;
  const auto keys = jwt_keys::parse(json, error);
  EXPECT_EQ(keys, nullptr) << json;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  return error;
}

const std::string ec_x = "MZULapaE0jZqNOjMnSQlgmB1ULGebYrhBI-GnfU6H9U";
const std::string ec_y = "7-B023KcKfqUJ7i-mSwXTSb30zbfBZttOLRNntPD23E";
const std::string secret32 = b64url(std::string(32, 's'));

std::string oct(std::string_view extra = "") {
  return R"({"kty":"oct","k":")" + secret32 + "\"" + std::string(extra) + "}";
}

TEST(JwtKeys, TheFixtureParses) {
  const auto keys = parse_ok(fixture_jwks());
  EXPECT_EQ(keys->size(), 3u);
  // Members a key may carry besides: ignored.
  EXPECT_EQ(parse_ok(jwks_of({oct(R"(,"key_ops":["verify"],"x5t":"abc","ext":true)")}))->size(),
            1u);
  EXPECT_EQ(parse_ok(R"({"keys":[)" + oct() + R"(],"other":1})")->size(), 1u);
}

TEST(JwtKeys, DocumentErrors) {
  EXPECT_EQ(parse_error("not json"), "JWKS: not JSON (syntax error)");
  EXPECT_EQ(parse_error(""), "JWKS: not JSON (incomplete JSON)");
  EXPECT_EQ(parse_error(std::string(40, '[') + std::string(40, ']')), "JWKS: not JSON (too deep)");
  EXPECT_EQ(parse_error("[]"), R"(JWKS: not a JSON object ({"keys": [...]}))");
  EXPECT_EQ(parse_error("{}"), R"(keys: missing ({"keys": [...]}))");
  EXPECT_EQ(parse_error(R"({"keys":{}})"), "keys: not an array");
  EXPECT_EQ(parse_error(R"({"keys":[]})"), "keys: empty, no key to verify with");
  EXPECT_EQ(parse_error(R"({"keys":[1]})"), "keys[0]: not an object");
  EXPECT_EQ(parse_error(std::string(1024 * 1024 + 1, ' ')), "JWKS: 1048577 bytes, at most 1 MiB");
}

TEST(JwtKeys, AtMost64Keys) {
  std::vector<std::string> keys(64, oct());
  EXPECT_EQ(parse_ok(jwks_of(keys))->size(), 64u);
  keys.push_back(oct());
  EXPECT_EQ(parse_error(jwks_of(keys)), "keys: 65 keys, at most 64");
}

TEST(JwtKeys, KeyErrorsNameTheKeyAndField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"k":"x"})", "keys[1].kty: missing"},
      {R"({"kty":1})", "keys[1].kty: not a string"},
      {R"({"kty":"OKP","crv":"Ed25519","x":"AA"})",
       "keys[1].kty: unsupported key type 'OKP' (RSA, EC or oct)"},
      {R"({"kty":"EC","crv":"P-384","x":"AA","y":"AA"})",
       "keys[1].crv: unsupported curve 'P-384' (P-256 only)"},
      {R"({"kty":"EC","x":"AA","y":"AA"})", "keys[1].crv: missing"},
      {R"({"kty":"EC","crv":"P-256","x":"AA","y":")" + ec_y + "\"}",
       "keys[1].x: 1-byte coordinate, P-256 needs 32"},
      {R"({"kty":"EC","crv":"P-256","x":")" + ec_x + "\"}", "keys[1].y: missing"},
      {R"({"kty":"EC","crv":"P-256","x":")" + ec_x + R"(","y":")" + ec_x + "\"}",
       "keys[1]: (x, y) is not a point on P-256"},
      {R"({"kty":"RSA","n":")" + b64url("\x80" + std::string(127, '\x01')) + R"(","e":"AQAB"})",
       "keys[1].n: 1024-bit modulus, RS256 needs at least 2048"},
      {R"({"kty":"RSA","n":")" + b64url("\x80" + std::string(1024, '\x01')) + R"(","e":"AQAB"})",
       "keys[1].n: 8200-bit modulus, at most 8192"},
      {R"({"kty":"RSA","e":"AQAB"})", "keys[1].n: missing"},
      {R"({"kty":"RSA","n":"AQAB+","e":"AQAB"})",
       "keys[1].n: not base64url (unpadded, alphabet A-Z a-z 0-9 - _)"},
      {R"({"kty":"RSA","n":")" + b64url("\x81" + std::string(255, '\x01')) + R"(","e":"AQAA"})",
       "keys[1].e: exponent 65536, an RSA exponent is odd and at least 3"},
      {R"({"kty":"RSA","n":")" + b64url("\x81" + std::string(255, '\x01')) + R"(","e":")" +
           b64url(std::string(9, '\x01')) + "\"}",
       "keys[1].e: exponent over 64 bits"},
      {R"({"kty":"oct","k":")" + b64url(std::string(16, 's')) + "\"}",
       "keys[1].k: 16-byte secret, HS256 needs at least 32"},
      {R"({"kty":"oct","k":""})", "keys[1].k: 0-byte secret, HS256 needs at least 32"},
      {R"({"kty":"oct","k":")" + secret32 + "=\"}",
       "keys[1].k: not base64url (unpadded, alphabet A-Z a-z 0-9 - _)"},
      {R"({"kty":"oct","k":7})", "keys[1].k: not a string"},
      {oct(R"(,"use":"enc")"), "keys[1].use: 'enc', not 'sig': not a signature key"},
      {oct(R"(,"use":1)"), "keys[1].use: not a string"},
      {oct(R"(,"alg":"RS256")"), "keys[1].alg: 'RS256' does not match kty 'oct' (HS256)"},
      {oct(R"(,"alg":"HS512")"), "keys[1].alg: 'HS512' does not match kty 'oct' (HS256)"},
      {oct(R"(,"alg":"none")"), "keys[1].alg: 'none' does not match kty 'oct' (HS256)"},
      {oct(R"(,"kid":["a"])"), "keys[1].kid: not a string"},
      {oct(R"(,"kid":"a")"), "keys[1].kid: 'a' is also the kid of keys[0]"},
      {R"({"kty":"o\nct'"})",
       R"(keys[1].kty: unsupported key type 'o\x0act\x27' (RSA, EC or oct))"},
  };
  for (const auto& [jwk, message] : cases) {
    EXPECT_EQ(parse_error(jwks_of({oct(R"(,"kid":"a")"), jwk})), message) << jwk;
  }
  // The fixture's RSA key with "alg": "ES256".
  std::string rsa = fixture_jwk("rsa-1", "rsa-1");
  rsa.replace(rsa.find("\"RS256\""), 7, "\"ES256\"");
  EXPECT_EQ(parse_error(jwks_of({rsa})), "keys[0].alg: 'ES256' does not match kty 'RSA' (RS256)");
  // Two keys may both have no kid.
  EXPECT_EQ(parse_ok(jwks_of({oct(), oct()}))->size(), 2u);
}

TEST(JwtKeys, ErrorIsClearedOnSuccess) {
  std::string error = "left over";
  EXPECT_NE(jwt_keys::parse(jwks_of({oct()}), error), nullptr);
  EXPECT_EQ(error, "");
}

}  // namespace
}  // namespace sluice
