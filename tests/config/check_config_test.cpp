// `sluice --check-config` output and the CLI's exit codes, without a subprocess.
#include "config/check_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli.hpp"
#include "config/defaults.hpp"
#include "config_test_support.hpp"

namespace sluice {
namespace {

using config::testing::fake_env;
using config::testing::fixture;

struct cli_run {
  int code = 0;
  std::string out;
  std::string err;
  bool gateway_ran = false;
};

cli_run run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  cli_run r;
  std::ostringstream out, err;
  r.code = run_cli(args, out, err, fake_env(std::move(env)), [&](const config::loaded_config&) {
    r.gateway_ran = true;
    return 0;
  });
  r.out = out.str();
  r.err = err.str();
  return r;
}

TEST(CheckConfig, PrintsTheEffectiveLimitsAndASummary) {
  const std::string path = fixture("check/config.yaml");
  std::ostringstream out, err;
  EXPECT_EQ(config::check_config(path, fake_env(), out, err), 0);
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(out.str(),
            "NAME               KEY                     ALGORITHM       RATE       BURST/WINDOW"
            "      ROUTES                     SHADOW\n"
            "global             global                  fixed_window    1000/10s   10s         "
            "      all                        no\n"
            "per-client[basic]  client                  token_bucket    100/h      20          "
            "      all                        no\n"
            "per-client[vip]    client                  token_bucket    unlimited  -           "
            "      all                        no\n"
            "shaped             ip                      leaky_bucket    10/s       5 (delay "
            "1500ms)  all                        no\n"
            "tenant-writes      header:x-tenant+method  sliding_window  600/min    1m          "
            "      export,default [POST,PUT]  no\n"
            "login              user (fallback ip)      sliding_log     5/min      1m          "
            "      all                        yes\n"
            "\n"
            "routes (first match wins): health (no limits), export (cost 5), default\n"
            "routing: case-sensitive, matrix parameters stripped, encoded slash rejected\n"
            "tiers: basic, vip (unlimited); default tier: basic\n"
            "api keys: 0\n"
            "policy files: " +
                fixture("check/policy.yaml") + "\n" + path + ": OK\n");
}

TEST(CheckConfig, CalendarQuotasShowTheirPeriodAnchorAndZone) {
  std::ostringstream out, err;
  EXPECT_EQ(config::check_config(fixture("check_calendar/config.yaml"), fake_env(), out, err), 0);
  const std::string text = out.str();
  EXPECT_NE(text.find("1000/month  month (day 15, Europe/Berlin)"), std::string::npos) << text;
  EXPECT_NE(text.find("100/week    week (weekday 1, UTC)"), std::string::npos) << text;
  EXPECT_NE(text.find("10/day      day (Asia/Tokyo)"), std::string::npos) << text;
  EXPECT_NE(text.find("10/day      1d"), std::string::npos) << "N/day without calendar: 24 h";
}

TEST(CheckConfig, InFlightLimitsShowMaxAndLease) {
  std::ostringstream out, err;
  EXPECT_EQ(config::check_config(fixture("check_in_flight/config.yaml"), fake_env(), out, err), 0)
      << err.str();
  const std::string text = out.str();
  EXPECT_NE(text.find("concurrency  10 in flight  lease 1m"), std::string::npos) << text;
  EXPECT_NE(text.find("concurrency  2 in flight   lease 15m"), std::string::npos) << text;
}

TEST(CheckConfig, PrintsEveryErrorAndFails) {
  std::ostringstream out, err;
  EXPECT_EQ(config::check_config(fixture("server/multiple_errors.yaml"), fake_env(), out, err), 1);
  EXPECT_EQ(out.str(), "");
  const std::string text = err.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 7);
  EXPECT_TRUE(text.starts_with(fixture("server/multiple_errors.yaml") + ":2:9: listen: "));
}

// yaml-cpp 0.7 loops forever on a ',' where a value should start (config/yaml_tree.cpp):
// --check-config answers with the spot instead of never returning.
TEST(CheckConfig, ALeadingCommaIsAnErrorNotAHang) {
  using namespace std::chrono_literals;
  const std::string comma =
      "cannot parse: unexpected ',' (outside [ ] and { } it cannot start a value; quote a "
      "value that starts with ',')\n";

  auto config = config::testing::finishes_within(10s, [] {
    return run({"--check-config", fixture("server/leading_comma.yaml")});
  });
  EXPECT_EQ(config.code, 1);
  EXPECT_EQ(config.out, "");
  EXPECT_EQ(config.err, fixture("server/leading_comma.yaml") + ":1:1: " + comma);

  auto policy = config::testing::finishes_within(10s, [] {
    return run({"--check-config", fixture("policy/config.yaml")},
               {{"POLICY", "cases/leading_comma.yaml"}});
  });
  EXPECT_EQ(policy.code, 1);
  EXPECT_EQ(policy.out, "");
  EXPECT_EQ(policy.err, config::testing::policy_case("leading_comma") + ":1:1: " + comma);
}

