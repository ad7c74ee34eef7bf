// A small YAML document tree that keeps what yaml-cpp's node API loses: every map
// pair in source order (duplicate keys included) and 1-based positions. Built by
// parse_yaml (the only code that includes yaml-cpp); owned by the loader for the
// duration of one load. Immutable after parse; not shared between threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/defaults.hpp"
#include "config/loader.hpp"

namespace sluice::config {

struct yaml_node;
using yaml_node_ptr = std::shared_ptr<const yaml_node>;

struct yaml_node {
  enum class kind { null, scalar, sequence, map };

  kind type = kind::null;
  std::string value;    // scalar text, after ${VAR} substitution
  bool quoted = false;  // the scalar was quoted or explicitly tagged (always a string)
  std::string error;    // substitution failed: reported by whoever reads the value
  // The scalar as written ("${REDIS_URL}") when ${VAR} substitution changed it. Values
  // from the environment may hold secrets: messages show this instead of the value.
  std::string source;
  int line = 0;                                                // 1-based
  int column = 0;                                              // 1-based
  std::vector<yaml_node_ptr> items;                            // sequence
  std::vector<std::pair<yaml_node_ptr, yaml_node_ptr>> pairs;  // map, in order, duplicates kept
};

struct yaml_parse_result {
  yaml_node_ptr root;                // null node for an empty document; unset on a syntax error
  std::vector<config_error> errors;  // a syntax error, or more than one document
};

// The CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID).
std::chrono::nanoseconds thread_cpu_time();

// Bounds on one parse_yaml call (yaml-cpp 0.7 never finishes some inputs; yaml_tree.cpp
// says which and how they are caught). The defaults fit every use; tests shrink them.
struct yaml_parse_limits {
  std::chrono::milliseconds cpu_time_limit = defaults::config_parse_cpu_time_limit;
  std::function<std::chrono::nanoseconds()> cpu_clock = thread_cpu_time;
  std::size_t max_events = 0;  // parser events; 0 = in proportion to the text's size
  // Nodes plus scalar bytes of the document with every alias expanded (and ${VAR}s
  // substituted): what the readers walk. 0 = in proportion to the text's size.
  std::size_t max_expanded = 0;
};

// Parses one YAML document from `text`. Scalar values (not keys) get ${VAR} and
// ${VAR:-default} substituted through `env` (a failure is kept in yaml_node::error so
// that it is reported with its field path). Aliases resolve to the anchored node, which
// is shared, not copied; an alias inside the node it names is an error (a node cannot
// contain itself), so the tree has no cycle. More than one document is an error; errors
// name `file`. Returns for any text, within `limits` ("file:line:col: cannot parse:
// <reason>" beyond them; the expanded size bounds what aliases can make the readers
// walk: no alias bomb); safe to fuzz.
yaml_parse_result parse_yaml(std::string_view text, const std::string& file, const env_lookup& env,
                             const yaml_parse_limits& limits = {});

// "a map", "a list", "nothing" or the quoted scalar, for "expected X, got Y" messages.
std::string describe(const yaml_node& node);

}  // namespace sluice::config
