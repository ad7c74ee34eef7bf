// Where a Redis command goes (SPEC 7, 15): the one server (storage.redis.mode single,
// or sentinel: the master the sentinels name), or the master that owns a key's hash
// slot (cluster). The Redis backend and the runtime entries talk to a router, so one
// code path serves every mode.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "redis/client.hpp"

namespace sluice::redis {

// Redis Cluster's hash slots: CRC16 (XMODEM) of the key, or of its hash tag (the part
// between the first '{' and the next '}', when that part is not empty), mod 16384.
inline constexpr std::uint16_t slot_count = 16384;
std::uint16_t key_slot(std::string_view key) noexcept;

class router {
 public:
  using result = client::result;
  virtual ~router() = default;

  // Sends one command whose keys are all in `slot` (keyless commands: any slot; the
  // command then goes to that slot's server, e.g. FUNCTION LOAD to the server that
  // just answered "Function not found" for that slot). Same contract as
  // client::command: completes with the reply (an error reply is a success here) or a
  // client_error; never throws. A cluster router follows MOVED and ASK itself.
  virtual boost::asio::awaitable<result> command(std::uint16_t slot,
                                                 std::span<const std::string_view> args) = 0;
  boost::asio::awaitable<result> command(std::uint16_t slot, std::vector<std::string> args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    co_return co_await command(slot, std::span<const std::string_view>(views));
  }

  // Whether a command for `slot` sent from this thread would find a connection up.
  virtual bool connected(std::uint16_t slot) const noexcept = 0;
  // Whether every server the router knows has a connection up (readiness).
  virtual bool connected() const noexcept = 0;

  // The shard serving `slot` now: a small number, stable for one server address for
  // the life of the process (single and sentinel: always 0). The backend keeps its
  // failure state (degraded, probes) per shard.
  virtual std::size_t shard_of(std::uint16_t slot) const noexcept = 0;
  // Whether keys in different slots may be sent in one command (single, sentinel).
  virtual bool multi_slot_commands() const noexcept = 0;

  // One slot of each shard that serves slots now, in shard order (one server: {0}):
  // where a command goes that every server must get (FUNCTION LOAD).
  std::vector<std::uint16_t> slot_of_each_shard() const {
    if (multi_slot_commands()) return {0};
    std::vector<std::uint16_t> out;
    std::vector<std::size_t> seen;
    for (std::uint32_t slot = 0; slot < slot_count; ++slot) {
      const std::size_t shard = shard_of(static_cast<std::uint16_t>(slot));
      if (shard == 0 || std::find(seen.begin(), seen.end(), shard) != seen.end()) continue;
      seen.push_back(shard);
      out.push_back(static_cast<std::uint16_t>(slot));
    }
    return out;
  }
};

// One server: every slot goes to `client` (mode single; mode sentinel, whose
// redis/sentinel.hpp points the client at the current master).
class single_router final : public router {
 public:
  explicit single_router(client& c) : client_(c) {}
  using router::command;
  boost::asio::awaitable<result> command(std::uint16_t,
                                         std::span<const std::string_view> args) override {
    return client_.command(args);
  }
  bool connected(std::uint16_t) const noexcept override { return client_.connected(); }
  bool connected() const noexcept override { return client_.connected(); }
  std::size_t shard_of(std::uint16_t) const noexcept override { return 0; }
  bool multi_slot_commands() const noexcept override { return true; }

 private:
  client& client_;
};

}  // namespace sluice::redis
