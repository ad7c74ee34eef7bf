// Pass 2 (SPEC 3 "--check-config rejects"): what the policies mean once every file
// is read: references between items, and numbers no request or algorithm can use.
#include <algorithm>

#include "config/limit_params.hpp"
#include "config/loader_internal.hpp"
#include "config/units.hpp"

namespace sluice::config::detail {

std::string numbers_problem(limit::algorithm algo, const rate& r, std::int64_t burst,
                            limit::micros delay) {
  const std::string rate_text = units::format_rate(r);
  if (algo == limit::algorithm::sliding_log && r.count > limit::max_sliding_log_entries) {
    return "sliding_log keeps one timestamp per admitted request, so N must be <= " +
           std::to_string(limit::max_sliding_log_entries) + " (got " + rate_text +
           "); use sliding_window for larger limits";
  }
  const auto params = limit::limit_params::make(algo, r.count, r.period, burst, delay);
  if (params.exact()) return "";
  switch (algo) {
    case limit::algorithm::token_bucket:
    case limit::algorithm::leaky_bucket:
      return "rate " + rate_text + " with burst " + std::to_string(params.burst) +
             (delay > 0
                  ? " and delay " + units::format_duration(std::chrono::milliseconds(delay / 1000))
                  : std::string()) +
             " is too large to compute exactly (refilling the bucket would take more than 2^53 "
             "fractional microseconds); lower the burst" +
             (delay > 0 ? ", the delay" : "") + " or use a rate with a shorter period";
    case limit::algorithm::sliding_window:
      return "rate " + rate_text +
             " is too large to compute exactly with sliding_window (N must stay below 2^31 and "
             "N x window in milliseconds below 2^52); lower N or the window";
    case limit::algorithm::fixed_window:
    case limit::algorithm::sliding_log:
    case limit::algorithm::concurrency:
      break;
  }
  return "rate " + rate_text + " is too large to compute exactly; lower N";
}

namespace {

template <class Range, class Name>
std::string list_names(const Range& items, Name name_of, std::string_view none) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + std::string(name_of(item));
  return out.empty() ? std::string(none) : out;
}

// Parts every request has, so a limit keyed on them applies to every request.
bool always_present(const key_part& part) {
  switch (part.kind) {
    case key_part_kind::global:
    case key_part_kind::ip:
    case key_part_kind::client:
    case key_part_kind::route:
    case key_part_kind::method:
    case key_part_kind::path:
      return true;
    case key_part_kind::api_key:
    case key_part_kind::user:
    case key_part_kind::header:
    case key_part_kind::client_cert:
    case key_part_kind::jwt:
      return false;
  }
  return false;
}

// True when `limit` is enforced on every request of route `route` (so a cost above
// its capacity can never pass).
bool always_applies(const limit_def& limit, const std::string& route) {
  if (limit.shadow || limit.count == count_mode::requests || !limit.methods.empty()) return false;
  if (!limit.routes.empty() &&
      std::find(limit.routes.begin(), limit.routes.end(), route) == limit.routes.end()) {
    return false;
  }
  return limit.fallback_ip || std::all_of(limit.key.begin(), limit.key.end(), always_present);
}

// The capacity of the smallest sub-key (the whole limit when shards == 1).
std::int64_t capacity(limit::algorithm algo, const rate& r, std::int64_t burst, int shards) {
  const std::int64_t whole = limit::is_bucket(algo) && burst > 0 ? burst : r.count;
  return limit::shard_share(whole, shards, shards - 1);
}

// Why `shards` cannot split (algorithm, rate, burst, delay), or "": every sub-key needs
// at least 1 of the rate count and of the burst, and numbers each backend computes exactly.
std::string shards_problem(limit::algorithm algo, const rate& r, std::int64_t burst,
                           limit::micros delay, int shards) {
  if (shards <= 1) return "";
  const std::string n = std::to_string(shards);
  if (r.count < shards) {
    return "shards: " + n + " splits rate " + units::format_rate(r) + " over " + n +
           " sub-keys, less than 1 per sub-key; use at most " + std::to_string(r.count) +
           (r.count == 1 ? " shard" : " shards") + " or a higher rate";
  }
  const std::int64_t whole_burst = burst > 0 ? burst : r.count;
  if (limit::is_bucket(algo) && whole_burst < shards) {
    return "shards: " + n + " splits burst " + std::to_string(whole_burst) + " over " + n +
           " sub-keys, less than 1 per sub-key; use at most " + std::to_string(whole_burst) +
           (whole_burst == 1 ? " shard" : " shards") + " or a higher burst";
  }
  for (int i : {0, shards - 1}) {  // the largest and the smallest share
    const rate part{limit::shard_share(r.count, shards, i), r.period};
    const std::int64_t part_burst =
        limit::is_bucket(algo) ? limit::shard_share(whole_burst, shards, i) : 0;
    auto problem = numbers_problem(algo, part, part_burst, delay);
    if (!problem.empty()) return "sub-key " + std::to_string(i) + " of " + n + ": " + problem;
  }
  return "";
}

// Why `soft: N` leaves no request between it and a hard capacity of `cap`, or "".
std::string soft_problem(const soft_def& soft, std::int64_t cap, const std::string& which) {
  if (soft.basis_points > 0 || soft.count < cap) return "";
  return "soft: " + std::to_string(soft.count) + " is not below the capacity of " + which + " (" +
         std::to_string(cap) +
         "), so no request could be degraded; use a lower count or a share such as 80%";
}

// Why `r` cannot be counted the way the limit's calendar periods ask (config/calendar.hpp),
// or "": a week or month is a quota per period (fixed_window only), `calendar:` needs a
// calendar unit, and an anchor day means a weekday for weeks and nothing for days.
std::string calendar_problem(const limit_def& limit, const rate& r) {
  const std::string rate_text = units::format_rate(r);
  const bool long_period =
      r.calendar == limit::calendar_unit::week || r.calendar == limit::calendar_unit::month;
  if (long_period && limit.algo != limit::algorithm::fixed_window) {
    return "rate " + rate_text + " is a quota per calendar " +
           std::string(limit::to_string(r.calendar)) +
           ": it needs algorithm: fixed_window (this limit uses " +
           std::string(limit::to_string(limit.algo)) + ")";
  }
  if (!limit.calendar) return "";
  if (r.calendar == limit::calendar_unit::none) {
    return "calendar: counts per calendar day, week or month, so the rate must be N/day, "
           "N/week or N/month (got " +
           rate_text + ")";
  }
  if (limit.calendar->anchor_set && r.calendar == limit::calendar_unit::day) {
    return "anchor_day applies to N/week and N/month (a day starts at local midnight); "
           "remove it or use another rate than " +
           rate_text;
  }
  if (limit.calendar->anchor_set && r.calendar == limit::calendar_unit::week &&
      limit.calendar->anchor_day > 7) {
    return "with rate " + rate_text + ", anchor_day is the weekday a week starts: 1 (Monday) to " +
           "7 (Sunday), got " + std::to_string(limit.calendar->anchor_day);
  }
  return "";
}

// Why a lease of `max_tokens` does not fit below a capacity of `cap`, or "".
// algorithm: concurrency's rules (issue 14): `max`, no rate, and none of the options
// that reshape a rate (their numbers are a rate's, or they cannot give a slot back).
template <class Add>
void check_in_flight(const limit_def& limit, const limit_info& info, Add&& add) {
  if (!info.max_at) {
    add(info.at, info.path,
        "missing required key 'max' (algorithm: concurrency allows at most max requests of a "
        "key in flight at once, e.g. max: 10)");
  }
  if (info.rate_at) {
    add(*info.rate_at, info.path + ".rate",
        "algorithm: concurrency counts requests in flight, not a rate; remove 'rate' (max: N "
        "sets how many)");
  }
  const auto refuse = [&](const std::optional<source_location>& at, std::string_view option,
                          std::string_view why) {
    if (!at) return;
    add(*at, info.path + "." + std::string(option),
        std::string(option) + " cannot be combined with algorithm: concurrency (" +
            std::string(why) + ")");
  };
  refuse(info.tier_at && limit.tier_aware ? info.tier_at : std::nullopt, "tier",
         "tiers carry rates; a concurrency limit takes one max for every client");
  refuse(limit.shards > 1 ? info.shards_at : std::nullopt, "shards",
         "a slot must go back to the sub-key that holds it");
  refuse(info.burst_at, "burst", "it sizes a bucket");
  refuse(info.delay_at, "delay", "it shapes a leaky_bucket");
  refuse(info.soft_at, "soft", "it degrades by a rate's spent share");
  refuse(info.penalty_at, "penalty", "it scales a rate");
  refuse(info.adaptive_at, "adaptive", "it scales a rate");
  refuse(info.calendar_at, "calendar", "it counts periods of a quota");
  refuse(info.tenant_rate_at, "tenant_rate", "it takes N for a rate");
  refuse(info.response_cost_at, "cost", "a request holds one slot whatever it costs");
}

// A limit's `cost:` (issue 14): an algorithm whose settle is exact, no lease (leased units
// are spent locally, past any settle), a cost counted in units (not count: requests), and
// a reserve that fits the smallest capacity the limit has.
template <class Add>
void check_response_cost(const limit_def& limit, const limit_info& info,
                         const std::vector<tier_def>& tiers, Add&& add) {
  const std::string field = info.path + ".cost";
  const source_location& at = *info.response_cost_at;
  const bool exact = limit.algo == limit::algorithm::token_bucket ||
                     limit.algo == limit::algorithm::fixed_window ||
                     (limit.algo == limit::algorithm::leaky_bucket && limit.delay == 0);
  if (!exact) {
    add(at, field,
        "a cost from the response settles token_bucket, fixed_window and leaky_bucket without "
        "delay exactly (this limit uses " +
            std::string(limit::to_string(limit.algo)) +
            (limit.algo == limit::algorithm::leaky_bucket ? " with delay" : "") + ")");
    return;
  }
  if (limit.lease) {
    add(at, field,
        "a cost from the response cannot be combined with lease (leased units are spent "
        "without a round trip, so the settle could not follow them)");
    return;
  }
  if (limit.count == count_mode::requests) {
    add(at, field,
        "a cost from the response counts units; remove 'count: requests' (which charges 1 "
        "per request)");
    return;
  }
  const std::int64_t reserve = limit.response_cost->reserve.value_or(0);
  const auto too_large = [&](std::int64_t cap, const std::string& which) {
    if (reserve > cap) {
      add(at, field + ".reserve",
          "reserve " + std::to_string(reserve) + " is larger than the capacity of limit '" +
              limit.name + "'" + which + " (" + std::to_string(cap) +
              "), so no request could pass");
    }
  };
  if (!limit.tier_aware && info.rate_at && limit.rate.count >= 1) {
    too_large(capacity(limit.algo, limit.rate, limit.burst, limit.shards), "");
  }
  for (const tier_def& tier : tiers) {
    if (!limit.tier_aware || tier.unlimited || tier.rate.count < 1) continue;
    too_large(capacity(limit.algo, tier.rate, tier.burst, limit.shards),
              " for tier '" + tier.name + "'");
  }
}

std::string lease_problem(std::int64_t max_tokens, std::int64_t cap, const std::string& which) {
  if (max_tokens < cap) return "";
  return "max_tokens " + std::to_string(max_tokens) + " is not below the capacity of " + which +
         " (" + std::to_string(cap) + "); a lease must leave part of the budget to the others";
}

}  // namespace

