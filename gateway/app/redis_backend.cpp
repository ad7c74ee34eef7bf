#include "app/redis_backend.hpp"

#include <boost/uuid/detail/sha1.hpp>

#include <cstdio>
#include <iostream>

#include "redis/decide_script.hpp"

namespace sluice::app {
namespace {

// Consecutive failed round trips after which Redis is considered down and skipped.
constexpr int failures_before_degraded = 3;

std::string sha1_hex(const std::string& text) {
  boost::uuids::detail::sha1 sha;
  sha.process_bytes(text.data(), text.size());
  boost::uuids::detail::sha1::digest_type digest;
  sha.get_digest(digest);
  char hex[41];
  for (int i = 0; i < 5; ++i) std::snprintf(hex + 8 * i, 9, "%08x", digest[i]);
  return std::string(hex, 40);
}

// Note: command vectors are built with push_back below, not braced lists: g++ 12
// rejects a braced list of strings inside a coroutine ("array used as initializer").
bool is_noscript(const redis::reply& r) {
  return r.type == redis::reply::kind::error && r.text.starts_with("NOSCRIPT");
}

}  // namespace

redis_backend::redis_backend(redis::client& client, limit::memory_store& local,
                             admin::metrics& metrics, const config::storage_config& storage)
    : client_(client), local_(local), metrics_(metrics), sha_(sha1_hex(redis::decide_script())) {
  configure(storage);
}

void redis_backend::configure(const config::storage_config& storage) {
  settings_.store(
      std::make_shared<const settings>(settings{storage.on_error, storage.redis.key_prefix}));
}

std::string redis_backend::redis_key(std::string_view limit_name, std::string_view key) const {
  std::string out = settings_.load()->key_prefix;
  out += limit_name;
  out += ':';
  out += key;
  return out;
}

bool redis_backend::decide_now(limit::evaluation& ev, store_verdict& verdict) {
  // Known down (or not connected at all): decide by on_error without a round trip.
  if (degraded_.load(std::memory_order_acquire) || !client_.connected()) {
    if (!degraded_.load(std::memory_order_relaxed)) failed("not connected");
    verdict = fallback(ev);
    return true;
  }
  return false;
}

net::awaitable<store_verdict> redis_backend::decide_async(limit::evaluation& ev) {
  const auto s = settings_.load();
  std::vector<redis::script_limit> limits;
  limits.reserve(ev.applied.size());
  for (std::size_t i = 0; i < ev.applied.size(); ++i) {
    const auto& a = ev.applied[i];
    limits.push_back(
        {redis_key(ev.limit_of(a).name, ev.key_of(a)), a.params, ev.checks[i].cost, a.shadow});
  }
  std::vector<std::string> args;
  args.reserve(3 + limits.size() * (1 + redis::decide_arg_fields));
  args.emplace_back("EVALSHA");
  args.push_back(sha_);
  redis::append_decide_args(limits, false, args);
  auto values = co_await run_script(std::move(args));
  if (!values) co_return fallback(ev);
  auto admitted = redis::parse_decide_reply(*values, ev.decisions);
  if (!admitted) {
    failed("malformed script reply");
    co_return fallback(ev);
  }
  // Headers report resets against the clock the decision used: Redis's.
  ev.now = redis::decide_reply_now(*values);
  co_return *admitted ? store_verdict::admitted : store_verdict::denied;
}

net::awaitable<std::optional<std::vector<std::int64_t>>> redis_backend::run_script(
    std::vector<std::string> args) {
  auto [ec, reply] = co_await client_.command(args);
  if (!ec && is_noscript(reply)) {
    // The server restarted or was flushed: send the script itself once, which also
    // caches it again for the next EVALSHA. The request does not fail.
    args[0] = "EVAL";
    args[1] = redis::decide_script();
    std::tie(ec, reply) = co_await client_.command(std::move(args));
  }
  if (ec) {
    failed(ec.message());
    co_return std::nullopt;
  }
  if (reply.type != redis::reply::kind::array) {
    failed(reply.type == redis::reply::kind::error ? reply.text : "unexpected reply type");
    co_return std::nullopt;
  }
  std::vector<std::int64_t> values;
  values.reserve(reply.elements.size());
  for (const auto& e : reply.elements) {
    if (e.type != redis::reply::kind::integer) {
      failed("non-integer in script reply");
      co_return std::nullopt;
    }
    values.push_back(e.integer);
  }
  succeeded();
  co_return values;
}

store_verdict redis_backend::fallback(limit::evaluation& ev) {
  switch (settings_.load()->on_error) {
    case config::storage_error_mode::local:
      return local_.decide(ev.checks, ev.now, ev.decisions) ? store_verdict::admitted
                                                            : store_verdict::denied;
    case config::storage_error_mode::allow:
      // Through without limits: nothing applied, so no rate-limit headers either.
      ev.applied.clear();
      ev.checks.clear();
      ev.decisions.clear();
      return store_verdict::admitted;
    case config::storage_error_mode::deny:
      return store_verdict::unavailable;
  }
  return store_verdict::unavailable;
}

void redis_backend::failed(std::string_view why) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  metrics_.storage_errors(true).Increment();
  const int failures = consecutive_failures_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (failures >= failures_before_degraded && !degraded_.exchange(true)) {
    metrics_.storage_degraded().Set(1);
    const auto mode = settings_.load()->on_error;
    std::cerr << "sluice: redis unavailable (" << why << "); storage.on_error="
              << (mode == config::storage_error_mode::local   ? "local"
                  : mode == config::storage_error_mode::allow ? "allow"
                                                              : "deny")
              << " until it answers again\n";
  }
}

