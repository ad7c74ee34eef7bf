// Typed, position-aware reading of a yaml_node tree for the loader's first pass:
// wrong types, out-of-range values, unknown and duplicate keys become config_errors
// naming the field path ("limits[2].rate"). Used only inside the loader, one
// instance per file being read; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/loader.hpp"
#include "config/schema.hpp"
#include "config/yaml_tree.hpp"

namespace sluice::config::detail {

// `message` with every occurrence of `node`'s value (as a whole word) replaced by the
// text as written when it came from ${VAR} substitution (yaml_node::source): values
// from the environment may be secrets ("redis://:password@host") and messages reach
// logs and /admin/stats.
std::string without_substituted_value(const yaml_node& node, std::string message);

// Appends errors for one file into a vector the loader owns; one per file read.
class error_sink {
 public:
  error_sink(std::string file, std::vector<config_error>& out)
      : file_(std::move(file)), out_(out) {}

  const std::string& file() const { return file_; }
  source_location where(const yaml_node& node) const { return {file_, node.line, node.column}; }
  // A message about a value from ${VAR} shows the reference, never the value.
  void add(const yaml_node& at, std::string field, std::string message) {
    out_.push_back(
        {where(at), std::move(field), without_substituted_value(at, std::move(message))});
  }
  void add(source_location at, std::string field, std::string message) {
    out_.push_back({std::move(at), std::move(field), std::move(message)});
  }
  std::size_t count() const { return out_.size(); }

 private:
  std::string file_;
  std::vector<config_error>& out_;
};

// "a" + "b" -> "a.b"; "" + "b" -> "b".
std::string join_path(std::string_view base, std::string_view key);
// "limits" + 2 -> "limits[2]".
std::string index_path(std::string_view base, std::size_t index);

// A mapping's keys checked once: a non-map, non-scalar keys, unknown keys (when
// `allowed` is non-empty) and duplicate keys are reported at construction. Borrows
// the node (which must outlive it); one per map read; not thread-safe.
class map_reader {
 public:
  map_reader(const yaml_node& node, std::string path, error_sink& sink,
             std::initializer_list<std::string_view> allowed);

  bool ok() const { return ok_; }  // the node was a map (or null, read as empty)
  const yaml_node& node() const { return node_; }
  const std::string& path() const { return path_; }

  // The value of the first occurrence of `key`; nullptr when absent or null.
  const yaml_node* get(std::string_view key) const;
  std::string path(std::string_view key) const { return join_path(path_, key); }

  // Every key with its value, first occurrences only, in order (for name -> value maps).
  const std::vector<std::pair<const yaml_node*, const yaml_node*>>& entries() const {
    return entries_;
  }

 private:
  const yaml_node& node_;
  std::string path_;
  bool ok_ = false;
  std::vector<std::pair<const yaml_node*, const yaml_node*>> entries_;
  // Key text -> index in entries_: maps with tens of thousands of keys (clients.api_keys)
  // are read in linear time. The views point into the YAML tree, which outlives this.
  std::unordered_map<std::string_view, std::size_t> index_;
};

// Each reader returns nullopt after reporting why (or, for a value whose ${VAR}
// substitution failed, after reporting that).
std::optional<std::string> read_string(const yaml_node& node, const std::string& path,
                                       error_sink& sink);
std::optional<bool> read_bool(const yaml_node& node, const std::string& path, error_sink& sink);
std::optional<std::int64_t> read_int(const yaml_node& node, const std::string& path,
                                     error_sink& sink, std::int64_t min, std::int64_t max);
std::optional<std::chrono::milliseconds> read_duration(const yaml_node& node,
                                                       const std::string& path, error_sink& sink);
std::optional<std::uint64_t> read_size(const yaml_node& node, const std::string& path,
                                       error_sink& sink, std::uint64_t min, std::uint64_t max);
std::optional<rate> read_rate(const yaml_node& node, const std::string& path, error_sink& sink);
std::optional<cidr> read_cidr(const yaml_node& node, const std::string& path, error_sink& sink);
std::optional<host_port> read_host_port(const yaml_node& node, const std::string& path,
                                        error_sink& sink);
// A file's path (non-empty), resolved against the directory of the file being read
// (an absolute path as given).
std::optional<std::string> read_file_path(const yaml_node& node, const std::string& path,
                                          error_sink& sink);

// A list's items with their paths; a scalar counts as a one-item list when
// `scalar_ok` (e.g. `listen: a:1` or `key: ip`).
struct list_item {
  const yaml_node* node;
  std::string path;
};
std::optional<std::vector<list_item>> read_list(const yaml_node& node, const std::string& path,
                                                error_sink& sink, bool scalar_ok);

// Reads one of `values`; otherwise "unknown <what> 'x' (expected one of: a, b)".
template <class E>
std::optional<E> read_enum(const yaml_node& node, const std::string& path, error_sink& sink,
                           std::initializer_list<std::pair<std::string_view, E>> values,
                           std::string_view what = "value") {
  auto text = read_string(node, path, sink);
  if (!text) return std::nullopt;
  std::string names;
  for (const auto& [name, value] : values) {
    if (*text == name) return value;
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  sink.add(node, path,
           "unknown " + std::string(what) + " '" + *text + "' (expected one of: " + names + ")");
  return std::nullopt;
}

// Parses "host:port" or "[v6]:port" (port 1..65535); the error message otherwise.
struct host_port_result {
  std::optional<host_port> value;
  std::string error;
};
host_port_result parse_host_port(std::string_view text);

// The enum value named `name` in `values` (used to turn defaults.hpp text into enums).
template <class E>
E enum_named(std::initializer_list<std::pair<std::string_view, E>> values, std::string_view name) {
  for (const auto& [n, v] : values) {
    if (n == name) return v;
  }
  return values.begin()->second;
}

// True for an RFC 9110 token (header names, methods).
bool is_http_token(std::string_view text);

// `text` with A-Z lowered (header names, units, URL schemes).
std::string lower_ascii(std::string text);

// A JWT claim's name as the config may give it (identity.user.claim, identity.tier.claim,
// a `jwt:<claim>` key part, tenant_rate.claim): 1 to 128 printable ASCII bytes, no space.
bool is_claim_name(std::string_view text);
inline constexpr std::string_view claim_name_rule = "printable ASCII, at most 128 bytes";

// A claim's name (is_claim_name); nullopt after reporting otherwise.
std::optional<std::string> read_claim_name(const yaml_node& node, const std::string& path,
                                           error_sink& sink);

}  // namespace sluice::config::detail
