#include "store/redis_backend.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <chrono>
#include <iostream>
#include <random>

#include "config/defaults.hpp"
#include "util/hash.hpp"

namespace sluice::app {
namespace {

// Consecutive failed round trips after which Redis is considered down and skipped.
constexpr int failures_before_degraded = 3;

// The local-denial cache reads elapsed local time this much fast, so that NTP slewing
// either clock (at most 500 ppm each) never makes a local denial outlive Redis's.
constexpr std::int64_t cache_drift_ppm = 1000;

// <key_prefix>resets: a random mark that an admin reset sets; every gateway's control
// thread reads it each tick and forgets its local denials when it changed (or vanished:
// it expired, or the server lost its keys). It expires like every key (every cache
// then starts over once).
constexpr int resets_mark_ttl_ms = 3'600'000;

// Note: command vectors are built with push_back below, not braced lists: g++ 12
// rejects a braced list of strings inside a coroutine ("array used as initializer").
bool is_error(const redis::reply& r, std::string_view prefix) {
  return r.type == redis::reply::kind::error && r.text.starts_with(prefix);
}
// The server lost the library (FUNCTION FLUSH, restart, failover to a fresh replica).
bool is_function_missing(const redis::reply& r) {
  return is_error(r, "ERR Function not found");
}
// FCALL or FUNCTION unknown (Redis < 7.0, or renamed away), or not allowed by ACL.
bool is_unsupported(const redis::reply& r) {
  return is_error(r, "ERR unknown command") || is_error(r, "NOPERM");
}
bool is_noscript(const redis::reply& r) {
  return is_error(r, "NOSCRIPT");
}

// A hash tag for each slot: the shortest decimal numbers, first come, whose CRC16
// lands in it (built once, ~170k CRCs). A probe key carries its slot's tag.
const std::array<std::string, redis::slot_count>& slot_tags() {
  static const auto tags = [] {
    auto out = std::make_unique<std::array<std::string, redis::slot_count>>();
    std::size_t filled = 0;
    for (std::uint64_t i = 0; filled < redis::slot_count; ++i) {
      std::string tag = std::to_string(i);
      auto& at = (*out)[redis::key_slot(tag)];
      if (at.empty()) {
        at = std::move(tag);
        ++filled;
      }
    }
    return out;
  }();
  return *tags;
}

std::int64_t steady_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

redis_backend::redis_backend(redis::router& router, limit::memory_store& local,
                             admin::metrics& metrics, const config::storage_config& storage,
                             local_denial_counter count_local_denial)
    : router_(router),
      cluster_keys_(storage.redis.mode == config::redis_mode::cluster),
      local_(local),
      metrics_(metrics),
      count_local_denial_(std::move(count_local_denial)),
      cache_entries_(storage.redis.local_denials),
      cache_seed_(std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32)),
      shards_(std::make_unique<shard_health[]>(max_shards)),
      leases_(std::make_unique<limit::lease_table>(config::defaults::lease_max_entries)) {
  // Random per process: two gateways (or one restarted) never share a lease id.
  std::mt19937_64 rng(std::random_device{}());
  char prefix[20];
  std::snprintf(prefix, sizeof(prefix), "%016llx", static_cast<unsigned long long>(rng()));
  hold_prefix_ = prefix;
  auto& registry = metrics_.registry();
  lease_tokens_family_ =
      &prometheus::BuildGauge()
           .Name("rate_limit_lease_tokens")
           .Help(
               "Units of a limit's budget this gateway holds in live local leases (charged in "
               "Redis, not yet spent), by limit.")
           .Register(registry);
  lease_decisions_counter_ =
      &prometheus::BuildCounter()
           .Name("rate_limit_lease_decisions_total")
           .Help("Requests admitted from local leases, without a Redis round trip.")
           .Register(registry)
           .Add({});
  auto& calls = prometheus::BuildCounter()
                    .Name("rate_limit_redis_calls_total")
                    .Help(
                        "Calls of the Redis decision code, by kind (decide, peek, refund): "
                        "with rate_limit_requests_total, the Redis calls per request.")
                    .Register(registry);
  calls_decide_ = &calls.Add({{"kind", "decide"}});
  calls_peek_ = &calls.Add({{"kind", "peek"}});
  calls_refund_ = &calls.Add({{"kind", "refund"}});
  if (cache_entries_ > 0) {
    cache_ = std::make_unique<limit::denial_cache>(cache_entries_, cache_drift_ppm);
  }
  configure(storage);
}

void redis_backend::configure(const config::storage_config& storage) {
  auto next =
      std::make_shared<const settings>(settings{storage.on_error, storage.redis.key_prefix});
  auto previous = settings_.exchange(std::move(next));
  // Other keys: nothing learnt about the old ones applies, and leases go back to them.
  if (previous && previous->key_prefix != storage.redis.key_prefix) {
    forget_all();
    std::vector<limit::returned_lease> back;
    leases_->drain(back);
    return_leases(std::move(back));
  }
  if (storage.redis.local_denials != cache_entries_) {
    std::cerr << "sluice: storage.redis.local_denials changed; it takes effect at the next "
                 "restart\n";
  }
}

void redis_backend::use_clock_for_tests(std::function<limit::micros()> clock) {
  test_clock_ = std::move(clock);
  if (cache_) cache_ = std::make_unique<limit::denial_cache>(cache_entries_, 0);
}

limit::micros redis_backend::local_now() const {
  if (test_clock_) return test_clock_();
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::uint64_t redis_backend::cache_id(std::string_view name, std::string_view key) const {
  return limit::cache_key_id(hash64(name, cache_seed_), key);
}

std::span<const limit::cache_probe> redis_backend::probes_of(const limit::evaluation& ev) const {
  thread_local std::vector<limit::cache_probe> probes;
  probes.clear();
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    const auto& a = ev.applied[i];
    // A cost from the response is settled later, outside what the answers show: such a
    // limit is probed at cost 0, so the cache learns nothing of it and never denies for it.
    const std::int64_t cost = ev.limit_of(a).response_cost ? 0 : ev.checks[i].cost;
    probes.push_back({cache_id(ev.limit_of(a).name, ev.key_of(a)), a.params, cost, a.shadow});
  }
  return probes;
}

bool redis_backend::deny_locally(limit::evaluation& ev) {
  limit::micros redis_now = 0;
  if (!cache_->decide(probes_of(ev), local_now(), ev.decisions, redis_now)) return false;
  // Headers report resets against the clock the decision stands for: Redis's.
  ev.now = redis_now;
  local_denials_.fetch_add(1, std::memory_order_relaxed);
  if (count_local_denial_) count_local_denial_(ev);
  return true;
}

void redis_backend::forget_all() {
  if (cache_) cache_->clear(local_now());
}

std::string redis_backend::redis_key(std::string_view limit_name, std::string_view key) const {
  std::string out = settings_.load()->key_prefix;
  if (cluster_keys_) {
    // The prefix holds no brace (the config refuses it), so this '{' opens the tag.
    out += '{';
    out += key;
    out += "}:";
    out += limit_name;
    return out;
  }
  out += limit_name;
  out += ':';
  out += key;
  return out;
}

std::uint16_t redis_backend::slot_of(std::string_view limit_name, std::string_view key) const {
  if (!cluster_keys_) return 0;
  return redis::key_slot(redis_key(limit_name, key));
}

std::string redis_backend::probe_key(std::uint16_t slot) const {
  // No limit's key: those hold a ':' after the prefix (cluster: "}:").
  std::string out = settings_.load()->key_prefix + "probe";
  if (cluster_keys_) {
    out += '{';
    out += slot_tags()[slot % redis::slot_count];
    out += '}';
  }
  return out;
}

redis_backend::shard_health& redis_backend::health_of(std::size_t shard) const {
  return shards_[std::min(shard, max_shards - 1)];
}

bool redis_backend::shard_down(std::uint16_t slot) {
  const std::size_t shard = router_.shard_of(slot);
  if (health_of(shard).degraded.load(std::memory_order_acquire)) return true;
  if (router_.connected(slot)) return false;
  failed(slot, "not connected");
  return true;
}

std::span<const limit::lease_probe> redis_backend::lease_probes_of(
    const limit::evaluation& ev) const {
  thread_local std::vector<limit::lease_probe> probes;
  probes.clear();
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    const auto& a = ev.applied[i];
    const auto& limit = ev.limit_of(a);
    // A scaled request decides on other numbers than its lease was charged under.
    if (!limit.lease || a.factor != 1.0 || a.shadow) return {};
    probes.push_back({cache_id(limit.name, ev.key_of(a)), a.params, ev.checks[i].cost});
  }
  return probes;
}

