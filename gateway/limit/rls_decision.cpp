#include "limit/rls_decision.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <span>

#include "util/hash.hpp"

namespace sluice::limit {
namespace {

micros period_of(config::rls_unit unit) {
  return config::rls_unit_seconds(unit) * micros_per_second;
}

// The reference's fixed window unless the configuration's `sluice:` names another
// algorithm. A limit of 0 is envoyproxy/ratelimit's "deny every hit": a fixed window of
// count 0 lets only a peek (cost 0) through (the loader allows 0 only there).
limit_params params_of(std::uint32_t requests_per_unit, config::rls_unit unit,
                       algorithm algo = algorithm::fixed_window, std::int64_t burst = 0) {
  return limit_params::make(algo, requests_per_unit, period_of(unit), burst);
}

// The state namespace of a domain's limits of one unit and algorithm. A configured limit
// and a descriptor's own `limit` of the same unit share it, as envoyproxy/ratelimit's
// cache key (domain, entries, window start) does; a reload that keeps the unit and the
// algorithm keeps the counts. Another algorithm's state has another shape: apart.
std::string state_name(std::string_view domain, config::rls_unit unit, algorithm algo,
                       bool calendar = false) {
  std::string name = "rls:";
  name.append(domain).append(":").append(config::rls_unit_name(unit));
  if (algo != algorithm::fixed_window) name.append(":").append(to_string(algo));
  // Calendar periods are other windows than the epoch-aligned ones: apart.
  if (calendar) name.append(":calendar");
  return name;
}

calendar_unit calendar_unit_of(config::rls_unit unit) {
  switch (unit) {
    case config::rls_unit::day:
      return calendar_unit::day;
    case config::rls_unit::week:
      return calendar_unit::week;
    case config::rls_unit::month:
      return calendar_unit::month;
    default:
      return calendar_unit::none;
  }
}

std::uint64_t seed_of(std::string_view state_name, std::uint64_t hash_seed) {
  return hash64(state_name, hash_seed);
}

void append_sized(std::string& out, std::string_view s) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, s.size()).ptr;
  out.append(digits, end).append(":").append(s);
}

// The request's entries, values included, each length-prefixed: no two lists of
// entries share a text, whatever bytes they hold.
void entries_text(std::span<const rls_entry> entries, std::string& out) {
  out.clear();
  for (const auto& e : entries) {
    append_sized(out, e.key);
    append_sized(out, e.value);
  }
}

std::uint32_t clamp_u32(std::int64_t v) {
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(v, 0, std::numeric_limits<std::uint32_t>::max()));
}

bool valid_unit(int unit) {
  return unit >= static_cast<int>(config::rls_unit::second) &&
         unit <= static_cast<int>(config::rls_unit::week);
}

}  // namespace

rls_policy::rls_policy(config::rls_config config, std::uint64_t hash_seed)
    : config_(std::move(config)), matcher_(config_), hash_seed_(hash_seed) {
  for (const auto& domain : config_.domains) {
    auto compile = [&](const auto& self, const std::vector<config::rls_descriptor>& level) -> void {
      for (const auto& d : level) {
        if (d.rate_limit && !d.rate_limit->unlimited) {
          const auto& r = *d.rate_limit;
          auto name = state_name(domain.domain, r.unit, r.algorithm, r.calendar.has_value());
          const auto seed = seed_of(name, hash_seed_);
          compiled c{params_of(r.requests_per_unit, r.unit, r.algorithm, r.burst), seed,
                     std::move(name), std::nullopt};
          if (r.calendar) {
            c.params.calendar = calendar_unit_of(r.unit);
            c.calendar = calendar_of(r.calendar->time_zone, r.calendar->anchor_day);
          }
          compiled_.emplace(&d, std::move(c));
        }
        self(self, d.descriptors);
      }
    };
    compile(compile, domain.descriptors);
  }
}

void rls_evaluation::reset() {
  problem = {};
  found.clear();
  plan.clear();
  checks.clear();
  decisions.clear();
  params_copies.clear();
  state_names.clear();
  override_names.clear();
  overall = rls_code::ok;
  statuses.clear();
  reported = -1;
}

