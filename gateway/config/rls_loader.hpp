// Loads envoyproxy/ratelimit's configuration directory (issue 13, `rls.config`): every
// *.yaml and *.yml file in it, in name order (hidden files skipped), one domain each,
// validated as strictly as Sluice's own config ("file:line:col: field: message").
// Called at startup, by --check-config and by reloads (off the request path); reentrant.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config/rls_schema.hpp"
#include "config/yaml_tree.hpp"

namespace sluice::config {

struct rls_load_result {
  std::optional<rls_config> config;  // set only when `errors` is empty
  std::vector<config_error> errors;
  bool ok() const { return config.has_value(); }
};

// An empty directory loads as no domains (every request then has no limit, as with
// envoyproxy/ratelimit); a missing one is an error.
rls_load_result load_rls_config(const std::string& directory, const env_lookup& env = process_env);

// Reads one file's document into `out` (a domain appended), reporting into `errors`.
// For the loader and the config fuzzer.
void read_rls_document(const yaml_node& root, const std::string& file,
                       std::vector<config_error>& errors, rls_config& out);

}  // namespace sluice::config
