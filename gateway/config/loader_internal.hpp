// The loader's internal steps, shared by loader.cpp, server_reader.cpp,
// policy_reader.cpp and policy_checks.cpp. Pass 1 reads each file into schema
// structs plus the positions pass 2 needs; pass 2 checks meaning across files.
// One instance per load_config call; not thread-safe.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/reader.hpp"
#include "config/schema.hpp"
#include "config/yaml_tree.hpp"

namespace sluice::config::detail {

// Positions in config.yaml that pass 2 or the policy lookup needs.
struct server_positions {
  std::optional<source_location> check_limit;
  source_location policies;    // the `policies` value, or the file itself when defaulted
  bool policies_ok = true;     // the `policies` value was a readable string
  source_location rls_config;  // the `rls.config` value, when there is one
  source_location jwks_file;   // the `identity.jwt.jwks_file` value, when there is one
  // identity.user.claim / identity.tier.claim, when given (they need identity.jwt).
  std::optional<source_location> user_claim, tier_claim;
};

// Reads `path` (a regular file of at most max_config_file_bytes) and parses it into a
// tree; reports an unreadable file or a syntax error and returns null.
yaml_node_ptr parse_file(const std::string& path, const env_lookup& env,
                         std::vector<config_error>& errors);

// Reads config.yaml (pass 1); `config` starts from the defaults.
void read_server_config(const yaml_node& root, error_sink& sink, server_config& config,
                        server_positions& positions);

// A default-filled server_config (every value from defaults.hpp).
server_config default_server_config();

// A value's position and field path.
struct located {
  source_location at;
  std::string path;
};

// Where each policy item and its checked fields came from.
struct tier_info {
  std::string path;  // "tiers.free"
};

struct api_key_info {
  std::string path;  // "clients.api_keys.key-demo"
  std::optional<source_location> tier_at;
};

struct route_info {
  std::string path;  // "routes[3]"
  std::optional<source_location> cost_at;
};

struct limit_info {
  std::string path;    // "limits[2]"
  source_location at;  // the item itself
  bool key_ok = false;
  bool algorithm_ok = true;
  bool tier_ok = true;     // `tier:` read (or absent)
  bool numbers_ok = true;  // rate/burst/delay read without error (or absent)
  bool count_ok = true;
  bool methods_ok = true;
  std::optional<source_location> rate_at, burst_at, tier_at, delay_at, shards_at;
  std::optional<source_location> soft_at;           // `soft:` read without error
  std::optional<source_location> lease_at;          // `lease:` read without error (its max_tokens)
  std::optional<source_location> calendar_at;       // `calendar:` read without error
  std::optional<source_location> anchor_at;         // its anchor_day, when given
  std::optional<source_location> tenant_rate_at;    // `tenant_rate:` read without error
  std::optional<source_location> max_at;            // `max:` (algorithm: concurrency)
  std::optional<source_location> response_cost_at;  // `cost:` read without error
  std::optional<source_location> penalty_at, adaptive_at;
  std::vector<located> route_entries;  // one per routes: entry
  bool complete() const {
    return key_ok && algorithm_ok && tier_ok && numbers_ok && count_ok && methods_ok;
  }
};

// Every policy file read so far, merged, with the positions of its items.
struct policy_state {
  policy_config policy;
  std::vector<tier_info> tiers;                                // parallel to policy.tiers
  std::vector<api_key_info> api_keys;                          // parallel to policy.api_keys
  std::unordered_map<std::string, std::size_t> api_key_index;  // key -> index in api_keys
  std::vector<route_info> routes;                              // parallel to policy.routes
  std::vector<limit_info> limits;                              // parallel to policy.limits
  std::optional<source_location> default_tier_at;
  std::optional<source_location> routing_at;  // the first `routing:` block
};

// Reads one policy file (pass 1) and merges it into `state`; names defined in an
// earlier file are reported as duplicates at the later definition.
void read_policy_file(const yaml_node& root, error_sink& sink, policy_state& state);

// A plain decimal number ("0.5", "1", ".25") above 0 and below 1 (at most 1 when
// `max_inclusive`); nullopt after reporting "expected a number <range>, got '...'".
std::optional<double> read_number(const yaml_node& node, const std::string& path, error_sink& sink,
                                  bool max_inclusive, std::string_view range);

// A duration in (0, max] in microseconds; nullopt after reporting otherwise.
std::optional<limit::micros> read_bounded_duration(const yaml_node& node, const std::string& path,
                                                   error_sink& sink, std::chrono::milliseconds max);

// config.yaml's `listen` (config/listen_reader.cpp); sets `out` when every entry is valid.
void read_listen(const yaml_node& node, error_sink& sink, std::vector<listen_address>& out);

// A limit's `adaptive:` (config/adaptive_reader.cpp); sets limit.adaptive when valid.
void read_adaptive(const yaml_node& node, const std::string& path, error_sink& sink,
                   limit_def& limit);

// A limit's `penalty:` (config/penalty_reader.cpp); sets limit.penalty when valid.
void read_penalty(const yaml_node& node, const std::string& path, error_sink& sink,
                  limit_def& limit);

// A limit's `lease:` (config/lease_reader.cpp); sets limit.lease and info.lease_at when
// valid. Call after the limit's algorithm and delay are read.
void read_lease(const yaml_node& node, const std::string& path, error_sink& sink, limit_def& limit,
                limit_info& info);

// A `calendar: { time_zone, anchor_day }` block (config/calendar_reader.cpp), checked
// alone (the zone exists, anchor_day in 1..31); sets *anchor_at to anchor_day's place.
std::optional<calendar_def> read_calendar_def(const yaml_node& node, const std::string& path,
                                              error_sink& sink,
                                              std::optional<source_location>* anchor_at);

// A limit's `calendar:` (config/calendar_reader.cpp); sets limit.calendar and
// info.calendar_at when valid. Pass 2 checks it against the limit's rates.
void read_calendar(const yaml_node& node, const std::string& path, error_sink& sink,
                   limit_def& limit, limit_info& info);

// A list (or one string) of non-empty strings; nullopt when any item is not one. With
// `where`, each item's place.
std::optional<std::vector<std::string>> read_strings(const yaml_node& node, const std::string& path,
                                                     error_sink& sink, bool scalar_ok,
                                                     std::vector<located>* where = nullptr);

// A limit's `cost:` (config/response_cost_reader.cpp); sets limit.response_cost when valid.
void read_response_cost(const yaml_node& node, const std::string& path, error_sink& sink,
                        limit_def& limit, limit_info& info);

// A limit's `tenant_rate:` (config/tenant_rate_reader.cpp); sets limit.tenant_rate and
// info.tenant_rate_at when valid. Pass 2 checks it against the rate and algorithm.
void read_tenant_rate(const yaml_node& node, const std::string& path, error_sink& sink,
                      limit_def& limit, limit_info& info);

// Pass 2: references between items and files, and whether the numbers make sense.
void check_policies(const policy_state& state, std::vector<config_error>& errors);

// The rate algorithms a limit may name (`algorithm:`), for the RLS extension; a policy's
// limits may also name concurrency (policy_reader.cpp).
extern const std::initializer_list<std::pair<std::string_view, limit::algorithm>> algorithm_names;
// Why (algorithm, rate, burst, delay) cannot run exactly on both backends, or "".
std::string numbers_problem(limit::algorithm algo, const rate& r, std::int64_t burst,
                            limit::micros delay);

// admin.check_limit must name a defined limit.
void check_server_against_policies(const server_config& server, const server_positions& positions,
                                   const policy_state& state, std::vector<config_error>& errors);

}  // namespace sluice::config::detail