void prepare_rls(const rls_policy& pol, const rls_request& request, rls_evaluation& ev,
                 micros now) {
  ev.reset();
  // envoyproxy/ratelimit's two service errors, and Sluice's bounds.
  if (request.domain.empty()) {
    ev.problem = "rate limit domain must not be empty";
    return;
  }
  if (request.descriptors.empty()) {
    ev.problem = "rate limit descriptor list must not be empty";
    return;
  }
  if (request.descriptors.size() > max_rls_descriptors) {
    ev.problem = "too many descriptors (at most 64)";
    return;
  }
  for (const auto& d : request.descriptors) {
    if (d.entries.size() > max_rls_entries) {
      ev.problem = "too many entries in a descriptor (at most 16)";
      return;
    }
    if (d.limit && !valid_unit(d.limit->unit)) {
      ev.problem = "a descriptor's limit has an unknown unit";
      return;
    }
  }

  // Which limit applies to each descriptor. An unknown domain has none, not even a
  // descriptor's own `limit` (as there).
  const bool known = pol.matcher().has_domain(request.domain);
  auto& found = ev.found;
  found.assign(request.descriptors.size(), nullptr);
  ev.plan.resize(request.descriptors.size());
  const std::int64_t request_hits = request.hits_addend == 0 ? 1 : request.hits_addend;
  for (std::size_t i = 0; i < request.descriptors.size(); ++i) {
    const auto& d = request.descriptors[i];
    auto& p = ev.plan[i];
    p.hits =
        d.hits_addend
            ? static_cast<std::int64_t>(std::min<std::uint64_t>(*d.hits_addend, max_exact_integer))
            : request_hits;
    if (!known) continue;
    if (d.limit) {
      p.override_limit = d.limit;  // unnamed: nothing replaces it, it replaces nothing
      continue;
    }
    found[i] = pol.matcher().find(request.domain, d.entries);
    p.unlimited = found[i] != nullptr && found[i]->rate_limit->unlimited;
  }
  apply_replaces(found);  // an unlimited descriptor stays unlimited (as there)

  ev.params_copies.reserve(request.descriptors.size());
  ev.override_names.reserve(request.descriptors.size());
  for (std::size_t i = 0; i < request.descriptors.size(); ++i) {
    auto& p = ev.plan[i];
    if (p.unlimited) continue;
    if (!p.override_limit && found[i] == nullptr) continue;
    const std::size_t n = ev.checks.size();
    if (ev.state_keys.size() <= n) ev.state_keys.emplace_back();
    const limit_params* params = nullptr;
    std::uint64_t seed = 0;
    bool shadow = false;
    if (p.override_limit) {
      // The reference's fixed window, whatever the configuration's limit of the entries.
      const auto unit = static_cast<config::rls_unit>(p.override_limit->unit);
      params = &ev.params_copies.emplace_back(params_of(p.override_limit->requests_per_unit, unit));
      ev.state_names.push_back(ev.override_names.emplace_back(
          state_name(request.domain, unit, algorithm::fixed_window)));
      seed = seed_of(ev.state_names.back(), pol.hash_seed());
    } else {
      const auto& c = pol.of(*found[i]);
      // A calendar unit's window is the period holding `now` (a copy, like an override's:
      // one per descriptor at most, so the reservation above holds).
      params = c.calendar ? &ev.params_copies.emplace_back(in_period(c.params, *c.calendar, now))
                          : &c.params;
      seed = c.seed;
      shadow = found[i]->shadow_mode;
      ev.state_names.push_back(c.state_name);
    }
    std::string& key = ev.state_keys[n];
    entries_text(request.descriptors[i].entries, key);
    p.check = static_cast<int>(n);
    ev.checks.push_back(check{hash64(key, seed), params, p.hits, shadow});
  }
}

void conclude_rls(rls_evaluation& ev, rls_charging charging, bool admitted) {
  ev.statuses.assign(ev.plan.size(), rls_status{});
  for (std::size_t i = 0; i < ev.plan.size(); ++i) {
    const auto& p = ev.plan[i];
    auto& s = ev.statuses[i];
    if (p.unlimited) {
      s.limit_remaining = std::numeric_limits<std::uint32_t>::max();
      continue;
    }
    if (p.check < 0) continue;  // no limit: ok, remaining 0
    const decision& d = ev.decisions[p.check];
    if (p.override_limit) {
      s.current_limit =
          rls_current_limit{p.override_limit->requests_per_unit,
                            static_cast<config::rls_unit>(p.override_limit->unit), ""};
    } else {
      const auto& r = *ev.found[i]->rate_limit;
      s.current_limit = rls_current_limit{r.requests_per_unit, r.unit, r.name};
    }
    s.duration_until_reset = d.reset;
    if (!d.allowed) {
      // Over: remaining 0, as there; a shadow_mode limit answers ok all the same.
      s.code = ev.checks[p.check].shadow ? rls_code::ok : rls_code::over_limit;
      continue;
    }
    const bool charged = charging == rls_charging::each || admitted;
    // Allowed but not charged (another descriptor was over): what is left now.
    s.limit_remaining = clamp_u32(charged ? d.remaining : std::min(d.remaining + p.hits, d.limit));
  }

  // The overall code, and the status the headers describe: of the ones over, the one
  // whose window ends last (SPEC 5's longest wait; the first of equals), else the one
  // with the least remaining.
  ev.overall = rls_code::ok;
  ev.reported = -1;
  for (std::size_t i = 0; i < ev.statuses.size(); ++i) {
    const auto& s = ev.statuses[i];
    if (!s.current_limit) continue;
    const int n = static_cast<int>(i);
    if (s.code == rls_code::over_limit) {
      const bool first_over = ev.overall != rls_code::over_limit;
      ev.overall = rls_code::over_limit;
      if (first_over || s.duration_until_reset > ev.statuses[ev.reported].duration_until_reset) {
        ev.reported = n;
      }
    } else if (ev.overall != rls_code::over_limit &&
               (ev.reported < 0 || s.limit_remaining < ev.statuses[ev.reported].limit_remaining)) {
      ev.reported = n;
    }
  }
}

void decide_rls(const rls_policy& pol, const rls_request& request, memory_store& store, micros now,
                rls_charging charging, rls_evaluation& ev) {
  prepare_rls(pol, request, ev, now);
  if (!ev.problem.empty()) return;
  ev.decisions.resize(ev.checks.size());
  bool admitted = true;
  if (charging == rls_charging::all_or_nothing) {
    admitted = store.decide(ev.checks, now, ev.decisions);
  } else {
    for (std::size_t i = 0; i < ev.checks.size(); ++i) {
      store.decide(std::span(&ev.checks[i], 1), now, std::span(&ev.decisions[i], 1));
    }
  }
  conclude_rls(ev, charging, admitted);
}

}  // namespace sluice::limit
