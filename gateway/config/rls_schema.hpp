// envoyproxy/ratelimit's configuration, read unchanged (issue 13): one domain per YAML
// file, nested descriptors of key and optional value (exact, or a prefix ending in `*`),
// each with an optional rate_limit. Plain structs; immutable once loaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/limit_params.hpp"
#include "config/schema.hpp"

namespace sluice::config {

// envoy.service.ratelimit.v3.RateLimitResponse.RateLimit.Unit, with its proto numbers.
enum class rls_unit : int {
  second = 1,
  minute = 2,
  hour = 3,
  day = 4,
  month = 5,
  year = 6,
  week = 7
};

// "second" .. "year"; the proto's upper-case name is upper_name().
const char* rls_unit_name(rls_unit unit);
// The unit's length in seconds (a month is 30 days and a year 365, as envoyproxy/ratelimit
// counts them: its windows are fixed and aligned to the epoch).
std::int64_t rls_unit_seconds(rls_unit unit);

struct rls_rate_limit {
  std::uint32_t requests_per_unit = 0;
  rls_unit unit = rls_unit::second;  // unset (and meaningless) when unlimited
  bool unlimited = false;
  std::string name;                   // optional; what `replaces` refers to
  std::vector<std::string> replaces;  // names of limits this one replaces in a request
  // Sluice's extension (`sluice: {algorithm, burst}` under rate_limit): any of Sluice's
  // algorithms over requests_per_unit per unit instead of the reference's fixed window
  // aligned to the epoch, and a bucket's capacity (0: requests_per_unit).
  limit::algorithm algorithm = limit::algorithm::fixed_window;
  std::int64_t burst = 0;
  // `sluice: { calendar: { time_zone, anchor_day } }` (issue 14's calendar quotas): a
  // day, week or month unit counts calendar periods of that zone instead of the
  // reference's epoch-aligned 1/7/30 days. fixed_window only.
  std::optional<calendar_def> calendar = {};
};

struct rls_descriptor {
  std::string key;
  std::string value;  // empty: any value of `key`; "prefix*": values starting with prefix
  std::optional<rls_rate_limit> rate_limit;
  bool shadow_mode = false;
  bool detailed_metric = false;
  std::vector<rls_descriptor> descriptors;  // the next level
  // envoyproxy/ratelimit's name for it: "<domain>.<key>[_<value>]" joined with "." per
  // level (its stats key; Sluice's metric label and state key).
  std::string full_key;
  source_location where;  // the descriptor's `key`
};

struct rls_domain {
  std::string domain;
  std::vector<rls_descriptor> descriptors;
  std::string file;
};

struct rls_config {
  std::vector<rls_domain> domains;  // in file-name order; domains are unique
};

}  // namespace sluice::config