bool redis_backend::take_leases(limit::evaluation& ev) {
  const auto probes = lease_probes_of(ev);
  if (probes.empty()) return false;
  limit::micros redis_now = 0;
  if (!leases_->take(probes, local_now(), ev.decisions, redis_now)) return false;
  ev.now = redis_now;
  lease_decisions_.fetch_add(1, std::memory_order_relaxed);
  lease_decisions_counter_->Increment();
  return true;
}

void redis_backend::return_leases(std::vector<limit::returned_lease> leases) {
  if (leases.empty()) return;
  std::lock_guard lock(returns_mutex_);
  for (auto& lease : leases) pending_returns_.push_back(std::move(lease));
}

net::awaitable<void> redis_backend::tend_leases() {
  std::vector<limit::returned_lease> back;
  leases_->expire(local_now(), back);
  {
    std::lock_guard lock(returns_mutex_);
    for (auto& lease : pending_returns_) back.push_back(std::move(lease));
    pending_returns_.clear();
  }
  // Each lease's units were charged by one decide at its own Redis time: one refund call
  // each (the connection pipelines them), spawned: nothing waits for them. A refund that
  // fails leaves the units charged: under-admission for a while, never over.
  auto executor = co_await net::asio::this_coro::executor;
  for (auto& lease : back) {
    std::vector<redis::script_limit> limits;
    limits.push_back({std::move(lease.redis_key), &lease.params, lease.tokens, false});
    limit::decision charged;
    charged.allowed = true;
    std::vector<std::string> args;
    args.resize(2);  // the head: call_code() writes it
    if (redis::append_refund_args(limits, std::span(&charged, 1), lease.charged_at, args) == 0) {
      continue;
    }
    if (test_clock_) args.push_back(std::to_string(local_now()));
    net::asio::co_spawn(executor, refund(lease.slot, std::move(args), 1), net::asio::detached);
  }
  // The gauge: units held per limit now (limits that hold none read 0).
  std::unordered_map<std::string, std::int64_t> held;
  leases_->tokens_by_limit(local_now(), held);
  for (auto& [name, gauge] : lease_tokens_) {
    auto it = held.find(name);
    gauge->Set(it == held.end() ? 0.0 : static_cast<double>(it->second));
  }
  for (const auto& [name, tokens] : held) {
    auto& gauge = lease_tokens_[name];
    if (gauge == nullptr) {
      gauge = &lease_tokens_family_->Add({{"limit", name}});
      gauge->Set(static_cast<double>(tokens));
    }
  }
}