void check_policies(const policy_state& st, std::vector<config_error>& errors) {
  const auto& policy = st.policy;
  const auto add = [&](const source_location& at, std::string field, std::string message) {
    errors.push_back({at, std::move(field), std::move(message)});
  };
  const auto find_tier = [&](const std::string& name) {
    return std::find_if(policy.tiers.begin(), policy.tiers.end(),
                        [&](const tier_def& t) { return t.name == name; });
  };
  const std::string tier_names = list_names(
      policy.tiers, [](const tier_def& t) { return t.name; }, "");
  const auto unknown_tier = [&](const std::string& name) {
    return "unknown tier '" + name + "' (" +
           (tier_names.empty() ? "no tiers are defined" : "defined tiers: " + tier_names) + ")";
  };

  if (!policy.default_tier.empty() && find_tier(policy.default_tier) == policy.tiers.end()) {
    add(*st.default_tier_at, "clients.default_tier", unknown_tier(policy.default_tier));
  }
  for (std::size_t i = 0; i < policy.api_keys.size(); ++i) {
    const auto& key = policy.api_keys[i];
    if (!key.tier.empty() && find_tier(key.tier) == policy.tiers.end()) {
      add(*st.api_keys[i].tier_at, st.api_keys[i].path + ".tier", unknown_tier(key.tier));
    }
  }

  const std::string route_names = list_names(
      policy.routes, [](const route_def& r) { return r.name; }, "");
  for (std::size_t i = 0; i < policy.limits.size(); ++i) {
    const limit_def& limit = policy.limits[i];
    const limit_info& info = st.limits[i];

    for (std::size_t j = 0; j < limit.routes.size() && j < info.route_entries.size(); ++j) {
      const std::string& name = limit.routes[j];
      const bool known =
          name == "default" || std::any_of(policy.routes.begin(), policy.routes.end(),
                                           [&](const route_def& r) { return r.name == name; });
      if (!known) {
        add(info.route_entries[j].at, info.route_entries[j].path,
            "unknown route '" + name +
                "' (defined routes: " + (route_names.empty() ? "" : route_names + ", ") +
                "default for requests that match no route)");
      }
    }

    if (info.algorithm_ok && limit.algo == limit::algorithm::concurrency) {
      check_in_flight(limit, info, add);
      continue;
    }
    if (info.max_at) {
      add(*info.max_at, info.path + ".max",
          "max applies only to algorithm: concurrency (requests in flight at once); this limit "
          "uses " +
              std::string(limit::to_string(limit.algo)) + ", which takes rate");
    }

    if (info.tier_ok && limit.tier_aware) {
      if (policy.tiers.empty()) {
        add(*info.tier_at, info.path + ".tier",
            "tier: true takes rate and burst from the client's tier, but no tiers are defined");
      }
      if (info.rate_at) {
        add(*info.rate_at, info.path + ".rate",
            "tier: true takes the rate from the client's tier; remove 'rate'");
      }
      if (info.burst_at) {
        add(*info.burst_at, info.path + ".burst",
            "tier: true takes the burst from the client's tier; remove 'burst'");
      }
    } else if (info.tier_ok && !info.rate_at) {
      add(info.at, info.path,
          "missing required key 'rate' (or 'tier: true' to take it from the client's tier)");
    }

    if (info.algorithm_ok && info.delay_at && limit.algo != limit::algorithm::leaky_bucket) {
      add(*info.delay_at, info.path + ".delay",
          "delay applies only to leaky_bucket (this limit uses " +
              std::string(limit::to_string(limit.algo)) + ")");
    }
    if (info.algorithm_ok && info.burst_at && !limit.tier_aware && !limit::is_bucket(limit.algo)) {
      add(*info.burst_at, info.path + ".burst",
          "burst applies only to token_bucket and leaky_bucket (" +
              std::string(limit::to_string(limit.algo)) + " allows N per window)");
    }

    if (!info.complete()) continue;
    if (info.calendar_at && limit.algo != limit::algorithm::fixed_window) {
      add(*info.calendar_at, info.path + ".calendar",
          "calendar: counts a quota per calendar period, which needs algorithm: fixed_window "
          "(this limit uses " +
              std::string(limit::to_string(limit.algo)) + ")");
    } else {
      bool counts_periods = limit.calendar.has_value();
      const auto check_calendar = [&](const rate& r, const source_location& at,
                                      const std::string& field, const std::string& prefix) {
        counts_periods = counts_periods || r.calendar == limit::calendar_unit::week ||
                         r.calendar == limit::calendar_unit::month;
        auto problem = calendar_problem(limit, r);
        if (problem.empty()) return;
        // An anchor that does not fit the unit is the anchor's error.
        const bool anchor = info.anchor_at && problem.find("anchor_day") != std::string::npos;
        add(anchor ? *info.anchor_at : at, anchor ? info.path + ".calendar.anchor_day" : field,
            prefix + problem);
      };
      if (!limit.tier_aware && info.rate_at) {
        check_calendar(limit.rate, *info.rate_at, info.path + ".rate", "");
      }
      for (const tier_def& tier : policy.tiers) {
        if (!limit.tier_aware || !info.tier_at || tier.unlimited || tier.rate.count < 1) continue;
        check_calendar(tier.rate, *info.tier_at, info.path + ".tier", "tier '" + tier.name + "': ");
      }
      if (counts_periods && info.lease_at && limit.lease) {
        add(limit.lease->where, info.path + ".lease",
            "a lease cannot serve a quota per calendar period (its windows move with the "
            "calendar, so unspent leased units could not be given back exactly); remove the "
            "lease");
      }
    }
    if (info.response_cost_at && limit.response_cost) {
      check_response_cost(limit, info, policy.tiers, add);
    }
    if (info.tenant_rate_at && limit.tenant_rate) {
      const std::string field = info.path + ".tenant_rate";
      if (limit.tier_aware) {
        add(*info.tenant_rate_at, field,
            "tenant_rate takes N from a claim or header, tier: true from the client's tier; "
            "use one of them");
      } else if (limit.shards > 1 || limit.lease) {
        add(*info.tenant_rate_at, field,
            std::string("tenant_rate cannot be combined with ") +
                (limit.shards > 1 ? "shards" : "lease") +
                " (their shares are worked out from the configured rate)");
      } else if (info.rate_at && limit.rate.count >= 1) {
        // The largest number a tenant can get must run exactly, as the rate itself must.
        const rate top{limit.tenant_rate->max, limit.rate.period, limit.rate.calendar};
        const std::int64_t burst = limit::tenant_burst(limit.burst, limit.rate.count, top.count);
        auto problem = numbers_problem(limit.algo, top, burst, limit.delay);
        if (!problem.empty()) add(*info.tenant_rate_at, field + ".max", "max: " + problem);
      }
    }
    if (!limit.tier_aware && info.rate_at) {
      auto problem = numbers_problem(limit.algo, limit.rate, limit.burst, limit.delay);
      if (!problem.empty()) add(*info.rate_at, info.path + ".rate", problem);
    }
    if (limit.tier_aware && info.tier_at) {
      for (const tier_def& tier : policy.tiers) {
        if (tier.unlimited || tier.rate.count < 1) continue;
        auto problem = numbers_problem(limit.algo, tier.rate, tier.burst, limit.delay);
        if (!problem.empty()) {
          add(*info.tier_at, info.path + ".tier", "tier '" + tier.name + "': " + problem);
        }
      }
    }
    if (info.soft_at && limit.soft) {
      // A count is compared with what one key (a sharded limit: its smallest sub-key) holds.
      const std::string which =
          "limit '" + limit.name + "'" +
          (limit.shards > 1 ? " split over " + std::to_string(limit.shards) + " sub-keys"
                            : std::string());
      if (!limit.tier_aware && info.rate_at && limit.rate.count >= 1) {
        auto problem = soft_problem(
            *limit.soft, capacity(limit.algo, limit.rate, limit.burst, limit.shards), which);
        if (!problem.empty()) add(*info.soft_at, info.path + ".soft", problem);
      }
      for (const tier_def& tier : policy.tiers) {
        if (!limit.tier_aware || tier.unlimited || tier.rate.count < 1) continue;
        auto problem =
            soft_problem(*limit.soft, capacity(limit.algo, tier.rate, tier.burst, limit.shards),
                         which + " for tier '" + tier.name + "'");
        if (!problem.empty()) add(*info.soft_at, info.path + ".soft", problem);
      }
    }
    if (info.lease_at && limit.lease) {
      const std::string which =
          "limit '" + limit.name + "'" +
          (limit.shards > 1 ? " split over " + std::to_string(limit.shards) + " sub-keys"
                            : std::string());
      if (!limit.tier_aware && info.rate_at && limit.rate.count >= 1) {
        auto problem =
            lease_problem(limit.lease->max_tokens,
                          capacity(limit.algo, limit.rate, limit.burst, limit.shards), which);
        if (!problem.empty()) add(*info.lease_at, info.path + ".lease.max_tokens", problem);
      }
      for (const tier_def& tier : policy.tiers) {
        if (!limit.tier_aware || tier.unlimited || tier.rate.count < 1) continue;
        auto problem = lease_problem(limit.lease->max_tokens,
                                     capacity(limit.algo, tier.rate, tier.burst, limit.shards),
                                     which + " for tier '" + tier.name + "'");
        if (!problem.empty()) add(*info.lease_at, info.path + ".lease.max_tokens", problem);
      }
    }
    if (info.shards_at && limit.shards > 1) {
      if (!limit.tier_aware && info.rate_at && limit.rate.count >= 1) {
        auto problem =
            shards_problem(limit.algo, limit.rate, limit.burst, limit.delay, limit.shards);
        if (!problem.empty()) add(*info.shards_at, info.path + ".shards", problem);
      }
      for (const tier_def& tier : policy.tiers) {
        if (!limit.tier_aware || tier.unlimited || tier.rate.count < 1) continue;
        auto problem = shards_problem(limit.algo, tier.rate, tier.burst, limit.delay, limit.shards);
        if (!problem.empty()) {
          add(*info.shards_at, info.path + ".shards", "tier '" + tier.name + "': " + problem);
        }
      }
    }
  }

  // A cost above the capacity of a limit that always applies can never pass (a sharded
  // limit: above the capacity of its smallest sub-key).
  const auto limit_name = [](const limit_def& limit) {
    return "limit '" + limit.name + "'" +
           (limit.shards > 1 ? " split over " + std::to_string(limit.shards) + " sub-keys"
                             : std::string());
  };
  for (std::size_t r = 0; r < policy.routes.size(); ++r) {
    const route_def& route = policy.routes[r];
    const route_info& rinfo = st.routes[r];
    if (route.limits_off || !rinfo.cost_at) continue;
    for (std::size_t i = 0; i < policy.limits.size(); ++i) {
      const limit_def& limit = policy.limits[i];
      // A request holds one slot of a concurrency limit whatever its cost.
      if (!st.limits[i].complete() || !always_applies(limit, route.name) ||
          limit::holds_in_flight(limit.algo)) {
        continue;
      }
      const auto too_small = [&](std::int64_t cap, const std::string& which) {
        add(*rinfo.cost_at, rinfo.path + ".cost",
            "cost " + std::to_string(route.cost) + " is larger than the capacity of " + which +
                " (" + std::to_string(cap) + "), which applies to every request on route '" +
                route.name + "', so such a request could never pass");
      };
      if (!limit.tier_aware) {
        if (limit.rate.count < 1) continue;
        const auto cap = capacity(limit.algo, limit.rate, limit.burst, limit.shards);
        if (route.cost > cap) too_small(cap, limit_name(limit));
        continue;
      }
      for (const tier_def& tier : policy.tiers) {
        if (tier.unlimited || tier.rate.count < 1) continue;
        const auto cap = capacity(limit.algo, tier.rate, tier.burst, limit.shards);
        if (route.cost > cap) {
          too_small(cap, limit_name(limit) + " for tier '" + tier.name + "'");
        }
      }
    }
  }
}

