#include "util/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>

namespace sluice {
namespace {

constexpr std::size_t max_token_bytes = 8192;
constexpr std::size_t max_jwks_bytes = std::size_t{1} << 20;
constexpr std::size_t max_keys = 64;
constexpr unsigned max_json_depth = 32;
constexpr std::size_t max_claims = 64;
constexpr std::size_t max_claim_value_bytes = 1024;
constexpr int min_rsa_bits = 2048;
// Verification time grows with the modulus: the key set is trusted config, but a 16384-bit
// key put there by mistake would make every check cost ~64 times a 2048-bit one.
constexpr int max_rsa_bits = 8192;
constexpr int max_rsa_exponent_bytes = 8;
constexpr std::size_t p256_coordinate_bytes = 32;
constexpr std::size_t min_hmac_secret_bytes = 32;  // RFC 7518 3.2: at least the hash's size

template <auto free_function>
struct openssl_free {
  template <class T>
  void operator()(T* p) const {
    free_function(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_free<EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, openssl_free<EVP_PKEY_CTX_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, openssl_free<EVP_MD_CTX_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_free<BN_free>>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, openssl_free<OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, openssl_free<OSSL_PARAM_free>>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, openssl_free<ECDSA_SIG_free>>;

// OpenSSL reports why a key or signature failed on the thread's error queue, which the
// TLS code on the same thread reads after its own calls (SSL_get_error): what is pushed
// while this is alive is dropped, what was there before stays.
class openssl_error_scope {
 public:
  openssl_error_scope() { ERR_set_mark(); }
  ~openssl_error_scope() { ERR_pop_to_mark(); }
  openssl_error_scope(const openssl_error_scope&) = delete;
  openssl_error_scope& operator=(const openssl_error_scope&) = delete;
};

// ---- base64url (RFC 4648 section 5), strict ----

constexpr std::array<std::int8_t, 256> base64url_values = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}();

// Decodes unpadded base64url into `out`. Only the canonical spelling of each byte string
// is accepted (no '=', no whitespace, no '+' or '/', zero bits after the last byte), so
// a token has exactly one encoding and a signature cannot be re-spelled.
bool base64url_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 == 1) return false;  // 6 bits cannot end a byte
  out.reserve(in.size() / 4 * 3 + 2);
  std::uint32_t bits = 0;
  int pending = 0;  // bits in `bits` not yet written: 0, 2, 4 or 6
  for (const char c : in) {
    const int v = base64url_values[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    bits = ((bits << 6) | static_cast<std::uint32_t>(v)) & 0xfff;
    pending += 6;
    if (pending >= 8) {
      pending -= 8;
      out += static_cast<char>((bits >> pending) & 0xff);
    }
  }
  return (bits & ((1u << pending) - 1)) == 0;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// ---- JSON ----

boost::json::parse_options json_options() {
  boost::json::parse_options o;
  o.max_depth = max_json_depth;
  return o;
}

// A member of `o`, or null. Boost.JSON keeps the last of duplicate names, which RFC 7515
// section 4 allows ("the lexically last duplicate member name").
const boost::json::value* member(const boost::json::object& o, std::string_view name) {
  return o.if_contains(name);
}

// `s` for an error message: quoted, at most 40 bytes, non-printable bytes as \xNN, so a
// hostile key set cannot break the log line the message ends up in.
std::string quoted(std::string_view s) {
  constexpr std::size_t max_shown = 40;
  constexpr char hex[] = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  if (s.size() > max_shown) out += "...";
  out += '\'';
  return out;
}

// ---- the key set ----

// The algorithm each key type verifies, and nothing else: the binding that keeps an
// HS256 token away from an RSA or EC key.
enum class key_type { rsa, ec, oct };

constexpr std::string_view algorithm_of(key_type t) {
  switch (t) {
    case key_type::rsa:
      return "RS256";
    case key_type::ec:
      return "ES256";
    case key_type::oct:
      return "HS256";
  }
  return "";
}

struct key {
  key_type type = key_type::oct;
  std::optional<std::string> kid;
  pkey_ptr pkey;       // RSA and EC
  std::string secret;  // oct

  key() = default;
  key(key&&) = default;
  key& operator=(key&&) = default;
  ~key() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

// Reads one key of a JWKS; every error names the key (keys[i]) and its field.
class key_reader {
 public:
  key_reader(const boost::json::object& o, std::size_t index, std::string& error)
      : o_(o), prefix_("keys[" + std::to_string(index) + "]"), error_(error) {}

  std::optional<key> read() {
    const boost::json::string* kty = text("kty", true);
    if (!kty) return std::nullopt;
    key k;
    if (*kty == "RSA") {
      k.type = key_type::rsa;
    } else if (*kty == "EC") {
      k.type = key_type::ec;
    } else if (*kty == "oct") {
      k.type = key_type::oct;
    } else {
      fail("kty", "unsupported key type " + quoted(*kty) + " (RSA, EC or oct)");
      return std::nullopt;
    }
    // "use" and "alg" are optional; when present they must say what the type implies.
    const boost::json::string* use = nullptr;
    const boost::json::string* alg = nullptr;
    const boost::json::string* kid = nullptr;
    if (!optional_text("use", use) || !optional_text("alg", alg) || !optional_text("kid", kid)) {
      return std::nullopt;
    }
    if (use && *use != "sig") {
      fail("use", quoted(*use) + ", not 'sig': not a signature key");
      return std::nullopt;
    }
    const std::string_view implied = algorithm_of(k.type);
    if (alg && *alg != implied) {
      fail("alg", quoted(*alg) + " does not match kty " + quoted(*kty) + " (" +
                      std::string(implied) + ")");
      return std::nullopt;
    }
    if (kid) k.kid.emplace(*kid);
    const bool ok = k.type == key_type::rsa  ? read_rsa(k)
                    : k.type == key_type::ec ? read_ec(k)
                                             : read_oct(k);
    if (!ok) return std::nullopt;
    return k;
  }

  const std::string& prefix() const { return prefix_; }

 private:
  // Sets the error, "keys[i].field: message"; returns false.
  bool fail(std::string_view field, std::string_view message) {
    error_ = prefix_;
    if (!field.empty()) {
      error_ += '.';
      error_ += field;
    }
    error_ += ": ";
    error_ += message;
    return false;
  }

  // Member `name` as a string; null with the error set when it is not one (or, when
  // `required`, when it is missing).
  const boost::json::string* text(std::string_view name, bool required) {
    const boost::json::value* v = member(o_, name);
    if (!v) {
      if (required) fail(name, "missing");
      return nullptr;
    }
    const boost::json::string* s = v->if_string();
    if (!s) fail(name, "not a string");
    return s;
  }

  // Member `name` as a string in `out`, null when absent; false when it is not a string.
  bool optional_text(std::string_view name, const boost::json::string*& out) {
    out = nullptr;
    if (!member(o_, name)) return true;
    out = text(name, false);
    return out != nullptr;
  }

  // Member `name` decoded from base64url into `out`.
  bool binary(std::string_view name, std::string& out) {
    const boost::json::string* s = text(name, true);
    if (!s) return false;
    if (!base64url_decode(*s, out)) {
      fail(name, "not base64url (unpadded, alphabet A-Z a-z 0-9 - _)");
      return false;
    }
    return true;
  }

  // The public key of `type` from `params`; refused when OpenSSL's public key check
  // fails (an EC point off the curve, an RSA modulus with small factors).
  static pkey_ptr public_key(const char* type, OSSL_PARAM_BLD* bld) {
    const params_ptr params(OSSL_PARAM_BLD_to_param(bld));
    const pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* raw = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
      return nullptr;
    }
    pkey_ptr pkey(raw);
    const pkey_ctx_ptr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return pkey;
  }

  bool read_rsa(key& k) {
    std::string n_bytes;
    std::string e_bytes;
    if (!binary("n", n_bytes) || !binary("e", e_bytes)) return false;
    const bn_ptr n(BN_bin2bn(bytes(n_bytes), static_cast<int>(n_bytes.size()), nullptr));
    const bn_ptr e(BN_bin2bn(bytes(e_bytes), static_cast<int>(e_bytes.size()), nullptr));
    if (!n || !e) return fail("", "out of memory");
    const int bits = BN_num_bits(n.get());
    if (bits < min_rsa_bits) {
      return fail("n", std::to_string(bits) + "-bit modulus, RS256 needs at least " +
                           std::to_string(min_rsa_bits));
    }
    if (bits > max_rsa_bits) {
      return fail("n",
                  std::to_string(bits) + "-bit modulus, at most " + std::to_string(max_rsa_bits));
    }
    if (BN_num_bytes(e.get()) > max_rsa_exponent_bytes) {
      return fail("e", "exponent over 64 bits");
    }
    if (!BN_is_odd(e.get()) || BN_is_one(e.get())) {
      return fail("e", "exponent " + std::to_string(BN_get_word(e.get())) +
                           ", an RSA exponent is odd and at least 3");
    }
    const param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
      return fail("", "out of memory");
    }
    k.pkey = public_key("RSA", bld.get());
    if (!k.pkey) return fail("", "not a valid RSA public key (n, e)");
    return true;
  }

  bool read_ec(key& k) {
    const boost::json::string* crv = text("crv", true);
    if (!crv) return false;
    if (*crv != "P-256") return fail("crv", "unsupported curve " + quoted(*crv) + " (P-256 only)");
    // SEC 1 uncompressed point: 0x04 || x || y.
    std::string point = "\x04";
    std::string coordinate;
    for (const std::string_view name : {"x", "y"}) {
      if (!binary(name, coordinate)) return false;
      if (coordinate.size() != p256_coordinate_bytes) {
        return fail(name, std::to_string(coordinate.size()) + "-byte coordinate, P-256 needs " +
                              std::to_string(p256_coordinate_bytes));
      }
      point += coordinate;
    }
    const param_bld_ptr bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
            1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
      return fail("", "out of memory");
    }
    k.pkey = public_key("EC", bld.get());
    if (!k.pkey) return fail("", "(x, y) is not a point on P-256");
    return true;
  }

