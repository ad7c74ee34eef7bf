#include "store/shared_load_factors.hpp"

#include <charconv>
#include <cmath>
#include <iostream>
#include <random>

namespace sluice::app {
namespace {

// KEYS[1] the limit's hash; ARGV[1] this gateway's id, ARGV[2] its factor, ARGV[3] how
// long it stays fresh (ms). Returns the other gateways' fresh factors.
constexpr const char* publish_script = R"(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (now + tonumber(ARGV[3])))
local all = redis.call('HGETALL', KEYS[1])
local others = {}
for i = 1, #all, 2 do
  local factor, expiry = string.match(all[i + 1], '^(%S+) (%d+)$')
  if not expiry or tonumber(expiry) <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] ~= ARGV[1] then
    others[#others + 1] = factor
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return others)";

std::string random_id() {
  std::random_device rd;
  const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

}  // namespace

shared_load_factors::shared_load_factors(limit::load_factors& factors, redis::router* router,
                                         std::string key_prefix)
    : factors_(factors), router_(router), id_(random_id()) {
  set_key_prefix(std::move(key_prefix));
}

net::awaitable<void> shared_load_factors::tick(const limit::policy& pol, admin::metrics& metrics) {
  auto readings = factors_.tick(pol.limits());
  if (router_ != nullptr) {
    const auto prefix = key_prefix_.load();
    for (auto& r : readings) {
      const std::string key = *prefix + "adaptive:" + r.limit;
      const std::uint16_t slot = redis::key_slot(key);
      // Unreachable, or a failed call: the fleet's values cannot be known fresh, so this
      // gateway's own factor applies (set_fleet_factor(1.0)) until Redis answers again.
      double fleet = 1.0;
      if (!router_->connected(slot)) {
        factors_.set_fleet_factor(r.limit, fleet);
        r.effective = factors_.effective(r.limit);
        continue;
      }
      char own[32];
      std::snprintf(own, sizeof own, "%.4f", r.factor);
      std::vector<std::string> args{
          "EVAL", publish_script, "1", key, id_, own, std::to_string(fresh_for / 1000)};
      auto [ec, reply] = co_await router_->command(slot, std::move(args));
      const bool answered = !ec && reply.type == redis::reply::kind::array;
      for (std::size_t i = 0; answered && i < reply.elements.size(); ++i) {
        const std::string& text = reply.elements[i].text;
        double f = 0;
        const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), f);
        if (err == std::errc{} && std::isfinite(f) && f > 0) fleet = std::min(fleet, f);
      }
      factors_.set_fleet_factor(r.limit, fleet);
      r.effective = factors_.effective(r.limit);
    }
  }
  for (const auto& r : readings) {
    metrics.adaptive_factor(r.limit, r.effective);
    if (r.logged_change) {
      std::cerr << "sluice: adaptive: limit '" << r.limit << "' now at factor " << r.effective
                << " (own " << r.factor << ")\n";
    }
  }
  std::lock_guard lock(readings_mutex_);
  readings_ = std::move(readings);
}

std::vector<limit::load_factors::reading> shared_load_factors::readings() const {
  std::lock_guard lock(readings_mutex_);
  return readings_;
}

}  // namespace sluice::app