TEST(CheckConfig, AFifoOrAnOversizedFileIsAnErrorNotAHang) {
  using namespace std::chrono_literals;
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("sluice-fifo-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "policies");
  std::ofstream(dir / "config.yaml") << "policies: policies/\n";
  std::ofstream(dir / "policies" / "a.yaml") << "limits: []\n";
  ASSERT_EQ(::mkfifo((dir / "policies" / "b.yaml").c_str(), 0600), 0);
  auto fifo = config::testing::finishes_within(10s, [&] {
    return run({"--check-config", (dir / "config.yaml").string()});
  });
  EXPECT_EQ(fifo.code, 1);
  EXPECT_EQ(fifo.err,
            (dir / "policies" / "b.yaml").string() + ": cannot read file: not a regular file\n");

  fs::remove(dir / "policies" / "b.yaml");
  {
    std::ofstream big(dir / "policies" / "b.yaml");
    big.seekp(static_cast<std::streamoff>(config::defaults::max_config_file_bytes));
    big << '\n';  // a sparse file one byte over the bound
  }
  auto oversized = run({"--check-config", (dir / "config.yaml").string()});
  EXPECT_EQ(oversized.code, 1);
  EXPECT_THAT(oversized.err, ::testing::HasSubstr("b.yaml: cannot read file: 67108865 bytes, "
                                                  "more than the 64 MiB a config or policy file "
                                                  "may hold"));
  fs::remove_all(dir);
}

TEST(Cli, ParsesEveryMode) {
  auto parsed = parse_cli({});
  ASSERT_TRUE(parsed.options);
  EXPECT_EQ(parsed.options->mode, cli_mode::run);
  EXPECT_EQ(parsed.options->config_path, "config.yaml");

  parsed = parse_cli({"--config", "/etc/sluice.yaml"});
  ASSERT_TRUE(parsed.options);
  EXPECT_EQ(parsed.options->mode, cli_mode::run);
  EXPECT_EQ(parsed.options->config_path, "/etc/sluice.yaml");

  parsed = parse_cli({"--config=x.yaml"});
  EXPECT_EQ(parsed.options->config_path, "x.yaml");

  parsed = parse_cli({"--check-config"});
  EXPECT_EQ(parsed.options->mode, cli_mode::check_config);
  EXPECT_EQ(parsed.options->config_path, "config.yaml");

  parsed = parse_cli({"--check-config", "a.yaml"});
  EXPECT_EQ(parsed.options->mode, cli_mode::check_config);
  EXPECT_EQ(parsed.options->config_path, "a.yaml");

  parsed = parse_cli({"--check-config", "--config", "b.yaml"});
  EXPECT_EQ(parsed.options->mode, cli_mode::check_config);
  EXPECT_EQ(parsed.options->config_path, "b.yaml");

  EXPECT_EQ(parse_cli({"--version"}).options->mode, cli_mode::version);
  EXPECT_EQ(parse_cli({"--help"}).options->mode, cli_mode::help);
  EXPECT_EQ(parse_cli({"-h"}).options->mode, cli_mode::help);
}

TEST(Cli, RejectsBadArguments) {
  EXPECT_EQ(parse_cli({"--bogus"}).error, "unknown option '--bogus'");
  EXPECT_EQ(parse_cli({"config.yaml"}).error, "unexpected argument 'config.yaml'");
  EXPECT_EQ(parse_cli({"--config"}).error, "'--config' needs a path");
  EXPECT_EQ(parse_cli({"--check-config", "a", "--config", "b"}).error,
            "more than one config path given");
  EXPECT_EQ(parse_cli({"--version", "--check-config"}).error,
            "'--check-config' cannot be combined with the other options");
  EXPECT_FALSE(parse_cli({"--version", "--config", "x"}).options);
}

TEST(Cli, ExitCodes) {
  auto valid = run({"--check-config", fixture("check/config.yaml")});
  EXPECT_EQ(valid.code, 0);
  EXPECT_TRUE(valid.out.starts_with("NAME "));
  EXPECT_EQ(valid.err, "");

  auto invalid = run({"--check-config", fixture("server/threads_range.yaml")});
  EXPECT_EQ(invalid.code, 1);
  EXPECT_EQ(invalid.out, "");
  EXPECT_EQ(invalid.err, fixture("server/threads_range.yaml") +
                             ":2:12: server.threads: must be between 0 and 256 (got 300)\n");

  auto version = run({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out, std::string("sluice ") + SLUICE_VERSION + "\n");

  auto help = run({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_EQ(help.out, cli_usage());

  auto unknown = run({"--frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.out, "");
  EXPECT_EQ(unknown.err, "sluice: unknown option '--frobnicate'\n" + cli_usage());
}

TEST(Cli, RunModeLoadsTheConfigBeforeServing) {
  auto bad = run({"--config", fixture("server/threads_range.yaml")});
  EXPECT_EQ(bad.code, 1);
  EXPECT_FALSE(bad.gateway_ran);
  EXPECT_THAT(bad.err, ::testing::HasSubstr("server.threads: must be between 0 and 256"));

  auto good = run({"--config", fixture("check/config.yaml")});
  EXPECT_EQ(good.code, 0);
  EXPECT_TRUE(good.gateway_ran);
}

}  // namespace
}  // namespace sluice
