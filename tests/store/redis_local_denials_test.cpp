// Exact local denials through the Redis backend (issue 9 part 3), against a real
// redis-server: two backends share it under different key prefixes, one with the
// local-denial cache and one without, and the same random traffic (several clients,
// routes of different costs, limits of every algorithm, multi-limit requests, shaping,
// shadow limits, tier changes, reloads, admin resets) is replayed through both at the
// same fake times (the decision code's test-only "now"). Every decision, the
// concluded result and the headers and 429 body must be identical; the cached one
// must have denied many requests locally.
// g++ 12 reports Asio's awaitable frame operator new/delete pair as mismatched (a false
// positive, as in sluice_net: both are Asio's own recycling allocator).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "identity/overrides.hpp"
#include "limit/engine.hpp"
#include "limit/rate_limit_headers.hpp"
#include "redis/router.hpp"
#include "store/redis_backend.hpp"
#include "support/redis_server.hpp"
#include "telemetry/metrics.hpp"

namespace sluice::app {
namespace {

namespace asio = boost::asio;
using limit::algorithm;
using limit::micros;
constexpr micros ms = 1000;
constexpr micros second = limit::micros_per_second;

class fake_headers final : public limit::request_headers {
 public:
  explicit fake_headers(std::string api_key) : api_key_(std::move(api_key)) {}
  limit::header_lines lines(std::string_view lower_name) const override {
    if (lower_name != "x-api-key" || api_key_.empty()) return {};
    return {std::string_view(api_key_), false};
  }