bool redis_backend::decide_now(limit::evaluation& ev, store_verdict& verdict) {
  // Units this gateway already holds: no round trip, even while Redis is down.
  if (take_leases(ev)) {
    verdict = store_verdict::admitted;
    return true;
  }
  // A shard known down (or not connected): decide by on_error without a round trip.
  bool down = false;
  if (!cluster_keys_) {
    down = shard_down(0);
  } else {
    for (const auto& a : ev.applied) {
      if (shard_down(slot_of(ev.limit_of(a).name, ev.key_of(a)))) {
        down = true;
        break;
      }
    }
  }
  if (down) {
    verdict = fallback(ev);
    return true;
  }
  if (cache_ && deny_locally(ev)) {
    verdict = store_verdict::denied;
    return true;
  }
  return false;
}

std::vector<redis::script_limit> redis_backend::script_limits_of(const keyed_decision& d) const {
  std::vector<redis::script_limit> limits;
  limits.reserve(d.checks.size());
  for (std::size_t i = 0; i < d.checks.size(); ++i) {
    const auto& c = d.checks[i];
    limits.push_back({redis_key(d.names[i], d.keys[i]), c.params, c.cost, c.shadow});
  }
  return limits;
}

bool redis_backend::decide_keyed_now(keyed_decision& d, store_verdict& verdict) {
  // No leases and no local-denial cache here: they learn the proxy's limits.
  bool down = false;
  if (!cluster_keys_) {
    down = shard_down(0);
  } else {
    for (std::size_t i = 0; i < d.checks.size() && !down; ++i) {
      down = shard_down(slot_of(d.names[i], d.keys[i]));
    }
  }
  if (!down) return false;
  verdict = fallback(d);
  return true;
}

bool redis_backend::slots_of(std::span<const redis::script_limit> limits,
                             std::vector<std::uint16_t>& slots) const {
  slots.clear();
  slots.reserve(limits.size());
  bool one_slot = true;
  for (const auto& l : limits) {
    slots.push_back(cluster_keys_ ? redis::key_slot(l.key) : 0);
    one_slot = one_slot && slots.back() == slots.front();
  }
  return one_slot;
}

net::awaitable<std::optional<bool>> redis_backend::decide_on_slot(std::uint16_t slot,
                                                                  std::vector<std::string> args,
                                                                  std::span<limit::decision> out,
                                                                  std::span<std::int64_t> grants,
                                                                  limit::micros& decided_now) {
  auto values = co_await run_decision(slot, std::move(args), false);
  if (!values) co_return std::nullopt;
  const auto admitted = grants.empty()
                            ? redis::parse_decide_reply(*values, out)
                            : redis::parse_decide_reply_with_grants(*values, out, grants);
  if (!admitted) {
    failed(slot, "malformed decision reply");
    co_return std::nullopt;
  }
  decided_now = redis::decide_reply_now(*values);
  co_return admitted;
}

net::awaitable<store_verdict> redis_backend::decide_keyed(keyed_decision& d) {
  auto limits = script_limits_of(d);
  std::vector<std::uint16_t> slots;
  const bool one_slot = slots_of(limits, slots);
  const limit::micros sent = local_now();
  std::optional<limit::micros> now;
  if (test_clock_) now = sent;
  std::optional<bool> admitted;
  if (!one_slot && !router_.multi_slot_commands()) {
    admitted = co_await decide_across_slots(std::move(limits), std::move(slots), d.out, d.now, sent,
                                            now, nullptr);
  } else {
    admitted = co_await decide_on_slot(slots.empty() ? 0 : slots.front(),
                                       decision_command(limits, false, now), d.out, {}, d.now);
  }
  if (!admitted) co_return fallback(d);
  co_return *admitted ? store_verdict::admitted : store_verdict::denied;
}

std::vector<std::string> redis_backend::decision_command(
    std::span<const redis::script_limit> limits, bool peek, std::optional<limit::micros> now) {
  std::vector<std::string> args;
  args.reserve(4 + limits.size() * (1 + redis::decide_arg_fields));
  args.resize(2);  // the head: run_decision() writes it
  redis::append_decide_args(limits, peek, args);
  if (now) args.push_back(std::to_string(*now));
  return args;
}

