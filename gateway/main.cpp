// sluice: command line entry point (run, --check-config, --version, --help).
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"

namespace {

// Serving is not built yet; the gateway issue replaces this.
int run_gateway(const sluice::config::loaded_config&) {
  std::cerr << "sluice: gateway not implemented yet\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return sluice::run_cli(args, std::cout, std::cerr, sluice::config::process_env, run_gateway);
}