 private:
  std::string api_key_;
};

config::limit_def make_limit(std::string name, std::vector<config::key_part_kind> parts,
                             algorithm algo, std::int64_t n, micros period,
                             std::int64_t burst = 0) {
  config::limit_def l;
  l.name = std::move(name);
  for (auto k : parts) l.key.push_back(config::key_part{k, {}});
  l.algo = algo;
  l.rate = config::rate{n, period};
  l.burst = burst;
  return l;
}

config::route_def make_route(std::string name, std::string pattern, std::int64_t cost) {
  config::route_def r;
  r.name = std::move(name);
  r.methods = {"GET"};
  r.pattern = std::move(pattern);
  r.cost = cost;
  return r;
}

// Every algorithm; `variant` 1 is a reload that changes two limits' parameters.
config::loaded_config make_config(int variant) {
  using kp = config::key_part_kind;
  config::loaded_config c;
  c.server.identity.api_key_header = "X-API-Key";
  c.server.identity.ipv6_prefix = 64;
  c.server.headers.legacy = true;
  c.server.headers.standard = config::standard_headers::draft10;
  c.policy.tiers = {{"free", false, {3, second}, 3, {}}, {"pro", false, {6, second}, 4, {}}};
  c.policy.default_tier = "free";
  c.policy.api_keys = {{"k1", "free", "", {}}, {"k2", "pro", "", {}}, {"k3", "", "", {}}};
  c.policy.routes = {make_route("cheap", "/a", 1), make_route("dear", "/b", 2)};
  auto per_ip =
      make_limit("per-ip", {kp::ip}, algorithm::token_bucket, variant == 0 ? 4 : 3, second, 4);
  auto per_client = make_limit("per-client", {kp::client}, algorithm::token_bucket, 0, 0);
  per_client.tier_aware = true;
  per_client.rate = {};
  auto shaped = make_limit("shaped", {kp::api_key}, algorithm::leaky_bucket, 7, second, 2);
  shaped.delay = 300 * ms;
  shaped.routes = {"cheap"};
  auto global = make_limit("global", {kp::global}, algorithm::fixed_window, 40, second);
  global.count = config::count_mode::requests;
  auto per_route = make_limit("per-route", {kp::ip, kp::route}, algorithm::sliding_window,
                              variant == 0 ? 4 : 5, 2 * second);
  auto login = make_limit("login", {kp::ip}, algorithm::sliding_log, 3, second);
  login.routes = {"dear"};
  auto watch = make_limit("watch", {kp::ip}, algorithm::sliding_log, 2, second);
  watch.shadow = true;
  c.policy.limits = {per_ip, per_client, shaped, global, per_route, login, watch};
  return c;
}

std::string describe(const limit::decision& d) {
  std::ostringstream o;
  o << "{allowed=" << d.allowed << " exceeds=" << d.cost_exceeds_limit << " limit=" << d.limit
    << " remaining=" << d.remaining << " reset=" << d.reset << " retry_after=" << d.retry_after
    << " delay=" << d.delay << "}";
  return o.str();
}

// The headers and 429 body a client would get.
std::string client_view(const limit::evaluation& ev, const config::headers_config& cfg) {
  limit::header_list headers;
  limit::append_rate_limit_headers(ev, cfg, headers);
  std::string out;
  for (const auto& h : headers) out.append(h.name).append(": ").append(h.value).append("\n");
  if (ev.result == limit::outcome::limited) {
    text_buffer body;
    limit::append_rejection_body(ev, body);
    out += body.view();
  }
  return out;
}

struct replay_totals {
  int requests = 0;
  int limited = 0;
  int compared_fields = 0;
};

// One decision through one backend, as the session makes it.
asio::awaitable<void> decide(decision_backend& backend, limit::evaluation& ev) {
  store_verdict verdict = store_verdict::admitted;
  if (!ev.checks.empty() && !backend.decide_now(ev, verdict)) {
    verdict = co_await backend.decide_async(ev);
  }
  EXPECT_NE(verdict, store_verdict::unavailable);
  limit::conclude(ev, verdict == store_verdict::admitted);
}

asio::awaitable<void> replay(redis_backend& cached, redis_backend& direct, std::uint32_t seed,
                             int steps, replay_totals& totals) {
  const limit::policy policies[] = {limit::policy(make_config(0), 11),
                                    limit::policy(make_config(1), 11)};
  const config::headers_config header_cfg = make_config(0).server.headers;
  identity::memory_overrides overrides;
  std::mt19937 rng(seed);
  const char* ips[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
  const char* keys[] = {"", "k1", "k2", "k3"};
  const char* targets[] = {"/a", "/b", "/c"};
  int version = 0;

  // Fake time never runs slower than real time: the keys' expiries in Redis are real
  // milliseconds, so a state is fresh (fake) by the time its key expires (real).
  const auto real_start = std::chrono::steady_clock::now();
  const micros fake_start = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  micros offset = 0;
  micros now = fake_start;
  auto clock = [&now] { return now; };
  cached.use_clock_for_tests(clock);
  direct.use_clock_for_tests(clock);

  limit::evaluation a, b;
  for (int step = 0; step < steps; ++step) {
    const int dice = static_cast<int>(rng() % 1000);
    offset += dice < 100 ? 0 : dice < 990 ? static_cast<micros>(rng() % (120 * ms)) : 3 * second;
    const micros real = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - real_start)
                            .count();
    now = std::max(now, fake_start + std::max(offset, real));

    if (dice % 97 == 0) {  // an admin reset of one key of one limit
      const auto& pol = policies[version];
      const int l = static_cast<int>(rng() % pol.limits().size());
      const std::string ip = ips[rng() % 3];
      const std::string key = pol.limits()[l].name == "per-client" ? "ip:" + ip
                              : pol.limits()[l].name == "global"   ? "global"
                                                                   : ip;
      EXPECT_TRUE(co_await cached.reset(pol.limits()[l], key));
      EXPECT_TRUE(co_await direct.reset(pol.limits()[l], key));
      continue;
    }
    if (dice % 89 == 0) {  // a runtime tier change of one client
      const std::string key = keys[1 + rng() % 3];
      if (rng() % 2 == 0) {
        overrides.put_tier(key, rng() % 2 == 0 ? "pro" : "free");
      } else {
        overrides.remove_tier(key);
      }
      continue;
    }
    if (dice % 293 == 0) {  // a reload that changes per-ip and per-route
      version = 1 - version;
      continue;
    }

    fake_headers headers(keys[rng() % 4]);
    const limit::request_facts facts{"GET", targets[rng() % 3], *ip_address::parse(ips[rng() % 3]),
                                     false, &headers};
    limit::prepare(policies[version], facts, &overrides, now, a);
    limit::prepare(policies[version], facts, &overrides, now, b);
    if (a.result != limit::outcome::allowed || a.checks.empty()) continue;
    co_await decide(cached, a);
    co_await decide(direct, b);
    ++totals.requests;
    totals.limited += a.result == limit::outcome::limited;

    const std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step);
    EXPECT_EQ(a.result, b.result) << where;
    EXPECT_EQ(a.denying, b.denying) << where;
    EXPECT_EQ(a.reported, b.reported) << where;
    EXPECT_EQ(a.delay, b.delay) << where;
    EXPECT_EQ(a.now, b.now) << where;
    EXPECT_EQ(a.decisions.size(), b.decisions.size()) << where;
    for (std::size_t i = 0; i < a.decisions.size() && i < b.decisions.size(); ++i) {
      EXPECT_EQ(describe(a.decisions[i]), describe(b.decisions[i]))
          << where << " limit " << a.limit_of(a.applied[i]).name;
      ++totals.compared_fields;
    }
    EXPECT_EQ(client_view(a, header_cfg), client_view(b, header_cfg)) << where;
    if (::testing::Test::HasFailure()) co_return;
  }
}

// A cluster seen from the backend, on one server: every slot's commands go to the
// one client, but keys in different slots may not share a command and slots belong
// to three shards. Decisions across slots then take the cluster path (one call per
// slot, refunds), against a real Redis.
class split_router final : public redis::router {
 public:
  explicit split_router(redis::client& c) : client_(c) {}
  using router::command;
  asio::awaitable<result> command(std::uint16_t slot,
                                  std::span<const std::string_view> args) override {
    ++commands_;
    if (down_shard_ != 0 && shard_of(slot) == down_shard_) {
      co_return result{redis::make_error_code(redis::client_error::not_connected), {}};
    }
    co_return co_await client_.command(args);
  }
  bool connected(std::uint16_t slot) const noexcept override {
    return client_.connected() && shard_of(slot) != down_shard_;
  }
  bool connected() const noexcept override { return client_.connected() && down_shard_ == 0; }
  std::size_t shard_of(std::uint16_t slot) const noexcept override { return 1 + slot % 3; }
  bool multi_slot_commands() const noexcept override { return false; }