std::vector<redis::script_limit> redis_backend::script_limits_of(limit::evaluation& ev) {
  const bool holds = std::any_of(ev.checks.begin(), ev.checks.end(), [](const limit::check& c) {
    return limit::holds_in_flight(c.params->algo);
  });
  if (holds && ev.hold_id.empty()) {
    ev.hold_id =
        hold_prefix_ + ":" + std::to_string(next_hold_.fetch_add(1, std::memory_order_relaxed));
  }
  std::vector<redis::script_limit> limits;
  limits.reserve(ev.applied.size());
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    const auto& a = ev.applied[i];
    limits.push_back({redis_key(ev.limit_of(a).name, ev.key_of(a)), a.params, ev.checks[i].cost,
                      a.shadow, ev.hold_id});
  }
  return limits;
}

void redis_backend::finish(const limit::evaluation& ev, std::span<const std::int64_t> settled,
                           const net::asio::any_io_executor& executor) {
  if (ev.decided_locally) {
    finish_in_memory(local_, ev, settled);
    return;
  }
  // By slot: the limits holding a slot (under ev.hold_id) or settling a cost. The settle
  // is against the charge's Redis clock, ev.now (the decision's reply).
  std::vector<std::pair<std::uint16_t, std::vector<redis::settle_limit>>> by_slot;
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    const bool settles = ev.settles(i) && i < settled.size() && settled[i] != ev.checks[i].cost;
    if (!ev.holds(i) && !settles) continue;
    const auto& a = ev.applied[i];
    const std::string_view name = ev.limit_of(a).name;
    const std::uint16_t slot = cluster_keys_ ? slot_of(name, ev.key_of(a)) : 0;
    auto it = std::find_if(by_slot.begin(), by_slot.end(),
                           [&](const auto& g) { return g.first == slot; });
    if (it == by_slot.end()) it = by_slot.insert(by_slot.end(), {slot, {}});
    it->second.push_back({redis_key(name, ev.key_of(a)), a.params, ev.checks[i].cost,
                          settles ? settled[i] : ev.checks[i].cost, a.shadow, ev.hold_id});
  }
  for (auto& [slot, limits] : by_slot) {
    std::vector<std::string> args;
    args.resize(2);  // the head: call_code() writes it
    const std::size_t count = redis::append_settle_args(limits, ev.now, args);
    if (count == 0) continue;
    if (test_clock_) args.push_back(std::to_string(local_now()));
    net::asio::co_spawn(executor, refund(slot, std::move(args), count), net::asio::detached);
  }
}

net::awaitable<store_verdict> redis_backend::decide_async(limit::evaluation& ev) {
  std::vector<redis::script_limit> limits = script_limits_of(ev);
  std::vector<std::uint16_t> slots;
  const bool one_slot = slots_of(limits, slots);
  // Sent now (the answer's clock is later than this: what the cache counts from).
  const limit::micros sent = local_now();
  std::optional<limit::micros> now;
  if (test_clock_) now = sent;
  if (!one_slot && !router_.multi_slot_commands()) {
    const auto admitted = co_await decide_across_slots(std::move(limits), std::move(slots),
                                                       ev.decisions, ev.now, sent, now, &ev);
    if (!admitted) co_return fallback(ev);
    co_return *admitted ? store_verdict::admitted : store_verdict::denied;
  }
  const std::uint16_t slot = slots.empty() ? 0 : slots.front();
  // Leased limits ask for a top-up (none when the request's limits are not all leased:
  // those go to Redis every time anyway, and a partial lease could never serve them).
  std::vector<std::int64_t> topups;
  std::vector<limit::lease_probe> leased;
  {
    const auto probes = lease_probes_of(ev);
    if (!probes.empty()) {
      leased.assign(probes.begin(), probes.end());
      topups.assign(leased.size(), 0);
      std::vector<limit::returned_lease> back;
      bool any = false;
      for (std::size_t i = 0; i < leased.size(); ++i) {
        const auto& lease = *ev.limit_of(ev.applied[i]).lease;
        topups[i] = leases_->want_topup(leased[i], lease.max_tokens, lease.max_age, sent, back);
        any = any || topups[i] > 0;
      }
      return_leases(std::move(back));
      if (!any) leased.clear();
    }
  }
  auto args = decision_command(limits, false, leased.empty() ? now : std::nullopt);
  if (!leased.empty()) redis::append_topup_args(topups, now, args);
  std::vector<std::int64_t> grants(leased.size(), 0);
  limit::micros redis_now = 0;
  const auto admitted =
      co_await decide_on_slot(slot, std::move(args), ev.decisions, grants, redis_now);
  if (!leased.empty()) {
    // The in-flight marks are cleared whatever happened; a grant becomes the lease.
    std::vector<limit::returned_lease> back;
    for (std::size_t i = 0; i < leased.size(); ++i) {
      if (!admitted || grants[i] <= 0) {
        leases_->store(leased[i], nullptr, back);
        continue;
      }
      const auto& a = ev.applied[i];
      limit::lease_grant grant;
      grant.redis_key = limits[i].key;
      grant.limit_name = ev.limit_of(a).name;
      grant.slot = slot;
      grant.tokens = grants[i];
      grant.max_age = ev.limit_of(a).lease->max_age;
      grant.state = ev.decisions[i];
      grant.redis_now = redis_now;
      grant.sent = sent;
      leases_->store(leased[i], &grant, back);
    }
    return_leases(std::move(back));
  }
  if (!admitted) co_return fallback(ev);
  // Headers report resets against the clock the decision used: Redis's.
  ev.now = redis_now;
  if (cache_) {
    // What Redis charged: cost + grant (the decisions are those of that charge).
    const auto probes = probes_of(ev);
    if (leased.empty()) {
      cache_->learn(probes, ev.decisions, *admitted, ev.now, sent);
    } else {
      std::vector<limit::cache_probe> charged(probes.begin(), probes.end());
      for (std::size_t i = 0; i < charged.size(); ++i) charged[i].cost += grants[i];
      cache_->learn(charged, ev.decisions, *admitted, ev.now, sent);
    }
  }
  // A leased limit's remaining counts the units this gateway now holds for it.
  for (std::size_t i = 0; i < grants.size(); ++i) ev.decisions[i].remaining += grants[i];
  co_return *admitted ? store_verdict::admitted : store_verdict::denied;
}

