// Fuzzes the config loader on YAML text: parse_yaml (gateway/config/yaml_tree.hpp),
// then the first-pass readers on the same tree (config.yaml's, a policy file's and an
// envoyproxy/ratelimit file's, config/rls_loader.hpp, whose descriptors the RLS
// matcher then indexes and looks up, and the RLS decision compiles and decides),
// the second-pass checks (gateway/config/loader_internal.hpp), and, when the policy
// reader accepts the text, the policy compilation (limit::policy).
//
// The input is one file's text. Properties:
// - nothing throws, nothing hangs (scripts/fuzz.sh runs this with -timeout: yaml-cpp
//   0.7 loops forever on some inputs, and parse_yaml must bound them);
// - every error names the file and a position inside the text (or none), and has a
//   message; every node's position is inside the text;
// - the tree never contains itself (an alias inside the node it names is an error;
//   LeakSanitizer sees any shared_ptr cycle), and with its aliases expanded it stays
//   within parse_yaml's bound (so an alias bomb never reaches the readers);
// - mask_credentials (which every printed error goes through) returns on the text, is
//   idempotent and leaves a text without '@' unchanged;
// - a config.yaml the reader accepts names a certificate and key for every TLS
//   listener, and has upstream.tls exactly for an https:// upstream;
// - a policy the readers and checks accept compiles into a limit::policy, and every
//   route it declares is reachable by index.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/loader.hpp"
#include "config/loader_internal.hpp"
#include "config/rls_loader.hpp"
#include "config/yaml_tree.hpp"
#include "fuzz_support.hpp"
#include "limit/policy.hpp"
#include "limit/rls_decision.hpp"
#include "limit/rls_matcher.hpp"
#include "util/mask.hpp"

