#include "cli.hpp"

#include "config/check_config.hpp"

namespace sluice {

namespace {

bool is_option(const std::string& arg) {
  return arg.size() > 1 && arg.front() == '-';
}

}  // namespace

std::string cli_usage() {
  return "usage: sluice [--config PATH]          run the gateway (default ./config.yaml)\n"
         "       sluice --check-config [PATH]    validate config and policies, print the limits\n"
         "       sluice --version                print the version\n"
         "       sluice --help                   print this help\n";
}

cli_parse_result parse_cli(const std::vector<std::string>& args) {
  cli_parse_result result;
  cli_options options;
  std::optional<cli_mode> mode;
  bool path_given = false;
  const auto set_mode = [&](cli_mode m, const std::string& arg) {
    if (mode && *mode != m) {
      result.error = "'" + arg + "' cannot be combined with the other options";
      return false;
    }
    mode = m;
    return true;
  };
  const auto set_path = [&](const std::string& path) {
    if (path_given) {
      result.error = "more than one config path given";
      return false;
    }
    if (path.empty()) {
      result.error = "the config path must not be empty";
      return false;
    }
    options.config_path = path;
    path_given = true;
    return true;
  };

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      options.mode = cli_mode::help;
      result.options = options;
      return result;
    }
    if (arg == "--version") {
      if (!set_mode(cli_mode::version, arg)) return result;
    } else if (arg == "--check-config") {
      if (!set_mode(cli_mode::check_config, arg)) return result;
      if (i + 1 < args.size() && !is_option(args[i + 1]) && !set_path(args[++i])) return result;
    } else if (arg.starts_with("--check-config=")) {
      if (!set_mode(cli_mode::check_config, arg) || !set_path(arg.substr(15))) return result;
    } else if (arg == "--config") {
      if (i + 1 >= args.size()) {
        result.error = "'--config' needs a path";
        return result;
      }
      if (!set_path(args[++i])) return result;
    } else if (arg.starts_with("--config=")) {
      if (!set_path(arg.substr(9))) return result;
    } else if (is_option(arg)) {
      result.error = "unknown option '" + arg + "'";
      return result;
    } else {
      result.error = "unexpected argument '" + arg + "'";
      return result;
    }
  }
  options.mode = mode.value_or(cli_mode::run);
  if (options.mode == cli_mode::version && path_given) {
    result.error = "'--version' takes no config path";
    return result;
  }
  result.options = options;
  return result;
}

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
            const config::env_lookup& env, const gateway_runner& run_gateway,
            const config::file_check& check_files) {
  const auto parsed = parse_cli(args);
  if (!parsed.options) {
    err << "sluice: " << parsed.error << '\n' << cli_usage();
    return 2;
  }
  const cli_options& options = *parsed.options;
  switch (options.mode) {
    case cli_mode::help:
      out << cli_usage();
      return 0;
    case cli_mode::version:
      out << "sluice " << SLUICE_VERSION << '\n';
      return 0;
    case cli_mode::check_config:
      return config::check_config(options.config_path, env, out, err, check_files);
    case cli_mode::run:
      break;
  }
  const auto loaded = config::load_config(options.config_path, env, check_files);
  if (!loaded.ok()) {
    for (const auto& error : loaded.errors) err << error.to_string() << '\n';
    return 1;
  }
  return run_gateway(*loaded.config);
}

}  // namespace sluice