void redis_backend::succeeded() {
  consecutive_failures_.store(0, std::memory_order_release);
  if (degraded_.exchange(false)) {
    metrics_.storage_degraded().Set(0);
    std::cerr << "sluice: redis reachable again; limits are shared again\n";
  }
}

net::awaitable<void> redis_backend::probe() {
  if (!degraded_.load(std::memory_order_acquire) || !client_.connected()) co_return;
  // A real decision, not a PING: a server that answers but cannot run or write the
  // script (a read-only replica after a failover, OOM) stays degraded instead of
  // flapping back every probe. One token per millisecond: always admitted, and the
  // key expires a second after the last probe. No limit's key: those hold a ':'
  // after the prefix. run_script() counts the outcome (succeeded() on success).
  static const limit::limit_params probe_params =
      limit::limit_params::make(limit::algorithm::token_bucket, 1, 1000, 1);
  std::vector<redis::script_limit> limits;
  limits.push_back({settings_.load()->key_prefix + "probe", &probe_params, 1, false});
  std::vector<std::string> args;
  args.emplace_back("EVALSHA");
  args.push_back(sha_);
  redis::append_decide_args(limits, false, args);
  co_await run_script(std::move(args));
}

net::awaitable<std::optional<limit::decision>> redis_backend::peek(
    const limit::compiled_limit& limit, const limit::limit_params& params, std::string key) {
  std::vector<redis::script_limit> limits;
  limits.push_back({redis_key(limit.name, key), &params, 0, false});
  std::vector<std::string> args;
  args.emplace_back("EVALSHA");
  args.push_back(sha_);
  redis::append_decide_args(limits, true, args);
  auto values = co_await run_script(std::move(args));
  if (!values) co_return std::nullopt;
  limit::decision d;
  if (!redis::parse_decide_reply(*values, std::span(&d, 1))) co_return std::nullopt;
  co_return d;
}

net::awaitable<bool> redis_backend::reset(const limit::compiled_limit& limit, std::string key) {
  std::vector<std::string> del;
  del.emplace_back("DEL");
  del.push_back(redis_key(limit.name, key));
  auto [ec, reply] = co_await client_.command(std::move(del));
  co_return !ec && reply.type == redis::reply::kind::integer;
}

storage_status redis_backend::status() const {
  const bool degraded = degraded_.load(std::memory_order_acquire);
  return {"redis", degraded, client_.connected() && !degraded,
          errors_.load(std::memory_order_relaxed)};
}

}  // namespace sluice::app