  bool read_oct(key& k) {
    if (!binary("k", k.secret)) return false;
    if (k.secret.size() < min_hmac_secret_bytes) {
      return fail("k", std::to_string(k.secret.size()) + "-byte secret, HS256 needs at least " +
                           std::to_string(min_hmac_secret_bytes));
    }
    return true;
  }

  const boost::json::object& o_;
  std::string prefix_;
  std::string& error_;
};

// ---- verification ----

// -1, 0 or +1 as NumericDate `v` is before, at or after `t` (seconds); nullopt when `v`
// is not a finite number. Integers compare exactly, whatever their size (`t` is an
// int64 moved by the leeway, so it may leave int64's range); fractions as long double,
// whose 64-bit mantissa holds every such `t` exactly.
std::optional<int> compare_date(const boost::json::value& v, __int128 t) {
  const auto sign = [](auto a, auto b) { return (a > b) - (a < b); };
  if (const std::int64_t* i = v.if_int64()) return sign(static_cast<__int128>(*i), t);
  if (const std::uint64_t* u = v.if_uint64()) return sign(static_cast<__int128>(*u), t);
  if (const double* d = v.if_double()) {
    if (!std::isfinite(*d)) return std::nullopt;
    return sign(static_cast<long double>(*d), static_cast<long double>(t));
  }
  return std::nullopt;
}

bool contains(const std::vector<std::string>& list, std::string_view s) {
  for (const std::string& item : list) {
    if (item == s) return true;
  }
  return false;
}

bool audience_matches(const boost::json::value* aud, const std::vector<std::string>& audiences) {
  if (!aud) return false;
  if (const boost::json::string* s = aud->if_string()) return contains(audiences, *s);
  if (const boost::json::array* a = aud->if_array()) {
    for (const boost::json::value& v : *a) {
      if (const boost::json::string* s = v.if_string(); s && contains(audiences, *s)) {
        return true;
      }
    }
  }
  return false;
}

bool verify_digest(EVP_PKEY* pkey, std::string_view input, std::string_view signature) {
  const md_ctx_ptr ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
         EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(input),
                          input.size()) == 1;
}

// JWS (RFC 7518 3.4) sends an ES256 signature as r || s, 32 bytes each; OpenSSL verifies
// the DER of X9.62. Any other length is not a signature of P-256.
bool verify_es256(EVP_PKEY* pkey, std::string_view input, std::string_view signature) {
  constexpr int half = static_cast<int>(p256_coordinate_bytes);
  if (signature.size() != 2 * p256_coordinate_bytes) return false;
  bn_ptr r(BN_bin2bn(bytes(signature), half, nullptr));
  bn_ptr s(BN_bin2bn(bytes(signature) + half, half, nullptr));
  const ecdsa_sig_ptr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return false;
  r.release();  // owned by sig now
  s.release();
  std::array<unsigned char, 80> der;  // at most 2 + 2 * (2 + 33) = 72 bytes
  if (i2d_ECDSA_SIG(sig.get(), nullptr) > static_cast<int>(der.size())) return false;
  unsigned char* end = der.data();
  const int length = i2d_ECDSA_SIG(sig.get(), &end);
  if (length <= 0) return false;
  return verify_digest(pkey, input,
                       std::string_view(reinterpret_cast<const char*>(der.data()),
                                        static_cast<std::size_t>(length)));
}

bool verify_hs256(const std::string& secret, std::string_view input, std::string_view signature) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac;
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), bytes(input),
            input.size(), mac.data(), &length)) {
    return false;
  }
  // Full-length tags only: a truncated one would be easier to forge.
  return signature.size() == length && CRYPTO_memcmp(mac.data(), signature.data(), length) == 0;
}

