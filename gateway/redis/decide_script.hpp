// The Redis decision script (SPEC 7): the Lua mirrors of the five algorithms
// (gateway/limit/algorithms/*.lua) and the driver gateway/redis/decide.lua, as one
// script that evaluates and charges every limit of a request atomically; plus the
// argument builder and the reply parser around it. No I/O: the caller sends
// "EVALSHA <sha>" + append_decide_args(...) and hands the integers of the reply to
// parse_decide_reply(). Pure functions; thread-safe.
//
// Layout (decide.lua documents the same):
//   KEYS[i]  the state key of limit i.
//   ARGV[1]  "1" peek (cost 0, nothing written), "0" decide.
//   ARGV[2 + 9*(i-1) .. 10 + 9*(i-1)]  limit i: algorithm (enum value), count, period_us,
//            burst, max_delay_us, interval_num, interval_den, cost, shadow (0/1).
//   ARGV[2 + 9*n]  optional "now" override in microseconds; tests only (the gateway
//            never sends it: the script uses the Redis clock, TIME).
//   Reply    integers: admitted (0/1), now_us (the Redis clock the script used), then
//            per limit: allowed (0/1), cost_exceeds_limit (0/1), limit, remaining,
//            reset_us, retry_after_us, delay_us.
// A key written by the script always carries an expiry shortly after its state turns
// equal to a fresh key's. The keys of one request must hash to one slot on a Redis
// Cluster (hash tags): that is the key builder's job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "limit/algorithms/decision.hpp"

namespace sluice::redis {

// Integers per limit in ARGV and in the reply, and reply integers before the limits.
inline constexpr std::size_t decide_arg_fields = 9;
inline constexpr std::size_t decide_reply_header = 2;
inline constexpr std::size_t decide_reply_fields = 7;

// decision.lua, bucket.lua, fixed_window.lua, sliding_window.lua, sliding_log.lua and
// decide.lua, concatenated in that order (each later file uses the earlier ones).
const std::string& decide_script();

// One limit of a request as the script sees it.
struct script_limit {
  std::string key;                    // the Redis key of this limit's state
  const limit::limit_params* params;  // must outlive the call
  std::int64_t cost;
  bool shadow;  // evaluated and charged when it allows, never denies
};

// Appends, after "EVALSHA <sha>": numkeys, the keys and ARGV for these limits (peek:
// cost 0, no writes). Never appends the test-only "now" override.
void append_decide_args(std::span<const script_limit> limits, bool peek,
                        std::vector<std::string>& out);

// Reads the script's reply (the integers of its array, in order) into one decision
// per limit (out.size() == number of limits); returns whether the request was
// admitted, or nullopt for a malformed reply (wrong length, a flag other than 0/1).
std::optional<bool> parse_decide_reply(std::span<const std::int64_t> values,
                                       std::span<limit::decision> out);

// The Redis clock (microseconds since the epoch) a well-formed reply was decided at.
inline limit::micros decide_reply_now(std::span<const std::int64_t> values) {
  return values.size() >= decide_reply_header ? values[1] : 0;
}

}  // namespace sluice::redis
