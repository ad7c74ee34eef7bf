// The Redis decision code (SPEC 7): the Lua mirrors of the five algorithms
// (gateway/limit/algorithms/*.lua) and the driver gateway/redis/decide.lua, which
// evaluates and charges every limit of a request atomically, packaged two ways:
//  - a Functions library (Redis >= 7.0), loaded once with FUNCTION LOAD and called
//    with FCALL <decide_function> (FCALL_RO <peek_function> for peeks);
//  - three EVAL scripts (decide, peek, refund) for servers without Functions
//    (Redis 6): EVALSHA, EVAL when the server answers NOSCRIPT.
// Plus the argument builder and the reply parser around them. No I/O: the caller sends
// decide_head_of() + append_decide_args() and hands the integers of the reply to
// parse_decide_reply(). Pure functions; thread-safe.
//
// Naming: the library is `sluice_<h>`, its functions `sluice_<h>_decide`,
// `sluice_<h>_peek` and `sluice_<h>_refund`, where h is the first 8 hex digits of the SHA1 of the
// library text (taken with the placeholder @LIBRARY@ where the name goes). Two Sluice versions
// sharing one Redis (a rolling upgrade) each load and call their own code, and a
// server that has `sluice_<h>` has exactly this code.
//
// Layout, the same for FCALL and EVALSHA (decide.lua documents it too):
//   KEYS[i]      the state key of limit i.
//   ARGV[2i-1]   limit i's spec (limit_spec()): "<algorithm> <count> <period_us> <burst>
//                <max_delay_us> <interval_num> <interval_den> <shadow>", algorithm as
//                the enum value, shadow 0/1. The same text on every call: the library
//                parses each spec once and remembers it.
//   ARGV[2i]     limit i's cost ("0" for a peek); a concurrency limit's is
//                "<cost> <lease id>" (script_limit::hold).
//   ARGV[2n + 1] optional "now" override in microseconds; tests only (the gateway
//                never sends it: the code uses the Redis clock, TIME, once per call).
//   Reply        integers: admitted (0/1), now_us (the Redis clock the call used), then
//                per limit: allowed (0/1), cost_exceeds_limit (0/1), limit, remaining,
//                reset_us, retry_after_us, delay_us.
// A key written by the code always carries an expiry shortly after its state turns
// equal to a fresh key's. The keys of one call must hash to one slot on a Redis
// Cluster (hash tags): that is the key builder's job.
//
// The refund (Redis Cluster). A request whose keys span slots is decided by one decide
// call per slot, in parallel; when a slot denies, each slot that admitted gets a refund
// call that gives back what its decide charged, so the denied request keeps no charge:
//   FCALL <refund_function> | EVALSHA <refund_sha>  (refund_head_of())
//   numkeys, KEYS, then per key its spec and cost  (append_refund_args(): the limits
//                that decide charged, i.e. whose decision allowed; same keys, specs and
//                costs as the decide call)
//   ARGV[2n + 1] charged_at: the now_us that decide's reply reported
//                (decide_reply_now())
//   ARGV[2n + 2] optional "now" override; tests only
//   Reply        an integer: how many limits got something back (0..n); an error reply
//                for malformed arguments (then nothing was written).
// Why this never over-admits: a refund gives back at most what that charge took, so
// after it every limit's state is at least the state it would hold had the request
// never been charged (decide.lua has the per-algorithm argument). A bucket gets back
// cost * interval minus the time elapsed since charged_at on that server (refill that
// a full bucket would have lost); a window gets back the cost while the charged window
// still counts; a log loses up to cost entries stamped charged_at. The price: requests
// that raced the refund (decided between the charge and the refund) may have been
// denied for units given back later, a brief under-admission, and a denial across
// slots costs a second round trip.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "limit/algorithms/decision.hpp"

