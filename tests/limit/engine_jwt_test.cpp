// The engine with identity.jwt (issue 14): the bearer token verified at the request's
// clock (injected), claims as key parts, the user and the tier from claims, 401 for a
// refused token, 400 for two token headers, anonymous without one.
#include <gtest/gtest.h>

#include <string>

#include "../util/jwt_signing.hpp"
#include "engine_support.hpp"
#include "limit/engine.hpp"
#include "util/jwt.hpp"

namespace sluice::limit {
namespace {

constexpr micros t0 = 1'767'225'600LL * micros_per_second;  // 2026-01-01T00:00:00Z
constexpr std::int64_t t0_s = 1'767'225'600LL;
const std::string secret = "0123456789abcdef0123456789abcdef";

using jwt_signing::b64url;

// An HS256 token for `payload` (JSON text) under kid "k1".
std::string hs256(std::string_view payload, const std::string& key = secret) {
  return jwt_signing::hs256_token(R"({"alg":"HS256","typ":"JWT","kid":"k1"})", payload, key);
}

config::key_part part(config::key_part_kind k, std::string name = {}) {
  return config::key_part{k, std::move(name)};
}

class EngineJwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_.server.identity.api_key_header = "x-api-key";
    cfg_.server.identity.ipv6_prefix = 64;
    config::jwt_config jwt;
    jwt.audiences = {"api"};
    std::string error;
    jwt.keys = jwt_keys::parse(
        R"({"keys":[{"kty":"oct","kid":"k1","k":")" + b64url(secret) + R"("}]})", error);
    ASSERT_NE(jwt.keys, nullptr) << error;
    cfg_.server.identity.jwt = jwt;
    cfg_.server.identity.tier_claim = "plan";
    cfg_.server.identity.user_claim = "sub";
    config::tier_def free{"free", false, config::rate{2, 60 * micros_per_second}, 0, {}};
    config::tier_def pro{"pro", false, config::rate{5, 60 * micros_per_second}, 0, {}};
    cfg_.policy.tiers = {free, pro};
    cfg_.policy.default_tier = "free";
    auto per_org = make_limit("per-org", {part(config::key_part_kind::jwt, "org_id")},
                              config::rate{3, 60 * micros_per_second}, algorithm::fixed_window);
    auto per_client = make_limit("per-client", {part(config::key_part_kind::client)}, {},
                                 algorithm::fixed_window);
    per_client.tier_aware = true;
    cfg_.policy.limits = {per_org, per_client};
  }

  const evaluation& run(std::optional<std::string> token, micros at = t0) {
    if (!pol_) pol_ = std::make_unique<policy>(cfg_, 7);
    fake_headers none{};
    fake_headers with{{"authorization", "Bearer " + token.value_or("")}};
    request_facts f{"GET", "/x", *ip_address::parse("192.0.2.1"), false, token ? &with : &none};
    decide(*pol_, f, nullptr, store_, at, ev_);
    return ev_;
  }

  std::string reported_limit() const {
    return ev_.reported < 0 ? "" : ev_.limit_of(ev_.applied[ev_.reported]).name;
  }

  config::loaded_config cfg_;
  std::unique_ptr<policy> pol_;
  memory_store store_{1000};
  evaluation ev_;
};

TEST_F(EngineJwtTest, ClaimsKeyLimitsAndNameTheUserAndTier) {
  const std::string exp = std::to_string(t0_s + 60);
  const std::string ann = hs256(R"({"sub":"ann","org_id":"acme","aud":"api","exp":)" + exp + "}");
  const std::string bob =
      hs256(R"({"sub":"bob","org_id":"acme","plan":"pro","aud":["x","api"],"exp":)" + exp + "}");
  EXPECT_EQ(run(ann).result, outcome::allowed);
  ASSERT_EQ(ev_.applied.size(), 2u);
  EXPECT_EQ(ev_.key_of(ev_.applied[0]), "acme");
  EXPECT_EQ(ev_.key_of(ev_.applied[1]), "user:ann");
  EXPECT_EQ(ev_.tier_name(), "free");
  EXPECT_EQ(run(bob).result, outcome::allowed);
  EXPECT_EQ(ev_.user, "bob");
  EXPECT_EQ(ev_.tier_name(), "pro");
  EXPECT_EQ(ev_.applied[1].result.limit, 5);
  EXPECT_EQ(run(bob).result, outcome::allowed);
  EXPECT_EQ(run(ann).result, outcome::limited) << "acme's fourth request";
  EXPECT_EQ(reported_limit(), "per-org");
}