net::awaitable<std::optional<bool>> redis_backend::decide_across_slots(
    std::vector<redis::script_limit> limits, std::vector<std::uint16_t> slots,
    std::span<limit::decision> out, limit::micros& decided_now, limit::micros sent,
    std::optional<limit::micros> now, const limit::evaluation* learn) {
  // The request's limits by slot, in order of first appearance.
  struct slot_group {
    std::uint16_t slot = 0;
    std::vector<std::size_t> index;  // positions in the request's limits
    std::vector<redis::script_limit> limits;
    std::vector<limit::decision> decisions;
    std::optional<bool> admitted;  // nullopt: no (usable) answer
    limit::micros now = 0;
  };
  std::vector<slot_group> groups;
  for (std::size_t i = 0; i < limits.size(); ++i) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const slot_group& g) { return g.slot == slots[i]; });
    if (it == groups.end()) {
      groups.emplace_back();
      it = std::prev(groups.end());
      it->slot = slots[i];
    }
    it->index.push_back(i);
    it->limits.push_back(std::move(limits[i]));
  }
  // One decide per slot, all in flight at once on this worker.
  auto executor = co_await net::asio::this_coro::executor;
  using call_op = decltype(net::asio::co_spawn(
      executor, run_decision(0, std::vector<std::string>{}, false), net::asio::deferred));
  std::vector<call_op> calls;
  calls.reserve(groups.size());
  for (auto& g : groups) {
    g.decisions.resize(g.limits.size());
    calls.push_back(net::asio::co_spawn(
        executor, run_decision(g.slot, decision_command(g.limits, false, now), false),
        net::asio::deferred));
  }
  auto [order, exceptions, replies] =
      co_await net::asio::experimental::make_parallel_group(std::move(calls))
          .async_wait(net::asio::experimental::wait_for_all(), net::asio::use_awaitable);
  bool answered = true;
  bool admitted = true;
  for (std::size_t k = 0; k < groups.size(); ++k) {
    auto& g = groups[k];
    if (exceptions[k] || !replies[k]) {
      answered = false;  // counted by run_decision()
      continue;
    }
    g.admitted = redis::parse_decide_reply(*replies[k], g.decisions);
    if (!g.admitted) {
      failed(g.slot, "malformed decision reply");
      answered = false;
      continue;
    }
    g.now = redis::decide_reply_now(*replies[k]);
    admitted = admitted && *g.admitted;
  }
  if (!answered || !admitted) {
    // What the slots that admitted charged goes back: the request keeps no charge.
    for (const auto& g : groups) {
      if (!g.admitted || !*g.admitted) continue;
      std::vector<std::string> args;
      args.resize(2);  // the head: call_code() writes it
      const std::size_t count = redis::append_refund_args(g.limits, g.decisions, g.now, args);
      if (count == 0) continue;
      if (now) args.push_back(std::to_string(*now));
      net::asio::co_spawn(executor, refund(g.slot, std::move(args), count), net::asio::detached);
    }
  }
  if (!answered) co_return std::nullopt;
  // The decisions in the request's limit order; the clock of the slot that decided
  // the outcome (the first that denied, else the first) for the headers.
  const slot_group* deciding = &groups.front();
  for (const auto& g : groups) {
    for (std::size_t j = 0; j < g.index.size(); ++j) out[g.index[j]] = g.decisions[j];
    if (!admitted && *g.admitted == false && deciding->admitted.value_or(true)) deciding = &g;
  }
  decided_now = deciding->now;
  if (cache_ && learn != nullptr) {
    // Each slot's answer on its own server's clock. A denied request is learnt as not
    // charged on every slot: the refund gives back at most what was taken, so that
    // state is a lower bound of what Redis holds, which keeps local denials exact.
    const auto all = probes_of(*learn);
    std::vector<limit::cache_probe> probes;
    for (const auto& g : groups) {
      probes.clear();
      for (std::size_t i : g.index) probes.push_back(all[i]);
      cache_->learn(probes, g.decisions, admitted, g.now, sent);
    }
  }
  co_return admitted;
}

