// The policy engine end to end on the memory store with a fake clock: identity,
// access lists, routes and costs, key building, tiers, all-or-nothing, shadow
// limits and the choice of the reported limit.
#include "limit/engine.hpp"

#include <gtest/gtest.h>

#include <random>

#include "config/defaults.hpp"
#include "engine_support.hpp"
#include "path_spellings.hpp"

namespace sluice::limit {
namespace {

constexpr micros t0 = 1'767'225'600LL * micros_per_second;  // 2026-01-01T00:00:00Z

config::rate per(std::int64_t n, micros period) {
  return config::rate{n, period};
}
constexpr micros second = micros_per_second;
constexpr micros minute = 60 * second;

config::key_part part(config::key_part_kind k, std::string header = {}) {
  return config::key_part{k, std::move(header)};
}
using kp = config::key_part_kind;

config::route_def make_route(std::string name, std::vector<std::string> methods,
                             std::string pattern, std::int64_t cost = 1, bool off = false) {
  config::route_def r;
  r.name = std::move(name);
  r.methods = std::move(methods);
  r.pattern = std::move(pattern);
  r.cost = cost;
  r.limits_off = off;
  return r;
}

config::loaded_config base_config() {
  config::loaded_config c;
  c.server.identity.api_key_header = "X-API-Key";
  c.server.identity.api_key_query = "api_key";
  c.server.identity.user_header = "X-User-ID";
  c.server.identity.tier_header = "X-Client-Tier";
  c.server.identity.ipv6_prefix = 64;
  return c;
}

ip_address ip(std::string_view text) {
  return *ip_address::parse(text);
}

class EngineTest : public ::testing::Test {
 protected:
  void build() { pol_ = std::make_unique<policy>(cfg_, 42); }

  const evaluation& run(std::string_view method, std::string_view target,
                        std::string_view client = "192.0.2.1", const request_headers* h = nullptr,
                        bool trusted = false, micros at = t0) {
    request_facts f{method, target, ip(client), trusted, h};
    decide(*pol_, f, &overrides_, store_, at, ev_);
    return ev_;
  }

  // How many of `n` identical requests at one instant are allowed.
  int admitted(int n, std::string_view target, std::string_view client = "192.0.2.1",
               const request_headers* h = nullptr, std::string_view method = "GET") {
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += run(method, target, client, h).result == outcome::allowed;
    return ok;
  }

  std::string applied_key(std::size_t i) const { return std::string(ev_.key_of(ev_.applied[i])); }
  std::string reported_name() const {
    return ev_.reported < 0 ? "" : ev_.limit_of(ev_.applied[ev_.reported]).name;
  }

