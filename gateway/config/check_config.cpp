#include "config/check_config.hpp"

#include <algorithm>
#include <array>
#include <sstream>
#include <vector>

#include "config/units.hpp"

namespace sluice::config {

namespace {

using row = std::array<std::string, 7>;

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : std::string(separator)) + item;
  return out;
}

std::string key_text(const limit_def& limit) {
  return config::key_text(limit.key, "+") + (limit.fallback_ip ? " (fallback ip)" : "");
}

std::string routes_text(const limit_def& limit) {
  std::string out = limit.routes.empty() ? "all" : join(limit.routes, ",");
  if (!limit.methods.empty()) out += " [" + join(limit.methods, ",") + "]";
  return out;
}

// The BURST/WINDOW cell: capacity for buckets, window length for windows; for a quota
// per calendar period, the period, its anchor and zone ("month (day 15, Europe/Berlin)").
std::string size_text(const limit_def& limit, const rate& r, std::int64_t burst) {
  const limit::algorithm algo = limit.algo;
  const limit::micros delay = limit.delay;
  if (counted_calendar_unit(r, limit.calendar.has_value()) != limit::calendar_unit::none) {
    const calendar_def c = limit.calendar.value_or(calendar_def{});
    std::string out(limit::to_string(r.calendar));
    out += " (";
    if (r.calendar != limit::calendar_unit::day) {
      out += (r.calendar == limit::calendar_unit::week ? "weekday " : "day ") +
             std::to_string(c.anchor_day) + ", ";
    }
    return out + c.time_zone + ")";
  }
  if (!limit::is_bucket(algo))
    return units::format_duration(std::chrono::milliseconds(r.period / 1000));
  std::string out = std::to_string(burst > 0 ? burst : r.count);
  if (delay > 0)
    out += " (delay " + units::format_duration(std::chrono::milliseconds(delay / 1000)) + ")";
  return out;
}

std::vector<row> limit_rows(const loaded_config& config) {
  std::vector<row> rows;
  for (const auto& limit : config.policy.limits) {
    const std::string algo(limit::to_string(limit.algo));
    const std::string shadow = limit.shadow ? "yes" : "no";
    if (limit::holds_in_flight(limit.algo)) {
      // RATE: how many at once; the other cell: how long a slot outlives a lost release.
      rows.push_back(
          {limit.name, key_text(limit), algo, std::to_string(limit.max_in_flight) + " in flight",
           "lease " +
               units::format_duration(std::chrono::milliseconds(limit.in_flight_lease / 1000)),
           routes_text(limit), shadow});
      continue;
    }
    if (!limit.tier_aware) {
      rows.push_back({limit.name, key_text(limit), algo, units::format_rate(limit.rate),
                      size_text(limit, limit.rate, limit.burst), routes_text(limit), shadow});
      continue;
    }
    for (const auto& tier : config.policy.tiers) {
      const std::string name = limit.name + "[" + tier.name + "]";
      if (tier.unlimited) {
        rows.push_back({name, key_text(limit), algo, "unlimited", "-", routes_text(limit), shadow});
      } else {
        rows.push_back({name, key_text(limit), algo, units::format_rate(tier.rate),
                        size_text(limit, tier.rate, tier.burst), routes_text(limit), shadow});
      }
    }
  }
  return rows;
}

void print_table(std::ostream& out, const std::vector<row>& rows) {
  std::array<std::size_t, 7> width{};
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

}  // namespace

std::string describe_effective_config(const loaded_config& config) {
  std::ostringstream out;
  const auto& policy = config.policy;
  if (policy.limits.empty()) {
    out << "no limits defined: every request is forwarded\n";
  } else {
    std::vector<row> rows{{"NAME", "KEY", "ALGORITHM", "RATE", "BURST/WINDOW", "ROUTES", "SHADOW"}};
    auto limits = limit_rows(config);
    rows.insert(rows.end(), limits.begin(), limits.end());
    print_table(out, rows);
  }
  out << '\n';

  std::vector<std::string> routes;
  for (const auto& route : policy.routes) {
    std::string text = route.name;
    if (route.limits_off) text += " (no limits)";
    if (route.cost != 1) text += " (cost " + std::to_string(route.cost) + ")";
    routes.push_back(text);
  }
  routes.push_back("default");
  out << "routes (first match wins): " << join(routes, ", ") << '\n';
  const auto& routing = policy.routing;
  out << "routing: " << (routing.case_insensitive ? "case-insensitive" : "case-sensitive")
      << ", matrix parameters " << (routing.strip_matrix_params ? "stripped" : "kept")
      << ", encoded slash " << (routing.allow_encoded_slash ? "a separator" : "rejected") << '\n';

  std::vector<std::string> tiers;
  for (const auto& tier : policy.tiers) {
    tiers.push_back(tier.name + (tier.unlimited ? " (unlimited)" : ""));
  }
  out << "tiers: " << (tiers.empty() ? "none" : join(tiers, ", "));
  if (!policy.default_tier.empty()) out << "; default tier: " << policy.default_tier;
  out << '\n';
  out << "api keys: " << policy.api_keys.size() << '\n';
  out << "policy files: " << join(policy.files, ", ") << '\n';
  out << config.server.file << ": OK\n";
  return out.str();
}

int check_config(const std::string& path, const env_lookup& env, std::ostream& out,
                 std::ostream& err, const file_check& check_files) {
  const auto result = load_config(path, env, check_files);
  if (!result.ok()) {
    for (const auto& error : result.errors) err << error.to_string() << '\n';
    return 1;
  }
  out << describe_effective_config(*result.config);
  return 0;
}

}  // namespace sluice::config
