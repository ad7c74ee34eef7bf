#include "limit/shards.hpp"

#include <charconv>

#include "util/hash.hpp"

namespace sluice::limit {
namespace {

// Fixed, not the per-process seed: every gateway must pick the same sub-key for a client.
constexpr std::uint64_t shard_seed = 0x5148a2d5c1u;

}  // namespace

limit_params shard_params(const limit_params& full, int shards, int index) {
  const std::int64_t burst = full.burst > 0 ? shard_share(full.burst, shards, index) : 0;
  return limit_params::make(full.algo, shard_share(full.count, shards, index), full.period, burst,
                            full.max_delay);
}

int shard_of_client(std::string_view client, int shards) {
  if (shards <= 1) return 0;
  return static_cast<int>(hash64(client, shard_seed) % static_cast<std::uint64_t>(shards));
}

void append_shard_suffix(std::string& key, int index) {
  char digits[8];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), index);
  key += '#';
  key.append(digits, end);
}

}  // namespace sluice::limit