// The decimal text of an integer claim.
template <class Int>
void assign_decimal(std::string& out, Int v) {
  std::array<char, 24> buffer;
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
  out.assign(buffer.data(), result.ptr);
}

// The keys of JWKS text `json` into `keys`; false with `error` set on any problem.
bool read_jwks(std::string_view json, std::vector<key>& keys, std::string& error) {
  if (json.size() > max_jwks_bytes) {
    error = "JWKS: " + std::to_string(json.size()) + " bytes, at most 1 MiB";
    return false;
  }
  boost::json::monotonic_resource storage;
  boost::json::error_code ec;
  const boost::json::value doc = boost::json::parse(json, ec, &storage, json_options());
  if (ec) {
    error = "JWKS: not JSON (" + ec.message() + ")";
    return false;
  }
  const boost::json::object* top = doc.if_object();
  if (!top) {
    error = "JWKS: not a JSON object ({\"keys\": [...]})";
    return false;
  }
  const boost::json::value* list = member(*top, "keys");
  if (!list) {
    error = "keys: missing ({\"keys\": [...]})";
    return false;
  }
  if (!list->is_array()) {
    error = "keys: not an array";
    return false;
  }
  const boost::json::array& entries = list->get_array();
  if (entries.empty()) {
    error = "keys: empty, no key to verify with";
    return false;
  }
  if (entries.size() > max_keys) {
    error =
        "keys: " + std::to_string(entries.size()) + " keys, at most " + std::to_string(max_keys);
    return false;
  }
  keys.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const boost::json::object* o = entries[i].if_object();
    if (!o) {
      error = "keys[" + std::to_string(i) + "]: not an object";
      return false;
    }
    key_reader reader(*o, i, error);
    std::optional<key> k = reader.read();
    if (!k) return false;
    if (k->kid) {
      for (std::size_t j = 0; j < keys.size(); ++j) {
        if (keys[j].kid == k->kid) {
          error = reader.prefix() + ".kid: " + quoted(*k->kid) + " is also the kid of keys[" +
                  std::to_string(j) + "]";
          return false;
        }
      }
    }
    keys.push_back(std::move(*k));
  }
  return true;
}