namespace sluice::redis {

// ARGV strings per limit, and reply integers before the limits and per limit.
inline constexpr std::size_t decide_arg_fields = 2;
inline constexpr std::size_t decide_reply_header = 2;
inline constexpr std::size_t decide_reply_fields = 7;

// The decision code, assembled once from the embedded Lua files: decision.lua,
// bucket.lua, fixed_window.lua, sliding_window.lua, sliding_log.lua, decide.lua (each
// later file uses the earlier ones), then register.lua for the library.
struct decision_code {
  std::string library_name;     // sluice_<8 hex>
  std::string decide_function;  // <library_name>_decide, for FCALL
  std::string peek_function;    // <library_name>_peek (flag no-writes), for FCALL_RO
  std::string refund_function;  // <library_name>_refund, for FCALL
  std::string library;          // "#!lua name=<library_name>\n...", for FUNCTION LOAD
  std::string decide_script;    // for EVAL: the files + "return decide(KEYS, ARGV, false)"
  std::string peek_script;      // the same, ending in "return decide(KEYS, ARGV, true)"
  std::string refund_script;    // the same, ending in "return refund(KEYS, ARGV)"
  std::string decide_sha;       // SHA1 of decide_script, for EVALSHA
  std::string peek_sha;         // SHA1 of peek_script
  std::string refund_sha;       // SHA1 of refund_script
};
const decision_code& decide_code();

// How a server runs the decision: FCALL of the library, or EVALSHA of the scripts.
enum class decide_via { function, script };

// The command head: FCALL <decide_function> / FCALL_RO <peek_function>, or
// EVALSHA <decide_sha | peek_sha> (views of decide_code(): valid for ever). The
// arguments of append_decide_args() follow it.
struct decide_head {
  std::string_view command;
  std::string_view name;
};
decide_head decide_head_of(decide_via via, bool peek);

// One limit of a request as the code sees it.
struct script_limit {
  std::string key;                    // the Redis key of this limit's state
  const limit::limit_params* params;  // must outlive the call
  std::int64_t cost;
  bool shadow;  // evaluated and charged when it allows, never denies
  // A concurrency limit (limit::holds_in_flight): the lease id its slot is held under,
  // unique per request (at most 64 bytes of [A-Za-z0-9:._-]); its refund releases it.
  std::string_view hold = {};
};

// The spec text of a limit (ARGV[2i-1]).
std::string limit_spec(const limit::limit_params& params, bool shadow);

// Appends, after the head: numkeys, the keys, then a spec and a cost per limit (peek:
// cost 0). Never appends the test-only "now" override.
void append_decide_args(std::span<const script_limit> limits, bool peek,
                        std::vector<std::string>& out);

// Reads the reply (the integers of its array, in order) into one decision per limit
// (out.size() == number of limits); returns whether the request was admitted, or
// nullopt for a malformed reply (wrong length, a flag other than 0/1).
std::optional<bool> parse_decide_reply(std::span<const std::int64_t> values,
                                       std::span<limit::decision> out);

// ---- lease top-ups (issue 15, local quota leases) ----
//
// A decide call may ask each limit to charge, beyond its cost, up to top-up[i] more
// units that are available now, for the gateway's local lease (store/lease_table.hpp):
//   ARGV[2n + 1] "now" or "" (the gateway: ""), ARGV[2n + 2] "t1 t2 ... tn".
// Only an admitted request of a token_bucket, fixed_window or leaky_bucket-without-delay
// limit that allows grants, min(top-up, remaining) units charged in the same write; the
// limit's decision in the reply is then that of cost + grant. The reply ends with one
// grant per limit (0 when none). A top-up never denies a request.

// Appends the top-up arguments (after append_decide_args(): "now" or "", the top-ups).
void append_topup_args(std::span<const std::int64_t> topups, std::optional<limit::micros> now,
                       std::vector<std::string>& out);

// parse_decide_reply() of a call with top-ups: `grants` (one per limit) receives each
// limit's grant. nullopt for a malformed reply (also a grant < 0, or granted while the
// request was denied).
std::optional<bool> parse_decide_reply_with_grants(std::span<const std::int64_t> values,
                                                   std::span<limit::decision> out,
                                                   std::span<std::int64_t> grants);

// The Redis clock (microseconds since the epoch) a well-formed reply was decided at.
inline limit::micros decide_reply_now(std::span<const std::int64_t> values) {
  return values.size() >= decide_reply_header ? values[1] : 0;
}

// ---- the refund ----

// The command head of a refund: FCALL <refund_function>, or EVALSHA <refund_sha> (on
// NOSCRIPT send EVAL <refund_script> with the same arguments). Views of decide_code().
decide_head refund_head_of(decide_via via);

// The script text EVAL sends for a head of decide_head_of()/refund_head_of() via
// script (decide, peek or refund); empty for a name that is none of them.
std::string_view script_of(std::string_view sha);

// Appends, after refund_head_of(): numkeys, the keys, a spec and a cost per limit that
// the decide call charged, then charged_at. Releasing the slots of concurrency limits
// when a response ends is the same call for those limits alone (charged_at unused). `limits` and
// `decisions` are that call's limits and its parsed reply (parse_decide_reply(); the call
// admitted), in the same order; a limit was charged when its decision allowed and its cost is > 0
// (a shadow limit that denied was not). `charged_at` is decide_reply_now() of that reply. Returns
// how many limits it appended: 0 means nothing to refund (send nothing).
std::size_t append_refund_args(std::span<const script_limit> limits,
                               std::span<const limit::decision> decisions, limit::micros charged_at,
                               std::vector<std::string>& out);

// The end of a request's exchange is the same call (issue 14): a settle of a cost from
// the response gives each key the cost argument "<reserved> <actual>", settling a
// charge of `reserved` at charged_at to `actual` (decide.lua: bucket.settle(),
// fixed_window.settle()); a concurrency limit's release "<cost> <lease id>".
struct settle_limit {
  std::string key;
  const limit::limit_params* params;  // must outlive the call
  std::int64_t reserved;              // what the decide charged
  std::int64_t actual;                // what the request turned out to cost
  bool shadow;
  std::string_view hold = {};  // a concurrency limit's lease id (script_limit::hold)
};

// Appends, after refund_head_of(): numkeys, the keys, a spec and a cost argument per
// limit that settles (reserved != actual) or holds a slot, then charged_at
// (decide_reply_now() of the decide that charged). Returns how many limits it appended
// (0: nothing to do, send nothing).
std::size_t append_settle_args(std::span<const settle_limit> limits, limit::micros charged_at,
                               std::vector<std::string>& out);

// Whether a refund's reply (an integer reply) is well formed for `refunded` limits
// (0 <= value <= refunded).
inline bool refund_reply_ok(std::int64_t value, std::size_t refunded) {
  return value >= 0 && static_cast<std::uint64_t>(value) <= refunded;
}

// Lowercase hex SHA1 of `text` (what Redis names a script by).
std::string sha1_hex(std::string_view text);

}  // namespace sluice::redis
