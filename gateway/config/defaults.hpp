// Every default of config.yaml and the policies in one place (SPEC section 2/3).
// The loader starts from these values; nothing else hard-codes a default.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace sluice::config::defaults {

using namespace std::chrono_literals;

inline constexpr std::string_view config_path = "config.yaml";
inline constexpr std::string_view listen = "0.0.0.0:8080";

inline constexpr std::string_view upstream_url = "http://127.0.0.1:8000";  // the demo upstream
inline constexpr std::chrono::milliseconds upstream_connect_timeout = 2s;
inline constexpr std::chrono::milliseconds upstream_timeout = 30s;
inline constexpr int upstream_max_idle_connections = 256;
inline constexpr int circuit_breaker_failures = 5;
inline constexpr std::chrono::milliseconds circuit_breaker_cooldown = 10s;
// Bound on an upstream response head (not configurable: the upstream is trusted).
inline constexpr std::uint64_t upstream_max_header_bytes = 64 * 1024;

inline constexpr int server_threads = 0;  // 0 = one per core
inline constexpr std::chrono::milliseconds header_timeout = 10s;
inline constexpr std::chrono::milliseconds idle_timeout = 60s;
inline constexpr std::uint64_t max_header_bytes = 16 * 1024;
inline constexpr std::uint64_t max_body_bytes = 10 * 1024 * 1024;
inline constexpr std::chrono::milliseconds drain_timeout = 10s;
inline constexpr std::string_view access_log = "stdout";
// 0 = derived from the open-file limit at start (util/open_files.hpp).
inline constexpr int max_connections = 0;

inline constexpr std::string_view admin_listen = "127.0.0.1:9901";
inline constexpr std::array<std::string_view, 2> admin_allow = {"127.0.0.0/8", "::1/128"};

inline constexpr std::string_view client_ip_header = "x-forwarded-for";
inline constexpr int ipv6_prefix = 64;
inline constexpr std::string_view api_key_header = "X-API-Key";
inline constexpr std::string_view api_key_query = "api_key";
inline constexpr std::string_view user_header = "X-User-ID";
inline constexpr bool user_trusted_only = true;  // like the tier header: only from trusted proxies
inline constexpr std::string_view tier_header = "X-Client-Tier";

inline constexpr bool legacy_headers = true;
inline constexpr std::string_view legacy_reset = "epoch";
inline constexpr std::string_view standard_headers = "draft-6";
inline constexpr bool retry_after = true;

inline constexpr std::string_view storage_backend = "memory";

inline constexpr std::uint64_t max_keys = 1'000'000;
inline constexpr std::string_view redis_mode = "single";
inline constexpr std::string_view redis_address = "127.0.0.1:6379";
inline constexpr std::string_view redis_sentinel_address = "127.0.0.1:26379";  // mode: sentinel
inline constexpr std::chrono::milliseconds redis_timeout = 25ms;
inline constexpr int redis_connections = 1;  // per I/O thread (redis::client)
inline constexpr std::string_view redis_key_prefix = "sluice:";
inline constexpr int redis_database = 0;
// Entries of the Redis backend's local-denial cache (~80 bytes each: ~5 MiB).
inline constexpr std::uint64_t redis_local_denials = 65'536;
inline constexpr std::string_view storage_on_error = "local";

inline constexpr std::string_view policies = "policies/";
inline constexpr bool reload_watch = true;
// Bound on the CPU time parsing one config or policy file may take (not configurable: it
// guards the parse that reads the configuration; config/yaml_tree.cpp says why).
inline constexpr std::chrono::milliseconds config_parse_cpu_time_limit = 10s;
// Bound on the size of one config or policy file (1M API keys take ~31 MB).
inline constexpr std::uint64_t max_config_file_bytes = 64ull * 1024 * 1024;

inline constexpr std::int64_t route_cost = 1;
// The policies' `routing:` block (README "Routes" says why these are the safe choices).
inline constexpr bool routing_case_insensitive = false;
inline constexpr bool routing_strip_matrix_params = true;
inline constexpr bool routing_allow_encoded_slash = false;
inline constexpr std::string_view limit_algorithm = "token_bucket";
inline constexpr std::string_view limit_count = "cost";
// A limit's `shards: N` (README "Policies"): its budget split over N sub-keys.
inline constexpr int limit_shards = 1;
inline constexpr int max_limit_shards = 64;
// algorithm: concurrency (README "In-flight limits"): the bound on `max`, and how long a
// slot is held when its request never ends (a crashed gateway), by default and at most.
inline constexpr std::int64_t max_in_flight = 1'000'000;
inline constexpr std::chrono::milliseconds in_flight_lease = 60s;
inline constexpr std::chrono::milliseconds max_in_flight_lease = 24h;
// A limit's `penalty:` (README "Penalty box"): `when:` defaults and the bounds of its
// window and duration; the box holds at most penalty_max_keys (limit, key) entries
// (~100 bytes each, plus the key text of boxed ones).
inline constexpr double penalty_rejected_share = 0.5;
inline constexpr std::int64_t penalty_min_requests = 20;
inline constexpr std::chrono::milliseconds penalty_window = 1min;
inline constexpr std::int64_t penalty_max_min_requests = 1'000'000;
inline constexpr std::chrono::milliseconds penalty_max_window = 1h;
inline constexpr std::chrono::milliseconds penalty_max_duration = 24h;
inline constexpr std::uint64_t penalty_max_keys = 65'536;
// A limit's `adaptive:` (README "Load-aware limits"): the factor's default range, the
// largest latency target, and how many limits may be adaptive (the factor table's size).
inline constexpr double adaptive_min_factor = 0.25;
inline constexpr double adaptive_max_factor = 1.0;
inline constexpr std::chrono::milliseconds adaptive_max_latency_target = 60s;
inline constexpr std::int64_t adaptive_max_inflight_target = 1'000'000;
inline constexpr std::size_t max_adaptive_limits = 64;
// A limit's `lease:` (README "Local quota leases"): the bound of max_age, and how many
// (limit, key) leases one gateway holds at most (~200 bytes each plus the Redis key).
inline constexpr std::chrono::milliseconds lease_max_age = 10s;
inline constexpr std::int64_t lease_max_tokens = 1'000'000;
inline constexpr std::size_t lease_max_entries = 65'536;

}  // namespace sluice::config::defaults
