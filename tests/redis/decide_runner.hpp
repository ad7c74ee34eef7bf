// Test-only driver of the Redis decision code over a synchronous hiredis connection:
// loads decide_code() (the Functions library with FUNCTION LOAD, or the EVAL scripts
// with SCRIPT LOAD), sends FCALL/FCALL_RO or EVALSHA with append_decide_args() (plus
// the test-only "now" override when given) and parses the reply with
// parse_decide_reply(); sends refunds (refund_head_of() + append_refund_args()). Also snapshots
// keys for the all-or-nothing assertions. One per thread; not thread-safe. Also the
// names the Redis decision tests share (all_algorithms, describe()).
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "limit/algorithms/decision.hpp"
#include "redis/decide_script.hpp"
#include "support/redis_server.hpp"

namespace sluice::redis::test {

using limit::algorithm;
using limit::decision;
using limit::limit_params;
using limit::micros;
using sluice::test::redis_context;
using sluice::test::redis_server;

// Every algorithm, for the tests that run each of them.
inline constexpr algorithm all_algorithms[] = {algorithm::token_bucket, algorithm::leaky_bucket,
                                               algorithm::fixed_window, algorithm::sliding_window,
                                               algorithm::sliding_log};

// A limit's parameters as failure messages name them.
inline std::string describe(const limit_params& p) {
  std::ostringstream os;
  os << to_string(p.algo) << " count=" << p.count << " period=" << p.period << " burst=" << p.burst
     << " max_delay=" << p.max_delay << " origin=" << p.origin;
  return os.str();
}

struct decide_outcome {
  bool admitted = false;
  limit::micros now = 0;  // the clock the code decided at
  std::vector<limit::decision> decisions;
};

// decide.lua's packed state of buckets and windows as "<tag> <integers>" (e.g.
// "tb 1767225607142860 1"), without its last integer (the expiry it records; with
// `expiry`, that goes there): a tag byte (1 tb, 2 lb, 3 fw, 4 sw), then little-endian
// int64s, three (25 bytes) or four for sliding_window (33 bytes); nullopt otherwise.
inline std::optional<std::string> packed_state_text(std::string_view raw,
                                                    std::int64_t* expiry = nullptr) {
  static constexpr const char* tags[] = {"tb", "lb", "fw", "sw"};
  if (raw.empty()) return std::nullopt;
  const unsigned tag = static_cast<unsigned char>(raw[0]);
  if (tag < 1 || tag > 4 || raw.size() != (tag == 4 ? 33u : 25u)) return std::nullopt;
  std::string out = tags[tag - 1];
  for (std::size_t at = 1; at < raw.size(); at += 8) {
    std::uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(raw[at + b]);
    if (at + 8 == raw.size()) {
      if (expiry != nullptr) *expiry = static_cast<std::int64_t>(v);
    } else {
      out += ' ' + std::to_string(static_cast<std::int64_t>(v));
    }
  }
  return out;
}

// The command of one decision, as the gateway sends it (plus `now` when given).
inline std::vector<std::string> decide_command(decide_via via, std::span<const script_limit> limits,
                                               bool peek = false,
                                               std::optional<limit::micros> now = std::nullopt) {
  const decide_head head = decide_head_of(via, peek);
  std::vector<std::string> args = {std::string(head.command), std::string(head.name)};
  append_decide_args(limits, peek, args);
  if (now) args.push_back(std::to_string(*now));
  return args;
}

inline const char* to_string(decide_via via) {
  return via == decide_via::function ? "function" : "script";
}

class decide_runner {
 public:
  explicit decide_runner(const redis_server& server, decide_via via = decide_via::function)
      : ctx_(server.connect()), via_(via) {
    load();
  }

  decide_via via() const { return via_; }

  // FUNCTION LOAD (REPLACE: the test may load it twice) or SCRIPT LOAD of the scripts.
  void load() {
    const decision_code& code = decide_code();
    if (via_ == decide_via::function) {
      const auto r = run({"FUNCTION", "LOAD", "REPLACE", code.library});
      if (r.text != code.library_name) throw std::runtime_error("FUNCTION LOAD: " + r.text);
      return;
    }
    for (const std::string* script :
         {&code.decide_script, &code.peek_script, &code.refund_script}) {
      const auto r = run({"SCRIPT", "LOAD", *script});
      if (r.type != REDIS_REPLY_STRING) throw std::runtime_error("SCRIPT LOAD: " + r.text);
      if (r.text != sha1_hex(*script)) throw std::runtime_error("SCRIPT LOAD: SHA1 " + r.text);
    }
  }

