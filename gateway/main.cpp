// sluice: command line entry point (run, --check-config, --version, --help).
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "process/gateway.hpp"
#include "tls/configured_contexts.hpp"
#include "util/mask.hpp"

int main(int argc, char** argv) {
  // Writes to a vanished peer must surface as EPIPE on that socket, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  const auto parsed = sluice::parse_cli(args);
  const std::string config_path = parsed.options ? parsed.options->config_path : std::string();

  auto run_gateway = [&config_path](const sluice::config::loaded_config& cfg) {
    try {
      sluice::app::gateway gateway(config_path, cfg);
      return gateway.run();
    } catch (const std::exception& e) {
      std::cerr << "sluice: " << sluice::mask_credentials(e.what()) << "\n";
      return 1;
    }
  };
  auto check_certificates = [](const sluice::config::loaded_config& cfg) {
    return sluice::tls::load_configured_contexts(cfg.server).errors;
  };
  return sluice::run_cli(args, std::cout, std::cerr, sluice::config::process_env, run_gateway,
                         check_certificates);
}
