// Helpers shared by the config tests: fixture paths, an injected environment, and
// error lines as printed. Test-only; not thread-safe.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
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

// The error line of server fixture `name` (tests/fixtures/config/server/<name>.yaml) at
// "<line>:<col>: <field>: <message>" (`rest`).
inline std::string server_error_at(std::string_view name, std::string_view rest) {
  return fixture("server/" + std::string(name) + ".yaml") + ":" + std::string(rest);
}

// Loads policy case `name` (tests/fixtures/config/policy/cases/<name>.yaml) through
// policy/config.yaml and returns its error lines.
inline std::vector<std::string> policy_errors_of(std::string_view name) {
  return errors_of("policy/config.yaml", {{"POLICY", "cases/" + std::string(name) + ".yaml"}});
}

inline std::string policy_case(std::string_view name) {
  return fixture("policy/cases/" + std::string(name) + ".yaml");
}

// The error line of policy case `name` at "<line>:<col>: <field>: <message>" (`rest`).
inline std::string policy_error_at(std::string_view name, std::string_view rest) {
  return policy_case(name) + ":" + std::string(rest);
}

// Runs `fn` on a thread of its own and returns its result. Guards tests of inputs that
// once hung the parser: past `limit` the test binary exits with a message rather than
// hang CI (a thread stuck in a loop can be neither joined nor cancelled).
template <typename Fn>
auto finishes_within(std::chrono::seconds limit, Fn fn) -> decltype(fn()) {
  auto task = std::make_shared<std::packaged_task<decltype(fn())()>>(std::move(fn));
  auto result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: still running after %lld s (a hang)\n",
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(EXIT_FAILURE);
  }
  return result.get();
}

}  // namespace sluice::config::testing

// Policy case `name` fails with exactly one error, at `rest` ("4:16: field: message").
#define EXPECT_POLICY_ERROR(name, rest)                          \
  EXPECT_THAT(::sluice::config::testing::policy_errors_of(name), \
              ::testing::ElementsAre(::sluice::config::testing::policy_error_at(name, rest)))
