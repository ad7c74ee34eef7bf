#include "limit/shards.hpp"

#include <charconv>

#include "util/crc16.hpp"
#include "util/hash.hpp"

namespace sluice::limit {
namespace {

// Fixed, not the per-process seed: every gateway must pick the same sub-key for a client.
constexpr std::uint64_t shard_seed = 0x5148a2d5c1u;

}  // namespace

limit_params shard_params(const limit_params& full, int shards, int index) {
  const std::int64_t burst = full.burst > 0 ? shard_share(full.burst, shards, index) : 0;
  limit_params p = limit_params::make(full.algo, shard_share(full.count, shards, index),
                                      full.period, burst, full.max_delay);
  p.origin = full.origin;
  p.calendar = full.calendar;
  return p;
}

int shard_of_client(std::string_view client, int shards) {
  if (shards <= 1) return 0;
  return static_cast<int>(hash64(client, shard_seed) % static_cast<std::uint64_t>(shards));
}

int sub_key_number(std::string_view key, int shard, int shards) {
  constexpr std::uint32_t slots = 16384;  // Redis Cluster's slot count
  const std::uint16_t prefix = crc16_update(crc16(key), "#");
  // Each j lands in range `shard` with probability 1/shards: found after ~shards steps;
  // the bound is never reached in practice ((63/64)^(2^20) is 0 in doubles).
  for (int j = 0; j < (1 << 20); ++j) {
    char digits[8];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), j);
    const std::uint32_t slot = crc16_update(prefix, std::string_view(digits, end - digits)) % slots;
    if (static_cast<int>(slot * static_cast<std::uint32_t>(shards) / slots) == shard) return j;
  }
  return shard;
}

void append_shard_suffix(std::string& keys, std::size_t key_begin, int shard, int shards) {
  const int j = sub_key_number(std::string_view(keys).substr(key_begin), shard, shards);
  std::string& key = keys;
  char digits[8];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), j);
  key += '#';
  key.append(digits, end);
}

}  // namespace sluice::limit