net::awaitable<void> redis_backend::refund(std::uint16_t slot, std::vector<std::string> args,
                                           std::size_t count) {
  auto reply = co_await call_code(slot, std::move(args), call_kind::refund);
  if (!reply) co_return;  // counted; the charge stays: under-admission, never over
  if (reply->type != redis::reply::kind::integer ||
      !redis::refund_reply_ok(reply->integer, count)) {
    failed(slot, reply->type == redis::reply::kind::error ? reply->text : "malformed refund reply");
    co_return;
  }
  succeeded(slot);
}

net::awaitable<std::optional<std::vector<std::int64_t>>> redis_backend::run_decision(
    std::uint16_t slot, std::vector<std::string> args, bool peek) {
  auto reply =
      co_await call_code(slot, std::move(args), peek ? call_kind::peek : call_kind::decide);
  if (!reply) co_return std::nullopt;
  if (reply->type != redis::reply::kind::array) {
    failed(slot, reply->type == redis::reply::kind::error ? reply->text : "unexpected reply type");
    co_return std::nullopt;
  }
  std::vector<std::int64_t> values;
  values.reserve(reply->elements.size());
  for (const auto& e : reply->elements) {
    if (e.type != redis::reply::kind::integer) {
      failed(slot, "non-integer in decision reply");
      co_return std::nullopt;
    }
    values.push_back(e.integer);
  }
  succeeded(slot);
  co_return values;
}

net::awaitable<std::optional<redis::reply>> redis_backend::call_code(std::uint16_t slot,
                                                                     std::vector<std::string> args,
                                                                     call_kind kind) {
  (kind == call_kind::decide ? calls_decide_
   : kind == call_kind::peek ? calls_peek_
                             : calls_refund_)
      ->Increment();
  auto via = via_.load(std::memory_order_relaxed);
  // Views, not copies: the router encodes them before this coroutine resumes.
  std::vector<std::string_view> views(args.begin(), args.end());
  set_head(views, via, kind);
  auto [ec, reply] = co_await router_.command(slot, std::span<const std::string_view>(views));
  if (!ec && via == redis::decide_via::function) {
    bool again = false;
    if (is_function_missing(reply)) {
      // A restarted or failed-over server: what the cache learnt may be gone too.
      forget_all();
      // Loaded once again there, then this call is sent again: the request does not fail.
      const load_outcome loaded = co_await load_library(slot);
      // A cluster whose servers lost it (FUNCTION FLUSH, a restart) or a master that
      // never had it (an ASK to a new master: the slot's owner has it): every master
      // gets it now, so no later call pays a failure for it.
      if (loaded == load_outcome::loaded && !router_.multi_slot_commands()) {
        for (const std::uint16_t other : router_.slot_of_each_shard()) {
          if (router_.shard_of(other) != router_.shard_of(slot)) co_await load_library(other);
        }
      }
      again = loaded != load_outcome::failed;
      if (loaded == load_outcome::unsupported) via = redis::decide_via::script;
    } else if (is_unsupported(reply)) {
      use_scripts(reply.text);
      via = redis::decide_via::script;
      again = true;
    }
    if (again) {
      set_head(views, via, kind);
      std::tie(ec, reply) =
          co_await router_.command(slot, std::span<const std::string_view>(views));
    }
  }
  if (!ec && via == redis::decide_via::script && is_noscript(reply)) {
    // The server restarted or was flushed: send the script itself once, which also
    // caches it again for the next EVALSHA. The request does not fail.
    forget_all();
    views[1] = redis::script_of(views[1]);
    views[0] = "EVAL";
    std::tie(ec, reply) = co_await router_.command(slot, std::span<const std::string_view>(views));
    if (!ec && reply.type != redis::reply::kind::error) {
      metrics_.redis_code_loads(false).Increment();
      const std::int64_t now = steady_seconds();
      if (last_script_load_log_.exchange(now) != now) {
        std::cerr << "sluice: redis: the decision scripts were not cached (NOSCRIPT): sent with "
                     "EVAL, which caches them again\n";
      }
    }
  }
  if (ec) {
    failed(slot, ec.message());
    co_return std::nullopt;
  }
  co_return std::move(reply);
}

