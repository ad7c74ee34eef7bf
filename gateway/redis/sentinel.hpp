// Redis Sentinel (storage.redis.mode: sentinel, SPEC 7 and 15): which server is the
// master the sentinels monitor under one name, kept current while the gateway runs,
// and the Redis client pointed at it (redis::client::set_address).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis/reply.hpp"

namespace boost::asio {
class io_context;
}

namespace sluice::redis {

class client;

struct server_address {
  std::string host;  // an IP literal (IPv6 without brackets) or a host name
  std::uint16_t port = 0;
  std::string to_string() const;  // "host:port", "[v6]:port"
  bool operator==(const server_address&) const = default;
};

struct sentinel_options {
  std::vector<server_address> sentinels;  // asked in this order
  std::string master;                     // the name they monitor
  std::string password;                   // the sentinels' requirepass; empty = none
  // One sentinel's whole exchange: connect, AUTH, the question and its answer. A
  // slower sentinel counts as failed and the next one is asked.
  std::chrono::milliseconds timeout{500};
  // The sentinels are asked again this often, whatever pub/sub says: a missed
  // +switch-master never leaves the gateway on a demoted master for longer.
  std::chrono::milliseconds interval{1000};
  // At most one extra round this soon after the last one when the data connection
  // doubts its master (client_options::on_master_doubt -> recheck()).
  std::chrono::milliseconds min_gap{100};
  // After +switch-master moves away from an address, answers naming that address are
  // not believed for this long: a sentinel that has not heard of the failover yet
  // (they learn it from each other within a few seconds) would move the gateway back.
  std::chrono::milliseconds old_master_hold{10000};
  // Master changes and sentinel failures (each failure once until it changes), on the
  // control thread (resolve_now(): the caller's); optional.
  std::function<void(std::string_view)> log;
};

// What one sentinel's reply means. Every byte from a sentinel is untrusted: anything
// but the expected shape is an error (a failure of that sentinel), never a throw.
struct sentinel_answer {
  std::optional<server_address> master;  // the address, when the reply names one
  std::string error;                     // why not (empty when ignored, see below)
};
// SENTINEL get-master-addr-by-name: a two-element array of host and port; nil when
// the sentinel does not know the name.
sentinel_answer parse_master_address(const reply& r);
// One message of a +switch-master subscription: ["message", "+switch-master",
// "<name> <old-ip> <old-port> <new-ip> <new-port>"]. Another master's name is ignored
// (neither master nor error).
sentinel_answer parse_switch_master(const reply& r, std::string_view master);
// A sentinel's replies are small: a few short strings.
inline constexpr reply_limits sentinel_reply_limits{16, 4096};

namespace detail {
class sentinel_state;  // sentinel.cpp
}

// Keeps `data` pointed at the master: asks the sentinels in order (SENTINEL
// get-master-addr-by-name, after AUTH when a password is set; a sentinel that fails,
// times out, answers nil or names the master a +switch-master just left -> the next
// one) every `interval`, at once when recheck()
// is called, and follows +switch-master on a subscription to one sentinel (another
// one when it goes away). A change is applied with client::set_address and logged
// ("sentinel: master mymaster is now 127.0.0.1:6380 (was 127.0.0.1:6379)").
//
// Owned by the gateway; runs on the `control` io_context. recheck() and master() are
// thread-safe; start() and resolve_now() are called once, from the thread that owns
// it, before `control` runs. Lifetime: `control` and `data` must outlive it; its
// coroutines hold its state, which goes when they end or `control` is destroyed.
class sentinel_watcher {
 public:
  sentinel_watcher(boost::asio::io_context& control, client& data, sentinel_options options);
  ~sentinel_watcher();
  sentinel_watcher(const sentinel_watcher&) = delete;
  sentinel_watcher& operator=(const sentinel_watcher&) = delete;

  // Asks the sentinels once, on a private io_context, for at most `bound`, and points
  // `data` at the answer. Blocks; returns whether a master is known.
  bool resolve_now(std::chrono::milliseconds bound);
  // Starts the periodic rounds and the subscription on `control`.
  void start();
  // The master may have changed (the data connection lost it, or it answered
  // READONLY): ask again soon (at most every min_gap). Cheap; any thread.
  void recheck();
  // The master's address, "" while none is known.
  std::string master() const;

 private:
  std::shared_ptr<detail::sentinel_state> state_;
};

}  // namespace sluice::redis
