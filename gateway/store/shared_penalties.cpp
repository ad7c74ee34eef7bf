#include "store/shared_penalties.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iostream>
#include <unordered_set>

#include "limit/engine.hpp"
#include "util/mask.hpp"

namespace sluice::app {
namespace {

// KEYS[1] the set; ARGV[1] now (ms), ARGV[2] the most members kept, then score, member
// pairs: adds each (a later end wins), drops ended penalties and the excess (the ones
// ending first).
constexpr const char* publish_script = R"(for i = 3, #ARGV, 2 do
  local old = redis.call('ZSCORE', KEYS[1], ARGV[i + 1])
  if not old or tonumber(old) < tonumber(ARGV[i]) then
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1) end
return 0)";

bool has_api_key_part(const limit::compiled_limit& l) {
  return std::any_of(l.key.begin(), l.key.end(), [](const config::key_part& p) {
    return p.kind == config::key_part_kind::api_key;
  });
}

// The key as a log line shows it: API keys never in clear.
std::string shown_key(const limit::policy& pol, const limit::penalty_box::boxed& b) {
  const int index = pol.find_limit(b.limit);
  if (index >= 0 && has_api_key_part(pol.limits()[index])) return mask_secret_distinct(b.key);
  return b.key;
}

void log_boxed(const limit::policy& pol, const std::vector<limit::penalty_box::boxed>& fresh,
               std::uint64_t dropped, limit::micros now) {
  std::size_t lines = 0;
  for (const auto& b : fresh) {
    if (lines == shared_penalties::max_log_lines) break;
    ++lines;
    std::cerr << "sluice: penalty box: key '" << shown_key(pol, b) << "' of limit '" << b.limit
              << "' boxed at factor " << b.factor << " for "
              << (b.expires_at - now + limit::micros_per_second - 1) / limit::micros_per_second
              << " s\n";
  }
  const std::uint64_t more = fresh.size() - lines + dropped;
  if (more > 0) std::cerr << "sluice: penalty box: " << more << " more key(s) boxed\n";
}

}  // namespace

std::string penalty_member(std::string_view limit, std::string_view key) {
  std::string out(limit);
  out += '\0';
  out += key;
  return out;
}

bool parse_penalty_member(std::string_view member, std::string_view& limit, std::string_view& key) {
  const auto nul = member.find('\0');
  if (nul == std::string_view::npos || nul == 0) return false;
  limit = member.substr(0, nul);
  key = member.substr(nul + 1);
  return key.size() <= limit::penalty_box::max_key_bytes;
}

shared_penalties::shared_penalties(limit::penalty_box& box, redis::router* router,
                                   std::string key_prefix)
    : box_(box), router_(router) {
  set_key_prefix(std::move(key_prefix));
}

net::awaitable<void> shared_penalties::sync(const limit::policy& pol,
                                            const admin::route_metrics& rm, limit::micros now) {
  std::uint64_t dropped = 0;
  const auto fresh = box_.take_new(dropped);
  if (!fresh.empty() || dropped > 0) log_boxed(pol, fresh, dropped, now);

  const std::string key = set_key();
  const std::uint16_t slot = redis::key_slot(key);
  const std::int64_t now_ms = now / 1000;
  if (router_ != nullptr && router_->connected(slot)) {
    // Publish.
    std::vector<std::string> args{"EVAL", publish_script,         "1",
                                  key,    std::to_string(now_ms), std::to_string(max_shared)};
    std::vector<std::uint64_t> published;
    for (const auto& b : fresh) {
      if (!b.whole_key) continue;
      args.push_back(std::to_string((b.expires_at + 999) / 1000));
      args.push_back(penalty_member(b.limit, b.key));
      published.push_back(b.key_hash);
    }
    if (!published.empty()) {
      auto [ec, reply] = co_await router_->command(slot, std::move(args));
      if (!ec && !reply.is_error()) {
        for (auto h : published) box_.mark_shared(h);
      }
    }
    // Learn.
    const std::uint64_t removals = removals_;
    std::vector<std::string> read{
        "ZRANGEBYSCORE", key, "(" + std::to_string(now_ms), "+inf", "WITHSCORES",
        "LIMIT",         "0", std::to_string(max_shared)};
    auto [ec, reply] = co_await router_->command(slot, std::move(read));
    if (!ec && reply.type == redis::reply::kind::array && removals == removals_) {
      std::unordered_set<std::uint64_t> present;
      for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
        std::string_view name, text;
        if (!parse_penalty_member(reply.elements[i].text, name, text)) continue;
        double score = 0;
        const std::string& s = reply.elements[i + 1].text;
        if (std::from_chars(s.data(), s.data() + s.size(), score).ec != std::errc{} ||
            !std::isfinite(score)) {
          continue;
        }
        const int index = pol.find_limit(name);
        if (index < 0) continue;
        const auto& l = pol.limits()[index];
        if (!l.penalty) continue;
        const std::uint64_t h = limit::state_key(l, text);
        present.insert(h);
        box_.learn(l, h, text, static_cast<limit::micros>(score) * 1000, now);
      }
      // Removed elsewhere (or trimmed): a complete read no longer holds it.
      if (reply.elements.size() / 2 < max_shared) {
        for (const auto& b : box_.list(now, box_.capacity())) {
          if (b.shared && !present.contains(b.key_hash)) box_.remove(b.key_hash, now);
        }
      }
    }
  }

  const auto counts = box_.counts(now);
  for (std::size_t i = 0; i < pol.limits().size(); ++i) {
    const auto& l = pol.limits()[i];
    if (!l.penalty) continue;
    std::uint64_t n = 0;
    for (const auto& [name, count] : counts) {
      if (name == l.name) n = count;
    }
    rm.penalized_keys(static_cast<int>(i), static_cast<double>(n));
  }
}

net::awaitable<shared_penalties::removal> shared_penalties::remove(
    const limit::compiled_limit& limit, std::string key, limit::micros now) {
  const std::uint64_t h = limit::state_key(limit, key);
  bool boxed = false;
  for (const auto& b : box_.list(now, box_.capacity())) boxed = boxed || b.key_hash == h;
  ++removals_;
  if (router_ != nullptr) {
    std::vector<std::string> args{"ZREM", set_key(), penalty_member(limit.name, key)};
    const std::uint16_t slot = redis::key_slot(args[1]);
    auto [ec, reply] = co_await router_->command(slot, std::move(args));
    if (ec || reply.is_error()) co_return removal::unavailable;
    boxed = boxed || reply.integer > 0;
  }
  ++removals_;
  co_return box_.remove(h, now) || boxed ? removal::removed : removal::not_boxed;
}

}  // namespace sluice::app
