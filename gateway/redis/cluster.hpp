// Redis Cluster routing (storage.redis.mode cluster): the slot map discovered from
// the seeds, one redis::client per master, MOVED and ASK followed, the map refreshed
// on the control thread.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "redis/client.hpp"
#include "redis/router.hpp"

namespace boost::asio {
class io_context;
}

namespace sluice::redis {

struct node_address {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const node_address&) const = default;
  std::string text() const;  // "host:port"
};

struct cluster_options {
  std::vector<node_address> seeds;  // storage.redis.address; at least one
  // Every node's client: password, timeout, connections, connect timeout, backoff,
  // log (its lines get the node's address in front; the router's own lines start with
  // "cluster: "). host and port are ignored; database must be 0 (Redis Cluster has no
  // other).
  client_options node;
  // The slot map is asked again this often, and every degraded_refresh_interval while
  // it is incomplete (startup, a master down, slots not covered); a MOVED, a lost
  // connection or a CLUSTERDOWN ask for a refresh at once, at most one per
  // refresh_min_gap.
  std::chrono::milliseconds refresh_interval{5000};
  std::chrono::milliseconds degraded_refresh_interval{100};
  std::chrono::milliseconds refresh_min_gap{50};
  // MOVED/ASK redirections followed per command; TRYAGAIN retries after tryagain_delay.
  int max_redirects = 5;
  int tryagain_retries = 2;
  std::chrono::milliseconds tryagain_delay{5};
};

// What one CLUSTER SLOTS reply says: each range's master (replicas are not used).
struct slot_range {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  node_address master;
  bool operator==(const slot_range&) const = default;
};

// Validates a CLUSTER SLOTS reply (untrusted, bounded by reply_limits): ranges within
// 0..16383, not overlapping, a master of [host (string; nil or "" = `asked`'s host),
// port 1..65535, ...]. nullopt with `why` set when anything is off: a bad map is
// refused whole.
std::optional<std::vector<slot_range>> parse_cluster_slots(const reply& r,
                                                           const node_address& asked,
                                                           std::string& why);

// A redirection error reply: "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>"
// (an empty host is `from`'s host).
struct redirect {
  bool ask = false;
  std::uint16_t slot = 0;
  node_address target;
};
std::optional<redirect> parse_redirect(std::string_view error, const node_address& from);

namespace detail {
class cluster_state;
}

// Routes each command to the master that owns its slot. Owned by the gateway (one per
// process in cluster mode); command(), connected() and shard_of() may be called from
// any thread. Built like redis::client: each master's client has its connections on
// every worker io_context (no hop per command) and one on `control`.
//
// The slot map is one atomic node id per slot and an append-only node table (ids from
// 1, never reused, at most max_nodes per process): a command reads two atomics and
// sends on that master's client. Everything that creates clients or rewrites the map
// at large runs on the control io_context (discovery: CLUSTER SLOTS asked of the known
// masters, then of the seeds); a MOVED to a known master updates that slot at once on
// the caller's thread, a MOVED to a master not yet known fails the command with
// not_connected and asks the control thread for a refresh. A client, once created, is
// kept until the router goes (a worker may be using it; a retired master may come
// back). Without a control io_context the router runs its own control thread.
//
// Lifetime: as redis::client: the io_contexts outlive the router, and the router is
// destroyed after its callers stop calling it.
class cluster_router final : public router {
 public:
  static constexpr std::size_t max_nodes = 1024;

  cluster_router(cluster_options options, std::vector<boost::asio::io_context*> workers,
                 boost::asio::io_context* control);
  ~cluster_router() override;
  cluster_router(const cluster_router&) = delete;
  cluster_router& operator=(const cluster_router&) = delete;

  using router::command;
  // Sends to the slot's master; follows MOVED (the slot is updated, a refresh is
  // asked for) and ASK (ASKING and the command back to back on one connection) up to
  // max_redirects times, TRYAGAIN up to tryagain_retries times; CLUSTERDOWN is
  // returned as the error reply it is. not_connected at once while the slot has no
  // known master or its connection is down here.
  boost::asio::awaitable<result> command(std::uint16_t slot,
                                         std::span<const std::string_view> args) override;
  bool connected(std::uint16_t slot) const noexcept override;
  // The map covers every slot and every master in it has a connection up.
  bool connected() const noexcept override;
  // The slot's master's id (1, 2, ... in the order masters were discovered); 0 while
  // the slot has no known master.
  std::size_t shard_of(std::uint16_t slot) const noexcept override;
  bool multi_slot_commands() const noexcept override { return false; }

  // For tests and the admin view: the address of a shard id; how many slot maps were
  // read and applied, and how many of them changed something (a slot learnt from a
  // MOVED is not counted).
  std::optional<node_address> shard_address(std::size_t shard) const;
  std::uint64_t maps_read() const noexcept;
  std::uint64_t map_changes() const noexcept;
  // Asks the control thread for a refresh now (rate limited by refresh_min_gap).
  void refresh() noexcept;

 private:
  std::shared_ptr<detail::cluster_state> state_;
};

}  // namespace sluice::redis