  // The command of one decision, as the gateway sends it (plus `now` when given).
  std::vector<std::string> command(std::span<const script_limit> limits, bool peek = false,
                                   std::optional<limit::micros> now = std::nullopt) const {
    return decide_command(via_, limits, peek, now);
  }

  // One decision. `now` empty: the code reads Redis TIME, as in production. With `now`
  // the expiries the code sets are still relative to the real clock (expires_at - now
  // + 1 s margin), so a test must come back to a key within about a second of real time
  // for its state to still be there when it is not yet fresh.
  decide_outcome decide(std::span<const script_limit> limits, bool peek = false,
                        std::optional<limit::micros> now = std::nullopt) {
    const auto r = run(command(limits, peek, now));
    if (r.type != REDIS_REPLY_ARRAY) throw std::runtime_error(r.text);
    decide_outcome out;
    out.decisions.resize(limits.size());
    const auto admitted = parse_decide_reply(r.integers, out.decisions);
    if (!admitted) throw std::runtime_error("malformed decide reply");
    out.admitted = *admitted;
    out.now = decide_reply_now(r.integers);
    return out;
  }

  // The refund command of a decide call that charged `decisions` at `charged_at`
  // (plus `now` when given); empty when append_refund_args() finds nothing to refund.
  std::vector<std::string> refund_command(std::span<const script_limit> limits,
                                          std::span<const limit::decision> decisions,
                                          limit::micros charged_at,
                                          std::optional<limit::micros> now = std::nullopt) const {
    const decide_head head = refund_head_of(via_);
    std::vector<std::string> args = {std::string(head.command), std::string(head.name)};
    if (append_refund_args(limits, decisions, charged_at, args) == 0) return {};
    if (now) args.push_back(std::to_string(*now));
    return args;
  }

  // Refunds what `charged` (an admitted decide() of `limits`) charged; returns the
  // reply's integer (how many limits got something back), -1 when nothing was sent.
  long long refund(std::span<const script_limit> limits, const decide_outcome& charged,
                   std::optional<limit::micros> now = std::nullopt) {
    const auto command = refund_command(limits, charged.decisions, charged.now, now);
    if (command.empty()) return -1;
    const auto r = run(command);
    if (r.type != REDIS_REPLY_INTEGER) throw std::runtime_error("refund: " + r.text);
    return r.integer;
  }

  // A reply reduced to what the tests look at.
  struct reply {
    int type = 0;
    std::string text;                    // string, status and error replies
    long long integer = 0;               // integer replies
    std::vector<std::int64_t> integers;  // array of integers
    std::vector<std::string> strings;    // array of strings
  };

  reply run(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (raw == nullptr) throw std::runtime_error("redis connection failed");
    reply out;
    out.type = raw->type;
    if (raw->type == REDIS_REPLY_STRING || raw->type == REDIS_REPLY_STATUS ||
        raw->type == REDIS_REPLY_ERROR) {
      out.text.assign(raw->str, raw->len);
    } else if (raw->type == REDIS_REPLY_INTEGER) {
      out.integer = raw->integer;
    } else if (raw->type == REDIS_REPLY_ARRAY) {
      for (std::size_t i = 0; i < raw->elements; ++i) {
        const redisReply* e = raw->element[i];
        if (e->type == REDIS_REPLY_INTEGER) out.integers.push_back(e->integer);
        if (e->type == REDIS_REPLY_STRING) out.strings.emplace_back(e->str, e->len);
      }
    }
    freeReplyObject(raw);
    return out;
  }

  // The stored value of a key as text, whatever its type ("" when absent): a packed
  // bucket or window state as "packed:<tag> <integers>", another string as
  // "string:<bytes>", a log as "zset:<member>,<score>,...".
  std::string snapshot(const std::string& key) {
    const std::string type = run({"TYPE", key}).text;
    if (type == "string") {
      const std::string value = run({"GET", key}).text;
      if (auto packed = packed_state_text(value)) return "packed:" + *packed;
      return "string:" + value;
    }
    if (type == "zset") {
      std::string all = "zset:";
      for (const auto& s : run({"ZRANGE", key, "0", "-1", "WITHSCORES"}).strings) all += s + ",";
      return all;
    }
    return type == "none" ? "" : type;
  }

  long long pttl(const std::string& key) { return run({"PTTL", key}).integer; }

 private:
  redis_context ctx_;
  decide_via via_;
};

}  // namespace sluice::redis::test