// verify_jwt without its exception guard; on success the claims go to the first `used`
// entries of `claims` (jwt_claims' own storage).
jwt_error verify_token(std::string_view token, const std::vector<key>& keys, const jwt_rules& rules,
                       std::int64_t now_seconds,
                       std::vector<std::pair<std::string, std::string>>& claims,
                       std::size_t& used) {
  // Structure: three non-empty base64url parts.
  if (token.size() > max_token_bytes) return jwt_error::malformed;
  const std::size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return jwt_error::malformed;
  const std::size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return jwt_error::malformed;
  }
  const std::string_view header_part = token.substr(0, dot1);
  const std::string_view payload_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_part = token.substr(dot2 + 1);
  if (header_part.empty() || payload_part.empty() || signature_part.empty()) {
    return jwt_error::malformed;
  }
  std::string header_text;
  std::string payload_text;
  std::string signature;
  if (!base64url_decode(header_part, header_text) ||
      !base64url_decode(payload_part, payload_text) ||
      !base64url_decode(signature_part, signature)) {
    return jwt_error::malformed;
  }

  // Header: alg and kid. The JSON lives in `storage`, freed all at once on return.
  std::array<unsigned char, 4096> first_block;
  boost::json::monotonic_resource storage(first_block.data(), first_block.size());
  boost::json::error_code ec;
  const boost::json::value header = boost::json::parse(header_text, ec, &storage, json_options());
  if (ec || !header.is_object()) return jwt_error::malformed;
  const boost::json::object& h = header.get_object();
  // RFC 7515 4.1.11: an extension listed in "crit" must be understood, and none is.
  if (member(h, "crit")) return jwt_error::malformed;
  const boost::json::value* alg_value = member(h, "alg");
  if (!alg_value || !alg_value->is_string()) return jwt_error::malformed;
  const boost::json::string& alg = alg_value->get_string();
  key_type type;
  if (alg == "RS256") {
    type = key_type::rsa;
  } else if (alg == "ES256") {
    type = key_type::ec;
  } else if (alg == "HS256") {
    type = key_type::oct;
  } else {
    return jwt_error::unsupported_algorithm;
  }

  // The key: the kid's, which must be of the alg's type (a kid naming an RSA key does
  // not let an HS256 token use it), or without a kid the one key of that type.
  const key* chosen = nullptr;
  if (const boost::json::value* kid_value = member(h, "kid")) {
    const boost::json::string* kid = kid_value->if_string();
    if (!kid) return jwt_error::malformed;
    for (const key& k : keys) {
      if (k.kid && *k.kid == *kid) {
        chosen = &k;
        break;
      }
    }
    if (!chosen || chosen->type != type) return jwt_error::unknown_key;
  } else {
    for (const key& k : keys) {
      if (k.type != type) continue;
      if (chosen) return jwt_error::unknown_key;  // several: which one is a guess
      chosen = &k;
    }
    if (!chosen) return jwt_error::unknown_key;
  }

  // The signature, over the token's own bytes up to the second '.'.
  const std::string_view signing_input = token.substr(0, dot2);
  bool valid = false;
  {
    const openssl_error_scope errors;
    switch (type) {
      case key_type::rsa:
        valid = verify_digest(chosen->pkey.get(), signing_input, signature);
        break;
      case key_type::ec:
        valid = verify_es256(chosen->pkey.get(), signing_input, signature);
        break;
      case key_type::oct:
        valid = verify_hs256(chosen->secret, signing_input, signature);
        break;
    }
  }
  if (!valid) return jwt_error::bad_signature;

  // The claims.
  const boost::json::value payload = boost::json::parse(payload_text, ec, &storage, json_options());
  if (ec || !payload.is_object()) return jwt_error::malformed;
  const boost::json::object& p = payload.get_object();
  const auto now = static_cast<__int128>(now_seconds);
  const auto leeway = static_cast<__int128>(rules.leeway_seconds);
  if (const boost::json::value* exp = member(p, "exp")) {
    const std::optional<int> c = compare_date(*exp, now - leeway);
    if (!c) return jwt_error::malformed;
    if (*c <= 0) return jwt_error::expired;  // now >= exp + leeway
  }
  if (const boost::json::value* nbf = member(p, "nbf")) {
    const std::optional<int> c = compare_date(*nbf, now + leeway);
    if (!c) return jwt_error::malformed;
    if (*c > 0) return jwt_error::not_yet_valid;  // now + leeway < nbf
  }
  if (!rules.issuers.empty()) {
    const boost::json::value* iss = member(p, "iss");
    if (!iss || !iss->is_string() || !contains(rules.issuers, iss->get_string())) {
      return jwt_error::wrong_issuer;
    }
  }
  if (!rules.audiences.empty() && !audience_matches(member(p, "aud"), rules.audiences)) {
    return jwt_error::wrong_audience;
  }

  // Kept as text, reusing the strings of the previous token's claims.
  for (const boost::json::key_value_pair& claim : p) {
    if (used == max_claims) break;
    const boost::json::value& v = claim.value();
    if (!v.is_string() && !v.is_int64() && !v.is_uint64() && !v.is_bool()) continue;
    if (v.is_string() && v.get_string().size() > max_claim_value_bytes) continue;
    if (used == claims.size()) claims.emplace_back();
    auto& [name, text] = claims[used++];
    name.assign(claim.key());
    if (const boost::json::string* s = v.if_string()) {
      text.assign(s->data(), s->size());
    } else if (const std::int64_t* i = v.if_int64()) {
      assign_decimal(text, *i);
    } else if (const std::uint64_t* u = v.if_uint64()) {
      assign_decimal(text, *u);
    } else {
      text.assign(v.get_bool() ? "true" : "false");
    }
  }
  return jwt_error::none;
}

}  // namespace