  config::loaded_config cfg_ = base_config();
  std::unique_ptr<policy> pol_;
  identity::memory_overrides overrides_;
  memory_store store_{100'000};
  evaluation ev_;
};

TEST_F(EngineTest, UnmatchedRequestsGetTheDefaultRouteAndItsLimits) {
  cfg_.policy.routes = {make_route("users", {"GET"}, "/users/{id}")};
  cfg_.policy.limits = {make_limit("per-ip", {part(kp::ip)}, per(2, minute))};
  build();
  run("POST", "/users/7");
  EXPECT_EQ(ev_.route_info().name, "default");
  run("GET", "/users/7");
  EXPECT_EQ(ev_.route_info().name, "users");
  EXPECT_EQ(run("GET", "/users/8").result, outcome::limited);
}

TEST_F(EngineTest, RouteCostIsChargedToEveryLimitCountingCost) {
  cfg_.policy.routes = {make_route("batch", {"POST"}, "/ocr/batch", 5)};
  auto by_cost = make_limit("by-cost", {part(kp::ip)}, per(12, minute));
  auto by_requests = make_limit("by-requests", {part(kp::ip)}, per(100, minute));
  by_requests.count = config::count_mode::requests;
  cfg_.policy.limits = {by_cost, by_requests};
  build();
  EXPECT_EQ(admitted(5, "/ocr/batch", "192.0.2.1", nullptr, "POST"), 2);  // 5 + 5 <= 12 < 15
  ASSERT_EQ(ev_.applied.size(), 2u);
  EXPECT_EQ(ev_.checks[0].cost, 5);
  EXPECT_EQ(ev_.checks[1].cost, 1);
  EXPECT_EQ(store_.peek(ev_.checks[1].key_hash, *ev_.applied[1].params, t0).remaining, 98);
}

TEST_F(EngineTest, LimitsOffRouteBypassesEverything) {
  cfg_.policy.routes = {make_route("health", {"GET"}, "/healthz", 1, true)};
  cfg_.policy.limits = {make_limit("global", {part(kp::global)}, per(1, minute))};
  build();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(run("GET", "/healthz").result, outcome::bypassed);
  EXPECT_TRUE(ev_.applied.empty());
}

TEST_F(EngineTest, PathsAreNormalizedBeforeMatchingAndBadPathsRejected) {
  cfg_.policy.routes = {make_route("static", {}, "/static/**", 1, true)};
  cfg_.policy.limits = {make_limit("global", {part(kp::global)}, per(1, minute))};
  build();
  EXPECT_EQ(run("GET", "//static/../static/./a.css?x=1").result, outcome::bypassed);
  EXPECT_EQ(run("GET", "/a/%zz").result, outcome::bad_request);
}

TEST_F(EngineTest, DenyListWinsOverAllowListAndRuntimeEntriesCount) {
  cfg_.policy.allow.ips = {*cidr::parse("10.0.0.0/8")};
  cfg_.policy.allow.api_keys = {"key-partner"};
  cfg_.policy.deny.ips = {*cidr::parse("203.0.113.0/24")};
  cfg_.policy.deny.users = {"mallory"};
  cfg_.policy.limits = {make_limit("global", {part(kp::global)}, per(1, minute))};
  build();
  fake_headers partner{{"x-api-key", "key-partner"}};
  fake_headers mallory{{"x-api-key", "key-partner"}, {"x-user-id", "mallory"}};
  EXPECT_EQ(run("GET", "/", "203.0.113.9").result, outcome::forbidden);
  EXPECT_EQ(run("GET", "/", "10.1.2.3").result, outcome::bypassed);
  EXPECT_EQ(run("GET", "/", "192.0.2.1", &partner).result, outcome::bypassed);
  // The user header counts from a trusted proxy (from anyone else it is ignored).
  EXPECT_EQ(run("GET", "/", "192.0.2.1", &mallory, true).result, outcome::forbidden);
  EXPECT_EQ(run("GET", "/", "192.0.2.1", &mallory, false).result, outcome::bypassed);
  EXPECT_EQ(run("GET", "/", "198.51.100.1").result, outcome::allowed);

  overrides_.put_access(
      {identity::access_kind::deny, identity::subject_kind::ip, "198.51.100.1", t0 + 10 * second});
  EXPECT_EQ(run("GET", "/", "198.51.100.1").result, outcome::forbidden);
  // The entry expires with its TTL.
  EXPECT_NE(run("GET", "/", "198.51.100.1", nullptr, false, t0 + 10 * second).result,
            outcome::forbidden);
}

TEST_F(EngineTest, ApiKeyFromHeaderElseQueryAndTheKeyNamesItsUser) {
  cfg_.policy.api_keys = {{"key-pro", "", "acme", {}}};
  cfg_.policy.limits = {make_limit("per-client", {part(kp::client)}, per(10, minute))};
  build();
  fake_headers key{{"x-api-key", "key-pro"}, {"x-user-id", "someone-else"}};
  run("GET", "/", "192.0.2.1", &key);
  EXPECT_EQ(applied_key(0), "user:acme");
  run("GET", "/x?a=1&api_key=k%2D1&b=2");
  EXPECT_EQ(applied_key(0), "key:k-1");
  fake_headers user{{"x-user-id", "bob"}};
  run("GET", "/", "192.0.2.1", &user, true);  // the user header: from a trusted proxy
  EXPECT_EQ(applied_key(0), "user:bob");
  run("GET", "/");
  EXPECT_EQ(applied_key(0), "ip:192.0.2.1");
}

TEST_F(EngineTest, UserHeaderIsBelievedOnlyFromATrustedProxyByDefault) {
  cfg_.policy.limits = {make_limit("per-client", {part(kp::client)}, per(1, minute))};
  build();
  fake_headers alice{{"x-user-id", "alice"}};
  fake_headers key_and_alice{{"x-api-key", "k1"}, {"x-user-id", "alice"}};
  run("GET", "/", "192.0.2.1", &alice, false);
  EXPECT_EQ(applied_key(0), "ip:192.0.2.1");
  EXPECT_TRUE(ev_.user.empty());
  run("GET", "/", "192.0.2.1", &key_and_alice, false);
  EXPECT_EQ(applied_key(0), "key:k1");
  run("GET", "/", "192.0.2.1", &alice, true);
  EXPECT_EQ(applied_key(0), "user:alice");

  // Rotating the header from an untrusted peer does not escape its limit.
  cfg_.policy.limits = {make_limit("per-client-2", {part(kp::client)}, per(1, minute))};
  build();
  fake_headers u1{{"x-user-id", "u1"}}, u2{{"x-user-id", "u2"}}, u3{{"x-user-id", "u3"}};
  EXPECT_EQ(run("GET", "/", "192.0.2.9", &u1).result, outcome::allowed);
  EXPECT_EQ(run("GET", "/", "192.0.2.9", &u2).result, outcome::limited);
  EXPECT_EQ(run("GET", "/", "192.0.2.9", &u3).result, outcome::limited);
}

TEST_F(EngineTest, ClientCertificateKeysOnlyRequestsThatPresentedOne) {
  cfg_.policy.limits = {make_limit("per-cert", {part(kp::client_cert)}, per(1, minute))};
  build();
  const auto with_cert = [this](std::string_view name) {
    request_facts f{"GET", "/", ip("192.0.2.1"), false, nullptr, name};
    decide(*pol_, f, &overrides_, store_, t0, ev_);
    return ev_.result;
  };
  EXPECT_EQ(with_cert("alice"), outcome::allowed);
  EXPECT_EQ(applied_key(0), "alice");
  EXPECT_EQ(with_cert("alice"), outcome::limited);
  EXPECT_EQ(with_cert("bob"), outcome::allowed);  // another certificate, its own count
  // No verified certificate (a plain listener): the limit does not apply.
  EXPECT_EQ(run("GET", "/").result, outcome::allowed);
  EXPECT_TRUE(ev_.applied.empty());
}

TEST_F(EngineTest, UserHeaderFromAnyPeerWhenTrustedOnlyIsFalse) {
  cfg_.server.identity.user_trusted_only = false;
  cfg_.policy.limits = {make_limit("per-client", {part(kp::client)}, per(1, minute))};
  build();
  fake_headers alice{{"x-user-id", "alice"}};
  run("GET", "/", "192.0.2.1", &alice, false);
  EXPECT_EQ(applied_key(0), "user:alice");
  run("GET", "/", "192.0.2.1", &alice, true);
  EXPECT_EQ(applied_key(0), "user:alice");
}

TEST_F(EngineTest, AllowListedUserFromAnUntrustedPeerIsNotAllowListed) {
  cfg_.policy.allow.users = {"vip"};
  cfg_.policy.limits = {make_limit("global", {part(kp::global)}, per(1, minute))};
  build();
  fake_headers vip{{"x-user-id", "vip"}};
  EXPECT_EQ(run("GET", "/", "192.0.2.1", &vip, false).result, outcome::allowed);
  EXPECT_EQ(run("GET", "/", "192.0.2.1", &vip, false).result, outcome::limited);
  EXPECT_EQ(run("GET", "/", "192.0.2.1", &vip, true).result, outcome::bypassed);
}

TEST_F(EngineTest, DuplicatedIdentitiesAreBadRequestsAndChargeNothing) {
  cfg_.policy.limits = {make_limit("global", {part(kp::global)}, per(1, minute))};
  build();
  auto rejected = [&](std::string_view target, const fake_headers* h, bool trusted = false) {
    const evaluation& ev = run("GET", target, "192.0.2.1", h, trusted);
    EXPECT_TRUE(ev.applied.empty());
    return ev.result == outcome::bad_request ? std::string(ev.problem) : std::string("not 400");
  };
  fake_headers two_keys{{"x-api-key", "a"}, {"x-api-key", "b"}};
  fake_headers same_key_twice{{"x-api-key", "a"}, {"x-api-key", "a"}};
  EXPECT_EQ(rejected("/", &two_keys), "Duplicate API key header");
  EXPECT_EQ(rejected("/", &same_key_twice), "Duplicate API key header");

  EXPECT_EQ(rejected("/?api_key=a&api_key=b", nullptr), "Duplicate API key query parameter");
  EXPECT_EQ(rejected("/?api_key&x=1&api_key=a", nullptr), "Duplicate API key query parameter");
  // Percent-decoded names are the same parameter to most upstreams.
  EXPECT_EQ(rejected("/?api_key=a&api%5Fkey=b", nullptr), "Duplicate API key query parameter");
  EXPECT_EQ(rejected("/?%61pi%5fkey=a&api_key=b", nullptr), "Duplicate API key query parameter");

  // The user header, twice, even from a peer whose user header would be ignored.
  fake_headers two_users{{"x-user-id", "alice"}, {"x-user-id", "bob"}};
  EXPECT_EQ(rejected("/", &two_users, false), "Duplicate user header");
  EXPECT_EQ(rejected("/", &two_users, true), "Duplicate user header");

  // A key in both the header and the query must be the same key.
  fake_headers key_a{{"x-api-key", "a"}};
  fake_headers key_dash{{"x-api-key", "k-1"}};
  fake_headers empty_key{{"x-api-key", ""}};
  EXPECT_EQ(rejected("/?api_key=b", &key_a), "API key header and query parameter differ");
  EXPECT_EQ(rejected("/?api_key=a", &empty_key), "API key header and query parameter differ");
  EXPECT_EQ(rejected("/?api%5Fkey=b", &key_a), "API key header and query parameter differ");

  // Nothing above was charged: the one token is still there.
  EXPECT_EQ(run("GET", "/?api_key=a", "192.0.2.1", &key_a).result, outcome::allowed);
  EXPECT_EQ(ev_.api_key, "a");
  EXPECT_EQ(run("GET", "/?api_key=k%2D1", "192.0.2.1", &key_dash).result, outcome::limited);
  EXPECT_EQ(ev_.api_key, "k-1");
}

TEST_F(EngineTest, DuplicatedLimitKeyHeadersAndTrustedTierHeadersAreBadRequests) {
  cfg_.policy.limits = {make_limit("per-tenant", {part(kp::header, "x-tenant")}, per(1, minute))};
  build();
  fake_headers two_tenants{{"x-tenant", "a"}, {"x-tenant", "b"}};
  const evaluation& ev = run("GET", "/", "192.0.2.1", &two_tenants);
  EXPECT_EQ(ev.result, outcome::bad_request);
  EXPECT_EQ(ev.problem, "Duplicate header used as a limit key");
  EXPECT_TRUE(ev.applied.empty());
  EXPECT_TRUE(ev.checks.empty());
  fake_headers one_tenant{{"x-tenant", "a"}};
  EXPECT_EQ(run("GET", "/", "192.0.2.1", &one_tenant).result,
            outcome::allowed);  // not charged before

  // The tier header counts only from a trusted proxy; twice from one is ambiguous.
  fake_headers two_tiers{{"x-client-tier", "pro"}, {"x-client-tier", "free"}};
  EXPECT_EQ(run("GET", "/", "192.0.2.1", &two_tiers, true).problem, "Duplicate tier header");
  EXPECT_EQ(run("GET", "/", "192.0.2.2", &two_tiers, false).result, outcome::allowed);
}

TEST_F(EngineTest, AnEncodedQueryParameterNameStillNamesTheApiKey) {
  cfg_.policy.limits = {make_limit("per-key", {part(kp::api_key)}, per(5, minute))};
  build();
  run("GET", "/?x=1&api%5Fkey=k%2D2");
  ASSERT_EQ(ev_.applied.size(), 1u);
  EXPECT_EQ(applied_key(0), "k-2");
  run("GET", "/?xapi_key=k3&api_keys=k4&api_key%=k5");
  EXPECT_TRUE(ev_.applied.empty());  // none of these is the api_key parameter
}

TEST_F(EngineTest, Ipv6ClientsAreGroupedByPrefix) {
  cfg_.policy.limits = {make_limit("per-ip", {part(kp::ip)}, per(3, minute))};
  build();
  EXPECT_EQ(admitted(2, "/", "2001:db8:1:2::1"), 2);
  EXPECT_EQ(admitted(2, "/", "2001:db8:1:2:ffff::9"), 1);  // same /64: shares the budget
  EXPECT_EQ(applied_key(0), "2001:db8:1:2::/64");
  EXPECT_EQ(admitted(1, "/", "2001:db8:1:3::1"), 1);
  EXPECT_EQ(admitted(1, "/", "::ffff:192.0.2.7"), 1);
  EXPECT_EQ(applied_key(0), "192.0.2.7");
}

TEST_F(EngineTest, CompositeKeysSkipWhenAPartIsMissingUnlessFallbackIp) {
  cfg_.policy.routes = {make_route("ocr", {"POST"}, "/ocr/*", 1)};
  auto strict = make_limit("per-key-route", {part(kp::api_key), part(kp::route)}, per(5, minute));
  auto fallback = make_limit("per-key-fallback", {part(kp::api_key)}, per(5, minute));
  fallback.fallback_ip = true;
  cfg_.policy.limits = {strict, fallback};
  build();
  run("POST", "/ocr/scan");
  ASSERT_EQ(ev_.applied.size(), 1u);
  EXPECT_EQ(ev_.limit_of(ev_.applied[0]).name, "per-key-fallback");
  EXPECT_EQ(applied_key(0), "ip:192.0.2.1");
  fake_headers key{{"x-api-key", "k1"}};
  run("POST", "/ocr/scan", "192.0.2.1", &key);
  ASSERT_EQ(ev_.applied.size(), 2u);
  EXPECT_EQ(applied_key(0), "k1:ocr");
  EXPECT_EQ(applied_key(1), "k1");
}

TEST_F(EngineTest, MethodPathAndHeaderKeyParts) {
  cfg_.policy.limits = {
      make_limit("by-path", {part(kp::method), part(kp::path)}, per(5, minute)),
      make_limit("by-tenant", {part(kp::header, "x-tenant")}, per(5, minute)),
  };
  build();
  fake_headers tenant{{"x-tenant", "t-9"}};
  run("DELETE", "/users/12345/orders/550e8400-e29b-41d4-a716-446655440000", "192.0.2.1", &tenant);
  ASSERT_EQ(ev_.applied.size(), 2u);
  EXPECT_EQ(applied_key(0), "DELETE:/users/{id}/orders/{id}");
  EXPECT_EQ(applied_key(1), "t-9");
  run("GET", "/users/1");
  ASSERT_EQ(ev_.applied.size(), 1u);  // no x-tenant header: by-tenant does not apply
}

TEST_F(EngineTest, RoutesAndMethodsFiltersRestrictALimit) {
  cfg_.policy.routes = {make_route("login", {"POST"}, "/auth/login")};
  auto login = make_limit("login", {part(kp::ip)}, per(3, minute), algorithm::sliding_log);
  login.routes = {"login"};
  auto writes = make_limit("writes", {part(kp::ip)}, per(100, minute));
  writes.methods = {"POST", "PUT"};
  cfg_.policy.limits = {login, writes};
  build();
  run("GET", "/auth/login");
  EXPECT_TRUE(ev_.applied.empty());
  run("PUT", "/anything");
  ASSERT_EQ(ev_.applied.size(), 1u);
  EXPECT_EQ(ev_.limit_of(ev_.applied[0]).name, "writes");
  EXPECT_EQ(admitted(5, "/auth/login", "192.0.2.1", nullptr, "POST"), 3);
}

TEST_F(EngineTest, TierPrecedenceRuntimeThenKeyThenTrustedHeaderThenDefault) {
  config::tier_def free{"free", false, per(2, minute), 2, {}};
  config::tier_def pro{"pro", false, per(4, minute), 4, {}};
  config::tier_def ent{"enterprise", true, {}, 0, {}};
  cfg_.policy.tiers = {free, pro, ent};
  cfg_.policy.default_tier = "free";
  cfg_.policy.api_keys = {{"key-pro", "pro", "", {}}};
  auto per_client = make_limit("per-client", {part(kp::client)}, {});
  per_client.tier_aware = true;
  cfg_.policy.limits = {per_client};
  build();

  EXPECT_EQ(admitted(10, "/", "192.0.2.1"), 2);
  EXPECT_EQ(ev_.tier_name(), "free");
  fake_headers pro_key{{"x-api-key", "key-pro"}};
  EXPECT_EQ(admitted(10, "/", "192.0.2.1", &pro_key), 4);
  EXPECT_EQ(ev_.tier_name(), "pro");

  // The tier header counts only from a trusted proxy.
  fake_headers claims_pro{{"x-client-tier", "pro"}, {"x-user-id", "u1"}};
  run("GET", "/", "192.0.2.1", &claims_pro, false);
  EXPECT_EQ(ev_.tier_name(), "free");
  run("GET", "/", "192.0.2.1", &claims_pro, true);
  EXPECT_EQ(ev_.tier_name(), "pro");

  // A runtime assignment beats the key's entry; unlimited skips tier-aware limits.
  overrides_.put_tier("key-pro", "enterprise");
  run("GET", "/", "192.0.2.1", &pro_key);
  EXPECT_EQ(ev_.tier_name(), "enterprise");
  EXPECT_EQ(ev_.result, outcome::allowed);
  EXPECT_TRUE(ev_.applied.empty());
}

TEST_F(EngineTest, AllOrNothingDeniedRequestChargesNoLimit) {
  cfg_.policy.limits = {
      make_limit("roomy", {part(kp::ip)}, per(100, minute)),
      make_limit("tight", {part(kp::global)}, per(2, minute), algorithm::fixed_window),
  };
  build();
  EXPECT_EQ(admitted(10, "/"), 2);
  EXPECT_EQ(ev_.result, outcome::limited);
  EXPECT_EQ(ev_.limit_of(ev_.applied[ev_.denying]).name, "tight");
  EXPECT_EQ(reported_name(), "tight");
  // Only the two admitted requests were charged to "roomy".
  EXPECT_EQ(store_.peek(ev_.checks[0].key_hash, *ev_.applied[0].params, t0).remaining, 98);
}

TEST_F(EngineTest, SeveralDenyingLimitsReportTheLongestRetryAfter) {
  cfg_.policy.limits = {
      make_limit("short", {part(kp::ip)}, per(1, 10 * second), algorithm::fixed_window),
      make_limit("long", {part(kp::ip)}, per(1, minute), algorithm::fixed_window),
  };
  build();
  run("GET", "/");
  run("GET", "/");
  EXPECT_EQ(ev_.result, outcome::limited);
  EXPECT_EQ(reported_name(), "long");
}

TEST_F(EngineTest, ReportedLimitIsTheEnforcedOneClosestToExhaustion) {
  auto shadow = make_limit("shadow", {part(kp::ip)}, per(1, minute));
  shadow.shadow = true;
  cfg_.policy.limits = {
      make_limit("big", {part(kp::global)}, per(1000, minute)),  // 999/1000 left
      make_limit("small", {part(kp::ip)}, per(10, minute)),      // 9/10 left
      shadow,
  };
  build();
  run("GET", "/");
  EXPECT_EQ(reported_name(), "small");
  // The shadow limit denies but never enforces, and is never the reported one.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run("GET", "/").result, outcome::allowed);
  EXPECT_FALSE(ev_.applied[2].result.allowed);
  EXPECT_EQ(reported_name(), "small");
}

TEST_F(EngineTest, LeakyBucketDelayIsCarriedToTheResult) {
  auto shaped = make_limit("shaped", {part(kp::ip)}, per(1, second), algorithm::leaky_bucket, 1);
  shaped.delay = 3 * second;
  cfg_.policy.limits = {shaped};
  build();
  EXPECT_EQ(run("GET", "/").delay, 0);
  EXPECT_EQ(run("GET", "/").delay, 1 * second);
  EXPECT_EQ(run("GET", "/").delay, 2 * second);
  EXPECT_EQ(run("GET", "/").delay, 3 * second);
  EXPECT_EQ(run("GET", "/").result, outcome::limited);
}

TEST_F(EngineTest, StateSurvivesARebuildWhenNameKeyAndAlgorithmAreUnchanged) {
  cfg_.policy.limits = {make_limit("per-ip", {part(kp::ip)}, per(3, minute))};
  build();
  EXPECT_EQ(admitted(3, "/"), 3);
  // New numbers keep the state: the bucket is still full only at t0 + 60s, so at
  // 4/min (burst 4) the client has no token left.
  cfg_.policy.limits[0].rate = per(4, minute);
  build();
  EXPECT_EQ(admitted(3, "/"), 0);
  EXPECT_EQ(run("GET", "/", "192.0.2.1", nullptr, false, t0 + 15 * second).result,
            outcome::allowed);
  cfg_.policy.limits[0].algo = algorithm::fixed_window;  // new algorithm: fresh state
  build();
  EXPECT_EQ(admitted(5, "/"), 4);
}

// ---- path spellings (issue 8 item 10) ----

// POST /auth/login limited at 1/min per IP, /static/** limits: off, as in the issue.
class PathSpellingTest : public EngineTest {
 protected:
  void build_login_policy(const path_options& routing) {
    cfg_.policy.routing = routing;
    cfg_.policy.routes = {make_route("login", {"POST"}, "/auth/login"),
                          make_route("static", {}, "/static/**", 1, true)};
    auto login = make_limit("login", {part(kp::ip)}, per(1, minute));
    login.routes = {"login"};
    cfg_.policy.limits = {login};
    build();
  }