net::awaitable<redis_backend::load_outcome> redis_backend::load_library(std::uint16_t slot) {
  const auto& code = redis::decide_code();
  std::vector<std::string> load;
  load.emplace_back("FUNCTION");
  load.emplace_back("LOAD");
  load.push_back(code.library);
  // Keyless: to the server of the slot whose call needed it.
  auto [ec, reply] = co_await router_.command(slot, std::move(load));
  if (ec) co_return load_outcome::failed;  // counted by the caller's failed()
  if (reply.type == redis::reply::kind::string) {
    metrics_.redis_code_loads(true).Increment();
    std::cerr << "sluice: redis: loaded the function library " << code.library_name
              << " (the server of slot " << slot << " did not have it)\n";
    co_return load_outcome::loaded;
  }
  if (is_error(reply, "ERR Library '" + code.library_name + "' already exists")) {
    co_return load_outcome::loaded;
  }
  if (is_unsupported(reply)) {
    use_scripts(reply.text);
    co_return load_outcome::unsupported;
  }
  std::cerr << "sluice: redis: FUNCTION LOAD " << code.library_name << " failed: " << reply.text
            << "\n";
  co_return load_outcome::failed;
}

void redis_backend::set_head(std::span<std::string_view> args, redis::decide_via via,
                             call_kind kind) {
  const redis::decide_head head = kind == call_kind::refund
                                      ? redis::refund_head_of(via)
                                      : redis::decide_head_of(via, kind == call_kind::peek);
  args[0] = head.command;
  args[1] = head.name;
}

void redis_backend::use_scripts(std::string_view why) {
  if (via_.exchange(redis::decide_via::script) == redis::decide_via::script) return;
  std::cerr << "sluice: redis: no Functions on this server (" << why
            << "): decisions use EVALSHA of the decision scripts from now on\n";
}

std::optional<store_verdict> redis_backend::on_error(std::span<const limit::check> checks,
                                                     limit::micros now,
                                                     std::span<limit::decision> out) {
  switch (settings_.load()->on_error) {
    case config::storage_error_mode::local:
      return local_.decide(checks, now, out) ? store_verdict::admitted : store_verdict::denied;
    case config::storage_error_mode::allow:
      return std::nullopt;
    case config::storage_error_mode::deny:
      return store_verdict::unavailable;
  }
  return store_verdict::unavailable;
}

store_verdict redis_backend::fallback(limit::evaluation& ev) {
  // Slots taken by the in-process store go back there.
  ev.decided_locally = settings_.load()->on_error == config::storage_error_mode::local;
  if (auto verdict = on_error(ev.checks, ev.now, ev.decisions)) return *verdict;
  // Through without limits: nothing applied, so no rate-limit headers either.
  ev.applied.clear();
  ev.checks.clear();
  ev.decisions.clear();
  return store_verdict::admitted;
}

store_verdict redis_backend::fallback(keyed_decision& d) {
  if (auto verdict = on_error(d.checks, d.now, d.out)) return *verdict;
  d.unchecked = true;  // admitted, nothing decided
  return store_verdict::admitted;
}

void redis_backend::failed(std::uint16_t slot, std::string_view why) {
  // The request may or may not have been charged, and Redis may be restarting. The
  // cache forgets everything, not just this shard's keys: simpler, and only costs
  // round trips that the other shards answer anyway.
  forget_all();
  errors_.fetch_add(1, std::memory_order_relaxed);
  metrics_.storage_errors(true).Increment();
  const std::size_t shard = router_.shard_of(slot);
  shard_health& h = health_of(shard);
  const int failures = h.consecutive_failures.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (failures >= failures_before_degraded && !h.degraded.load(std::memory_order_acquire)) {
    h.slot.store(slot, std::memory_order_release);  // what the probe will ask
    if (h.degraded.exchange(true)) return;
    std::size_t highest = highest_shard_.load(std::memory_order_relaxed);
    while (shard > highest && !highest_shard_.compare_exchange_weak(highest, shard)) {
    }
    if (degraded_shards_.fetch_add(1, std::memory_order_acq_rel) == 0) {
      metrics_.storage_degraded().Set(1);
    }
    const auto mode = settings_.load()->on_error;
    std::cerr << "sluice: redis unavailable (" << why << ")";
    if (cluster_keys_) std::cerr << " for the slots of shard " << shard << " (slot " << slot << ")";
    std::cerr << "; storage.on_error="
              << (mode == config::storage_error_mode::local   ? "local"
                  : mode == config::storage_error_mode::allow ? "allow"
                                                              : "deny")
              << " until it answers again\n";
  }
}

void redis_backend::succeeded(std::uint16_t slot) {
  const std::size_t shard = router_.shard_of(slot);
  shard_health& h = health_of(shard);
  h.consecutive_failures.store(0, std::memory_order_release);
  if (h.degraded.exchange(false)) {
    forget_all();  // it may have lost its keys meanwhile
    if (degraded_shards_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      metrics_.storage_degraded().Set(0);
    }
    std::cerr << "sluice: redis reachable again";
    if (cluster_keys_) std::cerr << " (shard " << shard << ")";
    std::cerr << "; limits are shared again\n";
  }
}