// ---- the public functions: no exception leaves them ----

struct jwt_keys::impl {
  std::vector<key> keys;
};

std::shared_ptr<const jwt_keys> jwt_keys::parse(std::string_view json, std::string& error) {
  error.clear();
  try {
    const openssl_error_scope errors;
    auto keys = std::make_unique<impl>();
    if (read_jwks(json, keys->keys, error)) {
      return std::shared_ptr<const jwt_keys>(new jwt_keys(std::move(keys)));
    }
    if (error.empty()) error = "JWKS: not a key set";
  } catch (const std::exception& e) {
    error = "JWKS: ";
    error += e.what();
  } catch (...) {
    error = "JWKS: unexpected error";
  }
  return nullptr;
}

jwt_keys::jwt_keys(std::unique_ptr<impl> keys) : impl_(std::move(keys)) {}
jwt_keys::~jwt_keys() = default;
std::size_t jwt_keys::size() const {
  return impl_->keys.size();
}

jwt_error verify_jwt(std::string_view token, const jwt_keys& keys, const jwt_rules& rules,
                     std::int64_t now_seconds, jwt_claims& claims) {
  claims.clear();
  try {
    const jwt_error result =
        verify_token(token, keys.impl_->keys, rules, now_seconds, claims.items_, claims.used_);
    if (result != jwt_error::none) claims.clear();
    return result;
  } catch (...) {  // std::bad_alloc: refuse the token rather than fail the connection
    claims.clear();
    return jwt_error::malformed;
  }
}

