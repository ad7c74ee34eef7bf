// The sluice command line: argument parsing and the commands that do not serve
// (--check-config, --version, --help). main() passes the serving entry point in.
// Stateless functions; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/defaults.hpp"
#include "config/loader.hpp"

namespace sluice {

enum class cli_mode { run, check_config, version, help };

struct cli_options {
  cli_mode mode = cli_mode::run;
  std::string config_path{config::defaults::config_path};
};

struct cli_parse_result {
  std::optional<cli_options> options;  // unset on a usage error
  std::string error;                   // the usage error, e.g. "unknown option '--foo'"
};

// Parses the arguments after argv[0]:
//   [--config PATH] | --check-config [PATH] | --version | --help
cli_parse_result parse_cli(const std::vector<std::string>& args);

std::string cli_usage();

// Serves with a loaded configuration; returns the process exit code.
using gateway_runner = std::function<int(const config::loaded_config&)>;

// Runs the command named by `args` and returns the exit code: 0 on success, 1 for
// an invalid configuration, 2 for a usage error (usage printed to `err`).
// `check_files` (config::file_check) completes the checks of --check-config and of a
// start.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const config::env_lookup& env, const gateway_runner& run_gateway,
            const config::file_check& check_files = {});

}  // namespace sluice