void check_server_against_policies(const server_config& server, const server_positions& positions,
                                   const policy_state& st, std::vector<config_error>& errors) {
  // A `jwt:<claim>` key part or a tenant_rate claim reads the verified token: without
  // identity.jwt it would never be present, and the limit would silently never apply.
  if (!server.identity.jwt) {
    for (std::size_t i = 0; i < st.policy.limits.size(); ++i) {
      const limit_def& limit = st.policy.limits[i];
      if (limit.tenant_rate && !limit.tenant_rate->claim.empty()) {
        errors.push_back({limit.tenant_rate->where, st.limits[i].path + ".tenant_rate.claim",
                          "a claim needs identity.jwt in config.yaml (the token to read it "
                          "from)"});
      }
      const bool reads_token =
          std::any_of(limit.key.begin(), limit.key.end(),
                      [](const key_part& part) { return part.kind == key_part_kind::jwt; });
      if (reads_token) {
        errors.push_back({st.limits[i].at, st.limits[i].path + ".key",
                          "key part jwt:<claim> needs identity.jwt in config.yaml (the token "
                          "to read the claim from)"});
      }
    }
  }
  const std::string& name = server.admin.check_limit;
  if (name.empty() || !positions.check_limit) return;
  const auto& limits = st.policy.limits;
  if (std::any_of(limits.begin(), limits.end(),
                  [&](const limit_def& l) { return l.name == name; })) {
    return;
  }
  const std::string names = list_names(
      limits, [](const limit_def& l) { return l.name; }, "");
  errors.push_back({*positions.check_limit, "admin.check_limit",
                    "unknown limit '" + name + "' (" +
                        (names.empty() ? "no limits are defined" : "defined limits: " + names) +
                        ")"});
}

}  // namespace sluice::config::detail
