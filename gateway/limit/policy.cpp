#include "limit/policy.hpp"

#include <algorithm>
#include <cctype>

#include "config/defaults.hpp"
#include "limit/shards.hpp"
#include "util/hash.hpp"
#include "util/json_text.hpp"

namespace sluice::limit {
namespace {

constexpr std::string_view default_route_name = "default";

limit_params params_of(const config::limit_def& def, const config::rate& r, std::int64_t burst) {
  limit_params p = limit_params::make(def.algo, r.count, r.period, burst, def.delay);
  p.calendar = config::counted_calendar_unit(r, def.calendar.has_value());
  return p;
}

bool follows_calendar(const compiled_limit& l) {
  if (!l.tier_aware) return l.params.calendar != calendar_unit::none;
  return std::any_of(l.per_tier.begin(), l.per_tier.end(),
                     [](const auto& p) { return p && p->calendar != calendar_unit::none; });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Folding (case, matrix parameters) maps several spellings onto one route.
bool folds(const path_options& options) {
  return options.case_insensitive || options.strip_matrix_params;
}

path_options unfolded(path_options options) {
  options.case_insensitive = false;
  options.strip_matrix_params = false;
  return options;
}

// Whether folding may have changed `raw` (an upper-case hex digit counts: cheap, rare).
bool may_fold(const path_options& options, std::string_view raw) {
  if (options.strip_matrix_params && raw.find(';') != std::string_view::npos) return true;
  return options.case_insensitive &&
         std::any_of(raw.begin(), raw.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

compiled_access_list compile_access(const config::access_list& list) {
  compiled_access_list out;
  out.ips = list.ips;
  out.api_keys.insert(list.api_keys.begin(), list.api_keys.end());
  out.users.insert(list.users.begin(), list.users.end());
  return out;
}

}  // namespace

const limit_params* compiled_limit::params_for(int tier) const {
  if (!tier_aware) return &params;
  if (tier < 0 || tier >= static_cast<int>(per_tier.size()) || !per_tier[tier]) return nullptr;
  return &*per_tier[tier];
}

const limit_params* compiled_limit::shard_params_for(int tier, int shard) const {
  if (shards <= 1) return params_for(tier);
  if (!tier_aware) return &shard_params[shard];
  if (tier < 0 || tier >= static_cast<int>(tier_shards.size()) || !tier_shards[tier][shard]) {
    return nullptr;
  }
  return &*tier_shards[tier][shard];
}

bool compiled_limit::applies_to_method(std::string_view method) const {
  return methods.empty() || std::find(methods.begin(), methods.end(), method) != methods.end();
}

policy::policy(const config::loaded_config& cfg, std::uint64_t hash_seed)
    : identity_(cfg.server.identity), headers_(cfg.server.headers), hash_seed_(hash_seed) {
  const auto& pol = cfg.policy;
  // Header lookups on the request path use lower-case names.
  identity_.api_key_header = lower(identity_.api_key_header);
  identity_.user_header = lower(identity_.user_header);
  identity_.tier_header = lower(identity_.tier_header);
  if (identity_.jwt) {
    token_rules_ =
        jwt_rules{identity_.jwt->issuers, identity_.jwt->audiences, identity_.jwt->leeway_seconds};
  }

  for (const auto& t : pol.tiers) tier_names_.push_back(t.name);
  default_tier_ = pol.default_tier.empty() ? no_tier : find_tier(pol.default_tier);

  for (const auto& def : pol.limits) {
    compiled_limit l;
    l.name = def.name;
    append_json_chars(l.name_json, l.name);
    l.key = def.key;
    l.algo = def.algo;
    l.tier_aware = def.tier_aware;
    l.shadow = def.shadow;
    l.fallback_ip = def.fallback_ip;
    l.scales = def.adaptive.has_value() || def.penalty.has_value();
    l.count = def.count;
    l.soft = def.soft;
    l.penalty = def.penalty;
    l.lease = def.lease;
    l.tenant_rate = def.tenant_rate;
    l.response_cost = def.response_cost;
    l.configured_burst = def.burst;
    l.adaptive = def.adaptive;
    l.methods = def.methods;
    if (def.tier_aware) {
      for (const auto& t : pol.tiers) {
        if (t.unlimited) {
          l.per_tier.emplace_back(std::nullopt);
        } else {
          l.per_tier.emplace_back(params_of(def, t.rate, t.burst));
        }
      }
    } else {
      l.params = params_of(def, def.rate, def.burst);
    }
    if (follows_calendar(l)) {
      // Without `calendar:`, UTC (the null zone: no tz database lookup per request).
      const config::calendar_def c = def.calendar.value_or(config::calendar_def{});
      l.calendar = calendar_of(c.time_zone, c.anchor_day);
    }
    l.shards = def.shards;
    if (l.shards > 1 && def.key.size() == 1 && def.key[0].kind == config::key_part_kind::global) {
      constexpr std::string_view global_text = "global";  // the key text engine.cpp builds
      for (int i = 0; i < l.shards; ++i) {
        std::string text(global_text);
        append_shard_suffix(text, 0, i, l.shards);
        l.global_suffixes.push_back(text.substr(global_text.size()));
      }
    }
    if (l.shards > 1 && !def.tier_aware) {
      for (int i = 0; i < l.shards; ++i)
        l.shard_params.push_back(shard_params(l.params, l.shards, i));
    }
    if (l.shards > 1 && def.tier_aware) {
      for (const auto& whole : l.per_tier) {
        auto& split = l.tier_shards.emplace_back();
        for (int i = 0; i < l.shards; ++i) {
          split.push_back(whole ? std::optional(shard_params(*whole, l.shards, i)) : std::nullopt);
        }
      }
    }
    std::string identity =
        def.name + '\x1f' + config::key_text(def.key) + '\x1f' + std::string(to_string(def.algo));
    if (l.shards > 1) identity += "\x1fshards=" + std::to_string(l.shards);
    l.state_seed = hash64(identity, hash_seed);
    finishes_exchanges_ =
        finishes_exchanges_ || holds_in_flight(l.algo) || l.response_cost.has_value();
    limits_.push_back(std::move(l));
  }

  std::vector<route_match> matches;
  for (const auto& def : pol.routes) {
    matches.push_back(route_match{def.methods, def.pattern});
    routes_.push_back(compiled_route{def.name, def.cost, def.limits_off, {}});
  }
  routes_.push_back(
      compiled_route{std::string(default_route_name), config::defaults::route_cost, false, {}});
  routing_ = pol.routing;
  matcher_ = route_matcher(matches, routing_);
  if (folds(routing_)) {
    unfolded_matcher_ = route_matcher(matches, unfolded(routing_));
    for (const auto& def : pol.routes) {
      off_patterns_fold_ =
          off_patterns_fold_ || (def.limits_off && may_fold(routing_, def.pattern));
    }
  }

  for (std::size_t li = 0; li < pol.limits.size(); ++li) {
    const auto& only = pol.limits[li].routes;
    for (auto& r : routes_) {
      if (only.empty() || std::find(only.begin(), only.end(), r.name) != only.end()) {
        r.limits.push_back(static_cast<std::uint16_t>(li));
      }
    }
  }

  for (const auto& k : pol.api_keys) {
    api_keys_.emplace(k.key, api_key_info{k.tier.empty() ? no_tier : find_tier(k.tier), k.user});
  }
  allow_ = compile_access(pol.allow);
  deny_ = compile_access(pol.deny);
}

path_status policy::route_path(std::string_view method, std::string_view raw_path,
                               std::string& path, std::string& scratch, int& route) const {
  route = -1;
  const path_status status = normalize_path(raw_path, routing_, path);
  if (status != path_status::ok) return status;
  const int default_route = static_cast<int>(routes_.size()) - 1;
  int index = matcher_.match(method, path);
  // When neither the path nor an off route's pattern has anything to fold, the unfolded
  // reading is the folded one: skip it.
  if (index >= 0 && routes_[index].bypass && folds(routing_) &&
      (off_patterns_fold_ || may_fold(routing_, raw_path))) {
    // "/STATIC/x" or "/static;x/login" must not bypass limits on an upstream that does
    // not fold: the unfolded spelling decides unless it bypasses too. The same checks
    // ran on the same bytes, so this normalization succeeds.
    normalize_path(raw_path, unfolded(routing_), scratch);
    const int unfolded_index = unfolded_matcher_.match(method, scratch);
    if (unfolded_index < 0 || !routes_[unfolded_index].bypass) index = unfolded_index;
  }
  route = index < 0 ? default_route : index;
  return path_status::ok;
}

int policy::find_limit(std::string_view name) const {
  for (std::size_t i = 0; i < limits_.size(); ++i) {
    if (limits_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int policy::find_tier(std::string_view name) const {
  for (std::size_t i = 0; i < tier_names_.size(); ++i) {
    if (tier_names_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

const api_key_info* policy::find_api_key(std::string_view key) const {
  auto it = api_keys_.find(key);
  return it == api_keys_.end() ? nullptr : &it->second;
}

}  // namespace sluice::limit
