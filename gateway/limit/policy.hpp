// The policies compiled for the request path: routes with their costs and the limits
// that may apply to them, limits with ready-made algorithm parameters (per tier for
// tier-aware limits), tiers, API keys and the static access lists.
//
// Built once per configuration snapshot from a validated config::loaded_config (the
// loader has already rejected everything invalid). Immutable and thread-safe after
// construction; shared by every request of that snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/calendar.hpp"
#include "config/path.hpp"
#include "config/schema.hpp"
#include "limit/algorithms/decision.hpp"
#include "limit/route_matcher.hpp"
#include "util/jwt.hpp"

namespace sluice::limit {

inline constexpr int no_tier = -1;

struct compiled_limit {
  std::string name;
  std::string name_json;  // the name escaped for the inside of a JSON string (a 429's body)
  std::vector<config::key_part> key;
  algorithm algo = algorithm::token_bucket;
  bool tier_aware = false;
  bool shadow = false;
  bool fallback_ip = false;
  // Adaptive or penalty configured: prepare() asks the scaling sources (limit/scaling.hpp).
  bool scales = false;
  config::count_mode count = config::count_mode::cost;
  // `soft:` (limit/soft_limit.hpp): admitted past this share or count -> degraded.
  std::optional<config::soft_def> soft;
  // `penalty:` (limit/penalty_box.hpp): when and how much a key's limit is scaled down.
  std::optional<config::penalty_def> penalty;
  // `adaptive:` (limit/load_factors.hpp): the signal and the range of its factor.
  std::optional<config::adaptive_def> adaptive;
  // `lease:` (limit/lease_table.hpp): the Redis backend spends up to max_tokens locally.
  std::optional<config::lease_def> lease;
  // Set when a rate of the limit counts calendar periods (limit_params::calendar): the
  // zone and anchor the engine works out each request's period with.
  std::optional<limit::calendar> calendar;
  // `tenant_rate:` (issue 14): N per request from a claim or a trusted header, at most
  // max; the limit's own params give the period and the default. configured_burst is
  // the policy's `burst` (0 = N), scaled for a tenant's N (tenant_burst).
  std::optional<config::tenant_rate_def> tenant_rate;
  std::int64_t configured_burst = 0;
  // `cost:` (issue 14, limit/response_cost.hpp): the request is charged its reserve,
  // then settled to what the response says it cost.
  std::optional<config::response_cost_def> response_cost;
  std::vector<std::string> methods;                   // empty = every method
  limit_params params;                                // when !tier_aware
  std::vector<std::optional<limit_params>> per_tier;  // when tier_aware; nullopt = unlimited
  // `shards: N` (limit/shards.hpp): with N > 1 each request charges the sub-key
  // "<key>#<i>" of its client, whose parameters are these (the budget split over N).
  int shards = 1;
  std::vector<limit_params> shard_params;                             // !tier_aware, [shard]
  std::vector<std::vector<std::optional<limit_params>>> tier_shards;  // tier_aware, [tier][shard]
  // key: global (one key text for every request): each sub-key's suffix "#<j>", worked
  // out once here rather than per request (sub_key_number costs ~N CRC steps).
  std::vector<std::string> global_suffixes;
  // Namespace of this limit's keys in the stores: a hash of (name, key, algorithm, and
  // shards when > 1), so state survives a reload exactly when those are unchanged (SPEC 6).
  std::uint64_t state_seed = 0;

  // The parameters of the whole limit for a client of `tier`, or nullptr when the limit
  // does not apply (tier-aware limit and the client has no tier, or an unlimited one).
  const limit_params* params_for(int tier) const;
  // The parameters of sub-key `shard` (in [0, shards)) for a client of `tier`: those of
  // params_for() when shards == 1; nullptr when the limit does not apply.
  const limit_params* shard_params_for(int tier, int shard) const;
  bool applies_to_method(std::string_view method) const;
};

struct compiled_route {
  std::string name;
  std::int64_t cost = 1;
  bool bypass = false;                // `limits: off`
  std::vector<std::uint16_t> limits;  // limits whose `routes:` admit this route, in order
};

struct api_key_info {
  int tier = no_tier;  // from the key's entry; no_tier = not set
  std::string user;    // empty = none
};

// Transparent hashing so string_view lookups do not allocate.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
using string_set = std::unordered_set<std::string, string_hash, std::equal_to<>>;

struct compiled_access_list {
  std::vector<cidr> ips;
  string_set api_keys;
  string_set users;
  bool empty() const { return ips.empty() && api_keys.empty() && users.empty(); }
};

class policy {
 public:
  // `hash_seed` keys the state hashes (random per process, so it is stable across
  // reloads but unpredictable to clients).
  policy(const config::loaded_config& cfg, std::uint64_t hash_seed);

  const config::identity_config& identity() const { return identity_; }
  // identity.jwt's rules for verify_jwt (issuers, audiences, leeway); null without it.
  const jwt_rules* token_rules() const { return token_rules_ ? &*token_rules_ : nullptr; }
  const config::headers_config& headers() const { return headers_; }
  std::uint64_t hash_seed() const { return hash_seed_; }

  // Path normalization + route matching (SPEC 3), pure and thread-safe: normalizes
  // `raw_path` (a request target's part before '?') with the `routing:` options into
  // `path` and sets `route` to the first route matching it, or to the implicit route
  // "default". A `limits: off` route is reached only by a spelling that matches it
  // without case folding or matrix-parameter stripping; otherwise the route the
  // unfolded spelling matches applies. `scratch` is a reused buffer. Returns why the
  // path is rejected (route then -1), or path_status::ok.
  path_status route_path(std::string_view method, std::string_view raw_path, std::string& path,
                         std::string& scratch, int& route) const;
  const path_options& routing() const { return routing_; }
  const compiled_route& route(int index) const { return routes_[index]; }
  std::span<const compiled_route> routes() const { return routes_; }

  std::span<const compiled_limit> limits() const { return limits_; }
  // Index of the limit named `name`, or -1.
  int find_limit(std::string_view name) const;
  // Some limit holds in-flight slots or settles a cost from the response: admitted
  // requests have something to finish when their exchange ends (evaluation::finishes).
  bool finishes_exchanges() const { return finishes_exchanges_; }

  std::span<const std::string> tier_names() const { return tier_names_; }
  int find_tier(std::string_view name) const;  // -1 when unknown
  int default_tier() const { return default_tier_; }

  const api_key_info* find_api_key(std::string_view key) const;

  const compiled_access_list& allow_list() const { return allow_; }
  const compiled_access_list& deny_list() const { return deny_; }

 private:
  config::identity_config identity_;
  std::optional<jwt_rules> token_rules_;
  config::headers_config headers_;
  std::uint64_t hash_seed_;
  path_options routing_;
  route_matcher matcher_;               // patterns normalized with routing_
  route_matcher unfolded_matcher_;      // with routing_ minus folding; empty when nothing folds
  bool off_patterns_fold_ = false;      // a `limits: off` pattern changes when folded
  std::vector<compiled_route> routes_;  // the configured routes, then "default"
  std::vector<compiled_limit> limits_;
  bool finishes_exchanges_ = false;
  std::vector<std::string> tier_names_;
  int default_tier_ = no_tier;
  std::unordered_map<std::string, api_key_info, string_hash, std::equal_to<>> api_keys_;
  compiled_access_list allow_;
  compiled_access_list deny_;
};

}  // namespace sluice::limit