namespace {

using namespace sluice;
using namespace sluice::config;

constexpr const char* file_name = "fuzz.yaml";

std::optional<std::string> fake_env(std::string_view name) {
  if (name == "PORT") return "8080";
  if (name == "EMPTY") return "";
  if (name == "RATE") return "10/s";
  if (name == "URL") return "redis://user:secret@127.0.0.1:6379";
  return std::nullopt;
}

struct text_bounds {
  int lines = 1;
  int longest = 0;   // bytes in the longest line
  bool utf8 = true;  // positions count UTF-8 bytes (not a UTF-16/32 text)
  bool nul = false;  // a NUL byte: yaml-cpp's marks in an error after one may pass the line's end
};

// yaml-cpp reads a text that starts with a NUL in its first two bytes or with a UTF-16
// byte order mark as UTF-16/32; its marks then count decoded characters.
bool looks_utf16_or_32(std::string_view text) {
  return (text.size() >= 1 && text[0] == '\0') || (text.size() >= 2 && text[1] == '\0') ||
         text.starts_with("\xFE\xFF") || text.starts_with("\xFF\xFE");
}

text_bounds bounds_of(std::string_view text) {
  text_bounds b;
  b.utf8 = !looks_utf16_or_32(text);
  b.nul = text.find('\0') != std::string_view::npos;
  int current = 0;
  for (char c : text) {
    if (c == '\n') {
      ++b.lines;
      current = 0;
    } else {
      b.longest = std::max(b.longest, ++current);
    }
  }
  return b;
}

// Positions are 1-based; a mark at the very end may sit one past the last line or column.
bool inside(const text_bounds& b, int line, int column) {
  if (!b.utf8) return line >= 1 && column >= 1;
  if (b.nul) return line >= 1 && line <= b.lines + 1 && column >= 1;
  return line >= 1 && line <= b.lines + 1 && column >= 1 && column <= b.longest + 2;
}

struct tree_walk {
  // Node -> its size with aliases expanded (nodes + scalar bytes, as parse_yaml counts).
  std::unordered_map<const yaml_node*, std::size_t> expanded;
  std::unordered_set<const yaml_node*> open;  // on the current path: seeing one is a cycle
};

// Checks the tree once per node (aliases share nodes) and returns its expanded size.
std::size_t check_tree(const yaml_node& node, const text_bounds& b, std::string_view text,
                       tree_walk& walk) {
  if (walk.open.contains(&node)) {
    FUZZ_CHECK(false, "the tree contains itself: " + std::string(text));
  }
  if (const auto it = walk.expanded.find(&node); it != walk.expanded.end()) return it->second;
  walk.open.insert(&node);
  std::size_t expanded = 1 + node.value.size();
  FUZZ_CHECK(inside(b, node.line, node.column), "node at " + std::to_string(node.line) + ":" +
                                                    std::to_string(node.column) + " in " +
                                                    std::string(text));
  for (const auto& item : node.items) {
    FUZZ_CHECK(item != nullptr, text);
    expanded += check_tree(*item, b, text, walk);
  }
  for (const auto& [key, value] : node.pairs) {
    FUZZ_CHECK(key != nullptr && value != nullptr, text);
    expanded += check_tree(*key, b, text, walk);
    expanded += check_tree(*value, b, text, walk);
  }
  walk.open.erase(&node);
  walk.expanded.emplace(&node, expanded);
  return expanded;
}

// mask_credentials returns, is idempotent, and leaves a text without '@' alone.
void check_mask(std::string_view text) {
  const std::string once = mask_credentials(text);
  FUZZ_CHECK(mask_credentials(once) == once, std::string(text) + " -> " + once);
  if (text.find('@') == std::string_view::npos) FUZZ_CHECK(once == text, text);
}

void check_errors(const std::vector<config_error>& errors, const text_bounds& b,
                  std::string_view text) {
  for (const auto& e : errors) {
    const std::string shown = e.to_string();
    FUZZ_CHECK(e.where.file == file_name, shown);
    FUZZ_CHECK(!e.message.empty(), shown);
    FUZZ_CHECK(shown.starts_with(std::string(file_name) + ":"), shown);
    if (e.where.line != 0) {
      FUZZ_CHECK(inside(b, e.where.line, e.where.column), shown + " in " + std::string(text));
    }
  }
}

// parse_yaml's own bounds ending a parse are not failures (a yaml-cpp loop caught), but
// worth knowing about: the first few are printed with their input.
void note_bound_hit(const std::vector<config_error>& errors, std::string_view text) {
  static int printed = 0;
  for (const auto& e : errors) {
    if (!e.message.starts_with("cannot parse: more than") &&
        !e.message.starts_with("cannot parse: gave up")) {
      continue;
    }
    if (printed++ < 5) {
      std::fprintf(stderr, "== parse bound hit: %s\n== input: %s\n", e.to_string().c_str(),
                   fuzz::escaped(text).c_str());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16 * 1024) return -1;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const text_bounds b = bounds_of(text);
  check_mask(text);

  // parse_yaml's own bounds as the loader uses them; libFuzzer's -timeout is the harder one.
  const yaml_parse_result parsed = parse_yaml(text, file_name, fake_env);
  check_errors(parsed.errors, b, text);
  note_bound_hit(parsed.errors, text);
  if (!parsed.root) {
    FUZZ_CHECK(!parsed.errors.empty(), text);
    return 0;
  }
  tree_walk walk;
  const std::size_t expanded = check_tree(*parsed.root, b, text, walk);
  // parse_yaml's default bound on the expanded document (yaml_tree.cpp): the readers
  // below walk no more than this, whatever the aliases.
  FUZZ_CHECK(expanded <= 256 * 1024 + 8 * size,
             std::to_string(expanded) + " expanded: " + std::string(text));

  // config.yaml's reader.
  std::vector<config_error> server_errors;
  server_config server = detail::default_server_config();
  server.file = file_name;
  detail::server_positions positions;
  {
    detail::error_sink sink(file_name, server_errors);
    detail::read_server_config(*parsed.root, sink, server, positions);
  }
  check_errors(server_errors, b, text);
  if (server_errors.empty()) {
    // What the gateway loads TLS contexts from: a TLS listener names a certificate and
    // its key; upstream.tls is there exactly for an https:// upstream.
    FUZZ_CHECK(!server.listen.empty(), text);
    for (const auto& l : server.listen) {
      if (!l.tls) continue;
      FUZZ_CHECK(!l.tls->certificates.empty(), text);
      for (const auto& c : l.tls->certificates) {
        FUZZ_CHECK(!c.cert.empty() && !c.key.empty(), text);
      }
    }
    const bool https = server.upstream.url.size() > 5 &&
                       (server.upstream.url[4] == 's' || server.upstream.url[4] == 'S');
    FUZZ_CHECK(server.upstream.tls.has_value() == https, text);
    if (server.upstream.tls) {
      FUZZ_CHECK(server.upstream.tls->cert.empty() == server.upstream.tls->key.empty(), text);
    }
  }

  // A policy file's reader, then the checks across items.
  std::vector<config_error> policy_errors;
  detail::policy_state state;
  {
    detail::error_sink sink(file_name, policy_errors);
    detail::read_policy_file(*parsed.root, sink, state);
  }
  detail::check_policies(state, policy_errors);
  check_errors(policy_errors, b, text);
  std::vector<config_error> cross_errors;
  detail::check_server_against_policies(server, positions, state, cross_errors);
  check_errors(cross_errors, b, text);

  // An envoyproxy/ratelimit file's reader; what it accepts indexes, and each top-level
  // descriptor with an exact value finds itself (nothing when it has no limit).
  std::vector<config_error> rls_errors;
  rls_config rls;
  read_rls_document(*parsed.root, file_name, rls_errors, rls);
  check_errors(rls_errors, b, text);
  if (rls_errors.empty() && !rls.domains.empty()) {
    const limit::rls_matcher matcher(rls);
    const auto& domain = rls.domains[0];
    for (const auto& d : domain.descriptors) {
      // An exact key/value is tried first; a wildcard or an any-value entry may be
      // shadowed by another entry of the level, so only exact values are checked.
      if (d.value.empty() || d.value.ends_with('*')) continue;
      const limit::rls_entry entry{d.key, d.value};
      const auto* found = matcher.find(domain.domain, std::span(&entry, 1));
      FUZZ_CHECK(found == (d.rate_limit ? &d : nullptr), text);
    }
    // Compiled for deciding, each such descriptor's first hit on an empty store answers
    // with its own limit: ok with one unit used, over for a limit of 0, unlimited ok.
    const limit::rls_policy rls_pol(rls, 7);
    limit::memory_store store(64);
    limit::rls_evaluation ev;
    for (const auto& d : rls_pol.config().domains[0].descriptors) {
      if (d.value.empty() || d.value.ends_with('*')) continue;
      const limit::rls_request request{domain.domain, {{{{d.key, d.value}}}}};
      limit::decide_rls(rls_pol, request, store, 1'000'000, limit::rls_charging::all_or_nothing,
                        ev);
      FUZZ_CHECK(ev.problem.empty() && ev.statuses.size() == 1, text);
      const auto& status = ev.statuses[0];
      if (!d.rate_limit || d.rate_limit->unlimited) {
        FUZZ_CHECK(status.code == limit::rls_code::ok && !status.current_limit, text);
        continue;
      }
      const std::uint32_t n = d.rate_limit->requests_per_unit;
      FUZZ_CHECK(status.current_limit && status.current_limit->requests_per_unit == n, text);
      FUZZ_CHECK(status.code == (n == 0 ? limit::rls_code::over_limit : limit::rls_code::ok), text);
      FUZZ_CHECK(status.limit_remaining == (n == 0 ? 0 : n - 1), text);
    }
  }

  if (parsed.errors.empty() && policy_errors.empty()) {
    const loaded_config cfg{detail::default_server_config(), state.policy, {}};
    const limit::policy pol(cfg, 7);
    FUZZ_CHECK(pol.routes().size() == state.policy.routes.size() + 1, text);  // + "default"
    FUZZ_CHECK(pol.limits().size() == state.policy.limits.size(), text);
    std::string path, scratch;
    int route = -1;
    if (pol.route_path("GET", "/", path, scratch, route) == limit::path_status::ok) {
      FUZZ_CHECK(route >= 0 && static_cast<std::size_t>(route) < pol.routes().size(), text);
    }
  }
  return 0;
}