net::awaitable<void> redis_backend::probe() {
  co_await tend_leases();
  if (degraded_shards_.load(std::memory_order_acquire) == 0) {
    if (cache_) co_await watch_resets();
    co_return;
  }
  // A real decision, not a PING: a server that answers but cannot run or write the
  // decision code (a read-only replica after a failover, OOM) stays degraded instead of
  // flapping back every probe. One token per millisecond: always admitted, and the
  // key expires a second after the last probe. run_decision() counts the outcome
  // (succeeded() on success).
  static const limit::limit_params probe_params =
      limit::limit_params::make(limit::algorithm::token_bucket, 1, 1000, 1);
  const std::size_t highest =
      std::min(highest_shard_.load(std::memory_order_acquire), max_shards - 1);
  for (std::size_t shard = 0; shard <= highest; ++shard) {
    shard_health& h = shards_[shard];
    if (!h.degraded.load(std::memory_order_acquire)) continue;
    const std::uint16_t slot = h.slot.load(std::memory_order_acquire);
    if (router_.shard_of(slot) != shard) {
      // Another master serves that slot now (a failover, a reshard): this shard's
      // state no longer decides anything there. Should it still own other slots and
      // be down, their requests fail again and degrade it again.
      h.consecutive_failures.store(0, std::memory_order_release);
      if (h.degraded.exchange(false) &&
          degraded_shards_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        metrics_.storage_degraded().Set(0);
      }
      forget_all();
      std::cerr << "sluice: redis: shard " << shard << " no longer serves slot " << slot
                << "; its requests decide on the new owner\n";
      continue;
    }
    if (!router_.connected(slot)) continue;
    std::vector<redis::script_limit> limits;
    limits.push_back({probe_key(slot), &probe_params, 1, false});
    co_await run_decision(slot, decision_command(limits, false), false);
  }
}

std::string redis_backend::new_resets_mark() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::to_string(rng() >> 2);
}

net::awaitable<void> redis_backend::watch_resets() {
  // No limit's key: those hold a ':' after the prefix.
  const std::string key = settings_.load()->key_prefix + "resets";
  // In its own slot (cluster: one shard holds it for every gateway).
  const std::uint16_t slot = redis::key_slot(key);
  if (!router_.connected(slot)) co_return;
  std::vector<std::string> get;
  get.emplace_back("GET");
  get.push_back(key);
  auto [ec, reply] = co_await router_.command(slot, std::move(get));
  if (ec) co_return;  // decisions count failures; the next tick tries again
  // Absent ("") until the first reset, and again when it expires or the server lost
  // its keys (a restart, FLUSHALL): a change too.
  std::string mark;
  if (reply.type == redis::reply::kind::string) {
    mark = std::move(reply.text);
  } else if (reply.type != redis::reply::kind::nil) {
    co_return;
  }
  // The first reading too: a reset may have come before it (and after some answers).
  if (!resets_seen_ || *resets_seen_ != mark) forget_all();
  resets_seen_ = std::move(mark);
}

net::awaitable<std::optional<limit::decision>> redis_backend::peek(
    const limit::compiled_limit& limit, const limit::limit_params& params, std::string key) {
  // A calendar period's window by this gateway's clock (Redis reads its own time).
  const limit::limit_params at_now = limit::params_at(limit, params, system_now_us());
  std::vector<redis::script_limit> limits;
  limits.push_back({redis_key(limit.name, key), &at_now, 0, false});
  const std::uint16_t slot = slot_of(limit.name, key);
  auto values = co_await run_decision(slot, decision_command(limits, true), true);
  if (!values) co_return std::nullopt;
  limit::decision d;
  if (!redis::parse_decide_reply(*values, std::span(&d, 1))) co_return std::nullopt;
  co_return d;
}

net::awaitable<bool> redis_backend::reset(const limit::compiled_limit& limit, std::string key) {
  // Forgotten before (no local denial while the DEL is in flight) and after: an answer
  // to a request sent before the DEL completed is not learnt (Redis may have run it
  // first).
  const std::uint64_t id = cache_id(limit.name, key);
  if (cache_) cache_->forget(id, local_now());
  // The key starts over in Redis: what this gateway leased of it is gone with it.
  leases_->forget(id);
  std::vector<std::string> del;
  del.emplace_back("DEL");
  del.push_back(redis_key(limit.name, key));
  auto [ec, reply] = co_await router_.command(slot_of(limit.name, key), std::move(del));
  if (cache_) cache_->forget(id, local_now());
  const bool done = !ec && reply.type == redis::reply::kind::integer;
  if (done) {
    // Tells the other gateways' caches (watch_resets(), within a tick of their control
    // threads), whatever their local_denials setting: a new mark.
    std::vector<std::string> mark;
    mark.emplace_back("SET");
    mark.push_back(settings_.load()->key_prefix + "resets");
    const std::uint16_t mark_slot = redis::key_slot(mark.back());
    mark.push_back(new_resets_mark());
    mark.emplace_back("PX");
    mark.push_back(std::to_string(resets_mark_ttl_ms));
    co_await router_.command(mark_slot, std::move(mark));
  }
  co_return done;
}

storage_status redis_backend::status() const {
  // Degraded while any shard is: some requests follow storage.on_error.
  const bool degraded = degraded_shards_.load(std::memory_order_acquire) > 0;
  return {"redis", degraded, router_.connected() && !degraded,
          errors_.load(std::memory_order_relaxed)};
}

}  // namespace sluice::app
