// Test-only driver of the Redis decision script over a synchronous hiredis connection:
// loads decide_script(), sends EVALSHA with append_decide_args() (plus the test-only
// "now" override when given) and parses the reply with parse_decide_reply(). Also
// snapshots keys for the all-or-nothing assertions. One per thread; not thread-safe.
#pragma once

#include <hiredis/hiredis.h>

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "limit/algorithms/decision.hpp"
#include "redis/decide_script.hpp"
#include "support/redis_server.hpp"

namespace sluice::redis::test {

using sluice::test::redis_context;
using sluice::test::redis_server;

struct decide_outcome {
  bool admitted = false;
  limit::micros now = 0;  // the clock the script decided at
  std::vector<limit::decision> decisions;
};

class decide_runner {
 public:
  explicit decide_runner(const redis_server& server) : ctx_(server.connect()) { load(); }

  // SCRIPT LOAD; returns the SHA1 the script is called by.
  const std::string& load() {
    const auto r = run({"SCRIPT", "LOAD", decide_script()});
    if (r.type != REDIS_REPLY_STRING) throw std::runtime_error("SCRIPT LOAD: " + r.text);
    sha_ = r.text;
    return sha_;
  }
  const std::string& sha() const { return sha_; }

  // One decision. `now` empty: the script reads Redis TIME, as in production. With `now`
  // the expiries the script sets are still relative to the real clock (expires_at - now
  // + 1 s margin), so a test must come back to a key within about a second of real time
  // for its state to still be there when it is not yet fresh.
  decide_outcome decide(std::span<const script_limit> limits, bool peek = false,
                        std::optional<limit::micros> now = std::nullopt) {
    std::vector<std::string> args = {"EVALSHA", sha_};
    append_decide_args(limits, peek, args);
    if (now) args.push_back(std::to_string(*now));
    const auto r = run(args);
    if (r.type != REDIS_REPLY_ARRAY) throw std::runtime_error("EVALSHA: " + r.text);
    decide_outcome out;
    out.decisions.resize(limits.size());
    const auto admitted = parse_decide_reply(r.integers, out.decisions);
    if (!admitted) throw std::runtime_error("malformed decide reply");
    out.admitted = *admitted;
    out.now = decide_reply_now(r.integers);
    return out;
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

  // The stored value of a key as text, whatever its type ("" when absent).
  std::string snapshot(const std::string& key) {
    const std::string type = run({"TYPE", key}).text;
    if (type == "string") return "string:" + run({"GET", key}).text;
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
  std::string sha_;
};

}  // namespace sluice::redis::test