  std::size_t down_shard_ = 0;  // a shard whose master is gone (0: none)
  int commands_ = 0;

 private:
  redis::client& client_;
};

class RedisLocalDenials : public ::testing::Test {
 protected:
  void SetUp() override {
    redis::client_options o;
    o.port = server_.port();
    o.timeout = std::chrono::seconds(5);
    client_ = std::make_unique<redis::client>(o);
    for (int i = 0; i < 200 && !client_->connected(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(client_->connected());
    router_ = std::make_unique<redis::single_router>(*client_);
  }

  config::storage_config storage(std::string prefix, std::uint64_t entries) {
    config::storage_config s;
    s.backend = config::storage_backend::redis;
    s.on_error = config::storage_error_mode::deny;
    s.redis.key_prefix = std::move(prefix);
    s.redis.local_denials = entries;
    return s;
  }

  test::redis_server server_;
  std::unique_ptr<redis::client> client_;
  std::unique_ptr<redis::router> router_;
  admin::metrics metrics_{"test"};
  limit::memory_store local_{10'000};
};

TEST_F(RedisLocalDenials, RandomTrafficDecidesExactlyAsRedisAlone) {
  for (std::uint32_t seed : {1u, 2u}) {
    // Each seed on keys of its own.
    const std::string tag = std::to_string(seed) + ":";
    redis_backend cached(*router_, local_, metrics_, storage("cached:" + tag, 4096));
    redis_backend direct(*router_, local_, metrics_, storage("direct:" + tag, 0));
    replay_totals totals;
    asio::io_context io;
    auto done = asio::co_spawn(io, replay(cached, direct, seed, 3000, totals), asio::use_future);
    io.run();
    done.get();
    EXPECT_GT(totals.requests, 2000);
    EXPECT_GT(totals.limited, 500);
    // Many denials were local (no round trip); the backend without the cache had none.
    EXPECT_GT(cached.local_denials(), static_cast<std::uint64_t>(totals.limited) / 4);
    EXPECT_EQ(direct.local_denials(), 0u);
    std::cout << "[          ] seed " << seed << ": " << totals.requests << " requests, "
              << totals.limited << " limited, " << cached.local_denials() << " denied locally\n";
  }
}

// Cluster mode (hash-tagged keys, a request across slots decided per slot with
// refunds) decides every request of the random traffic exactly as one atomic call on
// one server: with the test clock a refund gives back exactly what its call took, and
// the refund goes out before the next request. The local-denial cache, learning
// across slots, stays exact too.
TEST_F(RedisLocalDenials, CrossSlotDecisionsWithRefundsMatchOneAtomicCall) {
  split_router split(*client_);
  auto cluster = storage("cross:", 4096);
  cluster.redis.mode = config::redis_mode::cluster;
  redis_backend across(split, local_, metrics_, cluster);
  redis_backend single(*router_, local_, metrics_, storage("atomic:", 0));
  EXPECT_EQ(across.redis_key("per-client", "key:k}1"), "cross:{key:k}1}:per-client");
  EXPECT_EQ(across.slot_of("per-client", "key:k}1"), redis::key_slot("key:k"));
  EXPECT_EQ(single.redis_key("per-client", "key:k1"), "atomic:per-client:key:k1");
  replay_totals totals;
  asio::io_context io;
  auto done = asio::co_spawn(io, replay(across, single, 3, 3000, totals), asio::use_future);
  io.run();
  done.get();
  EXPECT_GT(totals.requests, 2000);
  EXPECT_GT(totals.limited, 500);
  EXPECT_GT(across.local_denials(), 0u);
  EXPECT_EQ(across.degraded_shards(), 0);
  // Probe keys hash to the slot they probe.
  for (std::uint16_t slot : {0, 1, 5000, 16383}) {
    EXPECT_EQ(redis::key_slot(across.probe_key(slot)), slot);
  }
}

// A dead shard: only requests with a key in its slots follow on_error (deny here); the
// breaker opens for that shard alone, its probe goes to it, and it recovers by itself.
TEST_F(RedisLocalDenials, ADeadShardDegradesOnlyItsSlots) {
  split_router split(*client_);
  auto cluster = storage("dead:", 0);
  cluster.redis.mode = config::redis_mode::cluster;
  redis_backend backend(split, local_, metrics_, cluster);
  auto pol_config = make_config(0);
  // Only per-ip: one key, one slot per client address.
  pol_config.policy.limits.resize(1);
  const limit::policy pol(pol_config, 11);
  const std::string dead_ip = [&] {
    for (int i = 1;; ++i) {
      std::string ip = "198.51.100." + std::to_string(i);
      if (split.shard_of(backend.slot_of("per-ip", ip)) == 2) return ip;
    }
  }();
  const std::string live_ip = [&] {
    for (int i = 1;; ++i) {
      std::string ip = "198.51.100." + std::to_string(i);
      if (split.shard_of(backend.slot_of("per-ip", ip)) == 3) return ip;
    }
  }();
  split.down_shard_ = 2;
  asio::io_context io;
  auto run = [&](std::string ip) {
    fake_headers none("");
    const limit::request_facts facts{"GET", "/c", *ip_address::parse(ip), false, &none};
    limit::evaluation ev;
    limit::prepare(pol, facts, nullptr, system_now_us(), ev);
    store_verdict verdict = store_verdict::admitted;
    if (!backend.decide_now(ev, verdict)) {
      auto f = asio::co_spawn(io, backend.decide_async(ev), asio::use_future);
      io.restart();
      io.run();
      verdict = f.get();
    }
    return verdict;
  };
  for (int i = 0; i < 4; ++i) {  // per-ip's burst: 4
    EXPECT_EQ(run(dead_ip), store_verdict::unavailable);
    EXPECT_EQ(run(live_ip), store_verdict::admitted);
  }
  EXPECT_EQ(backend.degraded_shards(), 1);
  EXPECT_TRUE(backend.status().degraded);
  // The probe asks the dead shard and finds it still down; then it comes back.
  auto probe = [&] {
    auto f = asio::co_spawn(io, backend.probe(), asio::use_future);
    io.restart();
    io.run();
    f.get();
  };
  probe();
  EXPECT_EQ(backend.degraded_shards(), 1);
  split.down_shard_ = 0;
  const int before = split.commands_;
  probe();
  EXPECT_EQ(split.commands_, before + 1);  // one probe, to that shard's slot
  EXPECT_EQ(backend.degraded_shards(), 0);
  EXPECT_EQ(run(dead_ip), store_verdict::admitted);
}

asio::awaitable<void> hammer(redis_backend& backend, const limit::policy& pol, micros& now,
                             int count, int& admitted, std::string ip = "198.51.100.7") {
  fake_headers none("");
  const limit::request_facts facts{"GET", "/c", *ip_address::parse(ip), false, &none};
  limit::evaluation ev;
  for (int i = 0; i < count; ++i) {
    limit::prepare(pol, facts, nullptr, now, ev);
    co_await decide(backend, ev);
    admitted += ev.result == limit::outcome::allowed;
    now += 1;
  }
}

TEST_F(RedisLocalDenials, AResetLiftsALocalDenialAtOnce) {
  redis_backend cached(*router_, local_, metrics_, storage("reset:", 64));
  const limit::policy pol(make_config(0), 11);
  micros now = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  cached.use_clock_for_tests([&now] { return now; });
  asio::io_context io;
  int admitted = 0;
  auto run = [&](auto awaitable) {
    auto f = asio::co_spawn(io, std::move(awaitable), asio::use_future);
    io.restart();
    io.run();
    return f.get();
  };
  // The first call loads the library: what was sent before that is not learnt.
  run(hammer(cached, pol, now, 1, admitted, "198.51.100.99"));
  admitted = 0;
  run(hammer(cached, pol, now, 10, admitted));
  EXPECT_EQ(admitted, 3);  // per-client: the free tier's burst of 3
  EXPECT_GT(cached.local_denials(), 0u);
  const auto before = cached.local_denials();
  const int l = pol.find_limit("per-client");
  EXPECT_TRUE(run(cached.reset(pol.limits()[l], "ip:198.51.100.7")));
  admitted = 0;
  run(hammer(cached, pol, now, 1, admitted));
  EXPECT_EQ(admitted, 1);
  EXPECT_EQ(cached.local_denials(), before);
}

}  // namespace
}  // namespace sluice::app
