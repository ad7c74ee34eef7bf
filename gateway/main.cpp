// sluice: command line entry point (run, --check-config, --version, --help).
#include <cstdio>
#include <string_view>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--version") {
      std::printf("sluice %s\n", SLUICE_VERSION);
      return 0;
    }
  }
  std::printf("usage: sluice [--config PATH] | --check-config [PATH] | --version | --help\n");
  return 0;
}