std::optional<std::string_view> jwt_claims::get(std::string_view name) const {
  for (std::size_t i = 0; i < used_; ++i) {
    if (items_[i].first == name) return std::string_view(items_[i].second);
  }
  return std::nullopt;
}

void jwt_claims::clear() {
  used_ = 0;
}

std::string_view to_string(jwt_error e) {
  switch (e) {
    case jwt_error::none:
      return "none";
    case jwt_error::malformed:
      return "malformed";
    case jwt_error::unsupported_algorithm:
      return "unsupported_algorithm";
    case jwt_error::unknown_key:
      return "unknown_key";
    case jwt_error::bad_signature:
      return "bad_signature";
    case jwt_error::expired:
      return "expired";
    case jwt_error::not_yet_valid:
      return "not_yet_valid";
    case jwt_error::wrong_issuer:
      return "wrong_issuer";
    case jwt_error::wrong_audience:
      return "wrong_audience";
  }
  return "unknown";
}

std::string_view describe(jwt_error e) {
  switch (e) {
    case jwt_error::none:
      return "Token valid";
    case jwt_error::malformed:
      return "Malformed token";
    case jwt_error::unsupported_algorithm:
      return "Token algorithm not supported";
    case jwt_error::unknown_key:
      return "Token signed with an unknown key";
    case jwt_error::bad_signature:
      return "Token signature invalid";
    case jwt_error::expired:
      return "Token expired";
    case jwt_error::not_yet_valid:
      return "Token not yet valid";
    case jwt_error::wrong_issuer:
      return "Token issuer not accepted";
    case jwt_error::wrong_audience:
      return "Token audience not accepted";
  }
  return "Token rejected";
}

}  // namespace sluice