  // "400: <problem>", or the route name and whether the request passed.
  std::string outcome_of(std::string_view target, std::string_view client = "192.0.2.1") {
    const auto& ev = run("POST", target, client);
    switch (ev.result) {
      case outcome::bad_request:
        EXPECT_TRUE(ev.applied.empty()) << target;
        return "400: " + std::string(ev.problem);
      case outcome::limited:
        return ev.route_info().name + " 429";
      case outcome::bypassed:
        return ev.route_info().name + " bypassed";
      default:
        return ev.route_info().name + " allowed";
    }
  }
};

TEST_F(PathSpellingTest, EverySpellingIsRejectedOrLimitedByTheLoginLimit) {
  // With the folding options on: each spelling either is a 400, or shares the plain
  // spelling's bucket (the first POST /auth/login took the one token).
  build_login_policy(path_options{true, true, false});
  ASSERT_EQ(outcome_of("/auth/login"), "login allowed");
  const std::vector<std::pair<std::string_view, std::string_view>> want = {
      {"/auth/login;jsessionid=1", "login 429"},
      {"/auth;x/login", "login 429"},
      {"/AUTH/LOGIN", "login 429"},
      {"/auth/login%2f", "400: Encoded slash in path"},
      {"/auth%2flogin", "400: Encoded slash in path"},
      {"/static/..%2fauth/login", "400: Encoded slash in path"},
      {"/auth/login%20", "400: Space at the start or end of a path segment"},
      {"/auth/login%00", "400: Control character in path"},
      {"/auth/login\\", "400: Backslash in path"},
      {"/auth\\login", "400: Backslash in path"},
      {"/auth/login#frag", "400: Fragment (#) in request target"},
      {"/auth/login?x=1#frag", "400: Fragment (#) in request target"},
      {"/static/..;/auth/login", "400: Parameters (;) on a dot segment or before '..'"},
      {"/static/;x/../auth/login", "400: Parameters (;) on a dot segment or before '..'"},
      {"/static/%3Bx/../auth/login", "400: Encoded semicolon in path"},
      {"/static/%2e%2e/auth/login", "login 429"},
      {"/auth/login/", "login 429"},
      {"/auth/./login?next=/", "login 429"},
  };
  for (const auto& [target, expected] : want) EXPECT_EQ(outcome_of(target), expected) << target;
}

TEST_F(PathSpellingTest, DefaultsFoldMatrixParamsButNotCase) {
  build_login_policy(path_options{});
  ASSERT_EQ(outcome_of("/auth/login"), "login allowed");
  EXPECT_EQ(outcome_of("/auth/login;jsessionid=1"), "login 429");
  EXPECT_EQ(outcome_of("/auth;x/login"), "login 429");
  // Another path to a case-sensitive upstream (its 404); case_insensitive: true folds it.
  EXPECT_EQ(outcome_of("/AUTH/LOGIN"), "default allowed");
  EXPECT_EQ(outcome_of("/auth/login%2f"), "400: Encoded slash in path");
}

TEST_F(PathSpellingTest, AllowEncodedSlashMakesItASeparatorForMatching) {
  build_login_policy(path_options{false, true, true});
  ASSERT_EQ(outcome_of("/auth/login"), "login allowed");
  EXPECT_EQ(outcome_of("/auth/login%2f"), "login 429");
  EXPECT_EQ(outcome_of("/auth%2flogin"), "login 429");
  // An encoded ".." climbs out of the limits: off route like a raw one.
  EXPECT_EQ(outcome_of("/static/..%2fauth/login"), "login 429");
  EXPECT_EQ(outcome_of("/static%2F..%2F..%2Fauth%2Flogin"), "login 429");
  EXPECT_EQ(outcome_of("/static/a%2Fb.css"), "static bypassed");
}

TEST_F(PathSpellingTest, NoMatrixStrippingLeavesSemicolonSpellingsOnOtherRoutes) {
  build_login_policy(path_options{false, false, false});
  ASSERT_EQ(outcome_of("/auth/login"), "login allowed");
  EXPECT_EQ(outcome_of("/auth/login;jsessionid=1"), "default allowed");  // Tomcat: login
  EXPECT_EQ(outcome_of("/static/a;v=2/app.css"), "static bypassed");
  EXPECT_EQ(outcome_of("/static/;jsessionid=1"), "static bypassed");
}

TEST_F(PathSpellingTest, ParametersThatMoveDotSegmentsAreRejectedWhateverTheOptions) {
  // path_route_fuzz's findings (tests/fuzz/corpus/path_route_fuzz/static_*): read as
  // "/static/..;/auth/login" (strip_matrix_params: false) and "/static/%3Bx/../auth/login"
  // (any options) these were static files to Sluice, limits off, and the login handler to
  // an upstream that cuts ";params" (and decodes %3B first). Each option set rejects them,
  // charges nothing, and still routes ordinary parameters.
  for (int bits = 0; bits < 8; ++bits) {
    build_login_policy(path_options{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0});
    const std::string dot = "400: Parameters (;) on a dot segment or before '..'";
    const std::string client = "192.0.2." + std::to_string(10 + bits);
    for (std::string_view target :
         {"/static/..;/auth/login", "/static/..;x=1/auth/login", "/static/.;/../auth/login",
          "/static/;x/../auth/login", "/static/%2e%2e;/auth/login"}) {
      EXPECT_EQ(outcome_of(target, client), dot) << target << " options " << bits;
    }
    for (std::string_view target : {"/static/%3Bx/../auth/login", "/static/%3bx/../auth/login",
                                    "/auth/login%3Bjsessionid=1"}) {
      EXPECT_EQ(outcome_of(target, client), "400: Encoded semicolon in path")
          << target << " options " << bits;
    }
    EXPECT_EQ(outcome_of("/static/x;v=2/../app.css", client), "static bypassed") << bits;
    EXPECT_EQ(outcome_of("/auth/login", client), "login allowed") << bits;  // nothing charged
  }
}

TEST_F(PathSpellingTest, ALimitsOffRouteIsNeverReachedOnlyThroughFolding) {
  // The upstream may not fold: a spelling that reaches /static/** only once folded is
  // routed as written ("/static;x/login" is tenant "static;x" to POST /{tenant}/login).
  cfg_.policy.routing = path_options{true, true, false};
  cfg_.policy.routes = {make_route("static", {}, "/static/**", 1, true),
                        make_route("tenant-login", {"POST"}, "/{tenant}/login")};
  cfg_.policy.limits = {make_limit("per-ip", {part(kp::ip)}, per(100, minute))};
  build();
  EXPECT_EQ(outcome_of("/static/login"), "static bypassed");
  EXPECT_EQ(outcome_of("/static/x/../login"), "static bypassed");
  EXPECT_EQ(outcome_of("/static;x/login"), "tenant-login allowed");
  EXPECT_EQ(outcome_of("/STATIC/login"), "tenant-login allowed");
  EXPECT_EQ(outcome_of("/Static/app.js"), "default allowed");  // no route as written
  // "**" takes any rest, ";v=2" included: bypassed either way.
  EXPECT_EQ(run("GET", "/static/app.js;v=2").result, outcome::bypassed);
  // Both readings limits: off: bypassed.
  cfg_.policy.routes.push_back(make_route("assets", {}, "/**", 1, true));
  build();
  EXPECT_EQ(outcome_of("/Static/app.js"), "static bypassed");
}

TEST_F(PathSpellingTest, OffRoutePatternsAreFoldedToo) {
  cfg_.policy.routing = path_options{true, true, false};
  cfg_.policy.routes = {make_route("static", {}, "/Static/**", 1, true)};
  build();
  EXPECT_EQ(outcome_of("/Static/a.css"), "static bypassed");
  EXPECT_EQ(outcome_of("/static/a.css"), "default allowed");  // reaches it only folded
}

TEST_F(PathSpellingTest, ThePathKeyPartIsTheFoldedPath) {
  cfg_.policy.routing = path_options{true, true, false};
  cfg_.policy.limits = {make_limit("by-path", {part(kp::path)}, per(5, minute))};
  build();
  for (std::string_view target : {"/Users/42/Orders;jsessionid=9", "/users/42/orders",
                                  "/USERS/%34%32/orders", "/users;a/42/x/../orders"}) {
    run("GET", target);
    ASSERT_EQ(ev_.applied.size(), 1u) << target;
    EXPECT_EQ(applied_key(0), "/users/{id}/orders") << target;
  }
}

TEST_F(PathSpellingTest, SpellingsThatNormalizeEqualRouteEqual) {
  // Property over generated spellings, every option: the route of a spelling is the
  // route of its base path, except that a limits: off route is only reached by a
  // spelling that needs no folding; otherwise it lands on a route with limits.
  const std::vector<std::string_view> bases = {"/auth/login", "/static/app/x.js", "/users/42",
                                               "/elsewhere"};
  std::mt19937 rng(10);
  std::string path, scratch, base_path;
  for (int bits = 0; bits < 8; ++bits) {
    cfg_ = base_config();
    cfg_.policy.routing = path_options{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
    cfg_.policy.routes = {make_route("login", {"POST"}, "/auth/login"),
                          make_route("static", {}, "/static/**", 1, true),
                          make_route("user", {}, "/users/{id}")};
    build();
    for (const auto base : bases) {
      int base_route = -1;
      ASSERT_EQ(pol_->route_path("POST", base, base_path, scratch, base_route), path_status::ok);
      for (int i = 0; i < 300; ++i) {
        const std::string spelling = testing::respell(base, pol_->routing(), rng);
        int route = -1;
        ASSERT_EQ(pol_->route_path("POST", spelling, path, scratch, route), path_status::ok);
        EXPECT_EQ(path, base_path) << spelling;
        if (pol_->route(base_route).bypass && route != base_route) {
          EXPECT_FALSE(pol_->route(route).bypass) << spelling << " options " << bits;
          EXPECT_TRUE(spelling.find(';') != std::string::npos ||
                      spelling.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos)
              << spelling;
        } else {
          EXPECT_EQ(route, base_route) << spelling << " options " << bits;
        }
      }
    }
  }
}

// Issue 14, calendar quotas: a monthly quota in Europe/Berlin counts from local midnight
// on the anchor day to the next one; the answer's reset and Retry-After point there.
TEST_F(EngineTest, MonthlyQuotaFollowsTheCalendarOfItsTimeZone) {
  auto monthly = make_limit("monthly", {part(kp::ip)},
                            config::rate{3, 31 * 24 * 3600 * second, calendar_unit::month},
                            algorithm::fixed_window);
  monthly.calendar = config::calendar_def{"Europe/Berlin", 1, false};
  auto per_minute = make_limit("per-minute", {part(kp::ip)}, per(100, minute));
  cfg_.policy.limits = {monthly, per_minute};
  build();
  // Instants from Python's zoneinfo: March 2026 in Berlin is [2026-02-28T23:00Z,
  // 2026-03-31T22:00Z), an hour short of 31 days (clocks go forward on the 29th).
  const micros march = 1'772'319'600LL * second;
  const micros april = 1'774'994'400LL * second;
  const micros mid_march = 1'773'572'400LL * second;
  const auto at = [&](micros t) { return run("GET", "/x", "192.0.2.1", nullptr, false, t).result; };

  EXPECT_EQ(at(march - 1), outcome::allowed) << "February's quota";
  EXPECT_EQ(at(march), outcome::allowed);
  ASSERT_EQ(ev_.applied.size(), 2u);
  EXPECT_EQ(ev_.applied[0].params->origin, march);
  EXPECT_EQ(ev_.applied[0].params->period, april - march);
  EXPECT_EQ(ev_.applied[1].params->origin, 0) << "a fixed-length rate keeps the epoch";
  EXPECT_EQ(ev_.applied[0].result.reset, april - march);
  EXPECT_EQ(at(mid_march), outcome::allowed);
  EXPECT_EQ(at(april - 1), outcome::allowed);
  EXPECT_EQ(at(april - 1), outcome::limited);
  EXPECT_EQ(reported_name(), "monthly");
  EXPECT_EQ(ev_.applied[0].result.retry_after, 1);
  EXPECT_EQ(at(mid_march), outcome::limited);
  EXPECT_EQ(ev_.applied[0].result.retry_after, april - mid_march) << "about 17 days";
  EXPECT_EQ(at(april), outcome::allowed) << "April starts at local midnight";
  EXPECT_EQ(ev_.applied[0].result.remaining, 2);
}

}  // namespace
}  // namespace sluice::limit