TEST_F(EngineJwtTest, NoTokenIsAnonymousAndClaimKeysDoNotApply) {
  EXPECT_EQ(run(std::nullopt).result, outcome::allowed);
  ASSERT_EQ(ev_.applied.size(), 1u);
  EXPECT_EQ(ev_.limit_of(ev_.applied[0]).name, "per-client");
  EXPECT_EQ(ev_.key_of(ev_.applied[0]), "ip:192.0.2.1");
  EXPECT_FALSE(ev_.has_token);
  // Another scheme is no bearer token either.
  fake_headers basic{{"authorization", "Basic YTpi"}};
  pol_ = std::make_unique<policy>(cfg_, 7);
  request_facts f{"GET", "/x", *ip_address::parse("192.0.2.1"), false, &basic};
  decide(*pol_, f, nullptr, store_, t0, ev_);
  EXPECT_EQ(ev_.result, outcome::allowed);
}

TEST_F(EngineJwtTest, RequiredTokensAreA401WhenMissing) {
  cfg_.server.identity.jwt->required = true;
  EXPECT_EQ(run(std::nullopt).result, outcome::unauthorized);
  EXPECT_EQ(ev_.token_rejection, "missing");
  EXPECT_EQ(ev_.problem, "Missing bearer token");
  EXPECT_TRUE(ev_.checks.empty()) << "nothing charged";
}

TEST_F(EngineJwtTest, ExpiryIsCheckedAtTheRequestsClockWithTheLeeway) {
  const std::string t =
      hs256(R"({"org_id":"acme","aud":"api","exp":)" + std::to_string(t0_s) + "}");
  EXPECT_EQ(run(t, t0 + 29 * micros_per_second).result, outcome::allowed) << "30 s leeway";
  EXPECT_EQ(run(t, t0 + 30 * micros_per_second).result, outcome::unauthorized);
  EXPECT_EQ(ev_.token_rejection, "expired");
  EXPECT_EQ(ev_.problem, describe(jwt_error::expired));
}

TEST_F(EngineJwtTest, RefusedTokensAreA401WithTheirReason) {
  const std::string exp = std::to_string(t0_s + 60);
  EXPECT_EQ(run(hs256(R"({"aud":"web","exp":)" + exp + "}")).result, outcome::unauthorized);
  EXPECT_EQ(ev_.token_rejection, "wrong_audience");
  EXPECT_EQ(run(hs256(R"({"aud":"api"})", "another secret of thirty-two bytes")).result,
            outcome::unauthorized);
  EXPECT_EQ(ev_.token_rejection, "bad_signature");
  EXPECT_EQ(run(std::string("not.a.token")).result, outcome::unauthorized);
  EXPECT_EQ(ev_.token_rejection, "malformed");
}

TEST_F(EngineJwtTest, TwoTokenHeadersAreAmbiguous) {
  const std::string t = hs256(R"({"aud":"api"})");
  fake_headers twice{{"authorization", "Bearer " + t}, {"authorization", "Bearer " + t}};
  pol_ = std::make_unique<policy>(cfg_, 7);
  request_facts f{"GET", "/x", *ip_address::parse("192.0.2.1"), false, &twice};
  decide(*pol_, f, nullptr, store_, t0, ev_);
  EXPECT_EQ(ev_.result, outcome::bad_request);
  EXPECT_EQ(ev_.problem, "Duplicate authorization header");
}

// Issue 14, per-tenant limits: N from a claim, bounded by max; the state stays the
// key's whatever the number (a tenant whose plan grows keeps what it has spent).
TEST_F(EngineJwtTest, TenantRateTakesNFromAClaimUpToItsMax) {
  auto per_org = make_limit("per-org", {part(config::key_part_kind::jwt, "org_id")},
                            config::rate{3, 60 * micros_per_second}, algorithm::fixed_window);
  per_org.tenant_rate = config::tenant_rate_def{"rpm", "", 6, {}};
  cfg_.policy.limits = {per_org};
  const std::string exp = std::to_string(t0_s + 600);
  const auto org = [&](std::string_view id, std::string_view rpm) {
    return hs256(R"({"org_id":")" + std::string(id) + R"(","aud":"api","exp":)" + exp +
                 (rpm.empty() ? "" : R"(,"rpm":)" + std::string(rpm)) + "}");
  };
  const auto admitted = [&](const std::string& t) {
    int n = 0;
    for (int i = 0; i < 10; ++i) n += run(t).result == outcome::allowed;
    return n;
  };
  EXPECT_EQ(admitted(org("a", "5")), 5);
  EXPECT_EQ(ev_.applied[0].result.limit, 5);
  EXPECT_EQ(admitted(org("b", "1000")), 6) << "at most max";
  EXPECT_EQ(admitted(org("c", "")), 3) << "no claim: the limit's own rate";
  EXPECT_EQ(admitted(org("d", R"("lots")")), 3) << "not a number: the limit's own rate";
  EXPECT_EQ(admitted(org("e", "0")), 3);
  EXPECT_EQ(admitted(org("f", "-2")), 3);
  EXPECT_EQ(admitted(org("g", R"("99999999999999999999")")), 6) << "a huge number is max";
  // Same key, a larger number later in the window: what was spent still counts.
  EXPECT_EQ(admitted(org("a", "6")), 1);
}

