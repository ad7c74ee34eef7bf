// Loads and validates config.yaml and the policy files it names (SPEC 2, 3) into
// plain structs. The only user of yaml-cpp in Sluice. Called at startup, by
// --check-config and by reloads (off the request path); reentrant.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"

namespace sluice::config {

// One problem found in a file, printed as "file:line:col: field: message", e.g.
// "policies/default.yaml:12:11: limits[1].rate: must be > 0".
struct config_error {
  source_location where;
  std::string field;  // dotted path of the offending value; may be empty
  std::string message;
  std::string to_string() const;  // "file:line:col: field: message", URL passwords masked
};

// Resolves ${VAR} in scalars; returns nullopt when VAR is not set.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;
std::optional<std::string> process_env(std::string_view name);

struct load_result {
  std::optional<loaded_config> config;  // set only when `errors` is empty
  std::vector<config_error> errors;     // every error found, in file and position order
  bool ok() const { return config.has_value(); }
};

// What loading cannot check with this layer's libraries: what the files a valid config
// names hold (the listeners' TLS certificates: tls/configured_contexts.hpp). Errors in
// the same form as load_config's.
using file_check = std::function<std::vector<config_error>(const loaded_config&)>;

// Reads `config_path`, then the policies it names (a directory: every *.yaml in
// name order; or one file), relative to the config file's directory; then, when the
// config is valid and `check_files` is set, what its files hold.
load_result load_config(const std::string& config_path, const env_lookup& env = process_env,
                        const file_check& check_files = {});

}  // namespace sluice::config
