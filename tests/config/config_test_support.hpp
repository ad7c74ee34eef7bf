// Helpers shared by the config tests: fixture paths, an injected environment, and
// error lines as printed. Test-only; not thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace sluice::config::testing {

inline std::string fixture(std::string_view relative) {
  return std::string(SLUICE_FIXTURES_DIR) + "/config/" + std::string(relative);
}

// An env_lookup over a fixed map (never the process environment).
inline env_lookup fake_env(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

inline std::vector<std::string> error_lines(const load_result& result) {
  std::vector<std::string> lines;
  for (const auto& error : result.errors) lines.push_back(error.to_string());
  return lines;
}

// Loads the config fixture `relative` and returns its error lines.
inline std::vector<std::string> errors_of(std::string_view relative,
                                          std::map<std::string, std::string> env = {}) {
  return error_lines(load_config(fixture(relative), fake_env(std::move(env))));
}

// Loads policy case `name` (tests/fixtures/config/policy/cases/<name>.yaml) through
// policy/config.yaml and returns its error lines.
inline std::vector<std::string> policy_errors_of(std::string_view name) {
  return errors_of("policy/config.yaml", {{"POLICY", "cases/" + std::string(name) + ".yaml"}});
}

inline std::string policy_case(std::string_view name) {
  return fixture("policy/cases/" + std::string(name) + ".yaml");
}

}  // namespace sluice::config::testing