TEST_F(EngineJwtTest, TenantRateFromAHeaderOnlyFromTrustedProxies) {
  auto per_ip = make_limit("per-ip", {part(config::key_part_kind::ip)},
                           config::rate{2, 60 * micros_per_second}, algorithm::token_bucket);
  per_ip.tenant_rate = config::tenant_rate_def{"", "x-tenant-rpm", 100, {}};
  cfg_.policy.limits = {per_ip};
  pol_ = std::make_unique<policy>(cfg_, 7);
  fake_headers h{{"x-tenant-rpm", "4"}};
  const auto admitted = [&](bool trusted, const char* client) {
    request_facts f{"GET", "/x", *ip_address::parse(client), trusted, &h};
    int n = 0;
    for (int i = 0; i < 10; ++i) {
      decide(*pol_, f, nullptr, store_, t0, ev_);
      n += ev_.result == outcome::allowed;
    }
    return n;
  };
  EXPECT_EQ(admitted(true, "192.0.2.10"), 4);
  EXPECT_EQ(ev_.applied[0].params->burst, 4) << "the burst follows N (configured: N)";
  EXPECT_EQ(admitted(false, "192.0.2.11"), 2) << "a client's own header is not believed";
  fake_headers twice{{"x-tenant-rpm", "4"}, {"x-tenant-rpm", "90"}};
  request_facts f{"GET", "/x", *ip_address::parse("192.0.2.12"), true, &twice};
  decide(*pol_, f, nullptr, store_, t0, ev_);
  EXPECT_EQ(ev_.result, outcome::bad_request);
  EXPECT_EQ(ev_.problem, "Duplicate tenant rate header");
}

// A runtime entry (the admin API) sets N for one key, ahead of the header; a limit with
// neither claim nor header takes numbers from entries alone.
TEST_F(EngineJwtTest, TenantRateFromRuntimeEntriesWinsAndIsBoundedByMax) {
  auto per_ip = make_limit("per-ip", {part(config::key_part_kind::ip)},
                           config::rate{2, 60 * micros_per_second}, algorithm::fixed_window);
  per_ip.tenant_rate = config::tenant_rate_def{"", "x-tenant-rpm", 7, {}};
  auto entries_only = make_limit("entries-only", {part(config::key_part_kind::ip)},
                                 config::rate{9, 60 * micros_per_second}, algorithm::fixed_window);
  entries_only.tenant_rate = config::tenant_rate_def{"", "", 100, {}};
  cfg_.policy.limits = {per_ip};
  identity::memory_overrides entries;
  entries.put_tenant_number("per-ip", "192.0.2.20", 5);
  entries.put_tenant_number("per-ip", "192.0.2.21", 50);
  fake_headers h{{"x-tenant-rpm", "3"}};
  const auto admitted = [&](const char* client) {
    request_facts f{"GET", "/x", *ip_address::parse(client), true, &h};
    int n = 0;
    for (int i = 0; i < 60; ++i) {
      decide(*pol_, f, &entries, store_, t0, ev_);
      n += ev_.result == outcome::allowed;
    }
    return n;
  };
  pol_ = std::make_unique<policy>(cfg_, 7);
  EXPECT_EQ(admitted("192.0.2.20"), 5) << "the entry, not the header's 3";
  EXPECT_EQ(admitted("192.0.2.21"), 7) << "at most max";
  EXPECT_EQ(admitted("192.0.2.22"), 3) << "no entry: the header";
  cfg_.policy.limits = {entries_only};
  pol_ = std::make_unique<policy>(cfg_, 7);
  entries.put_tenant_number("entries-only", "192.0.2.23", 4);
  EXPECT_EQ(admitted("192.0.2.23"), 4);
  EXPECT_EQ(admitted("192.0.2.24"), 9) << "no entry: the limit's own rate";
  EXPECT_TRUE(entries.remove_tenant_number("entries-only", "192.0.2.23"));
  EXPECT_EQ(entries.tenant_number("entries-only", "192.0.2.23"), std::nullopt);
}

}  // namespace
}  // namespace sluice::limit
