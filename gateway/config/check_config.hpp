// `sluice --check-config`: loads a configuration and prints its effective limits
// (one row per limit, one per tier for tier-aware limits) or every error.
// Stateless functions; thread-safe.
#pragma once

#include <ostream>
#include <string>

#include "config/loader.hpp"

namespace sluice::config {

// The effective-limits table followed by a short summary (routes, tiers, files).
std::string describe_effective_config(const loaded_config& config);

// Loads `path`; on success prints describe_effective_config to `out` and returns 0,
// otherwise prints one "file:line:col: field: message" line per error to `err` and
// returns 1.
// `check_files`, when set, runs on a config that loaded.
int check_config(const std::string& path, const env_lookup& env, std::ostream& out,
                 std::ostream& err, const file_check& check_files = {});

}  // namespace sluice::config
