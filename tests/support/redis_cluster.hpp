// A real Redis Cluster for tests: `masters` redis-server nodes (and `replicas` per
// master) with --cluster-enabled on free loopback ports (each with a free bus port,
// port + 10000), a temp directory per node (nodes.conf), joined by redis-cli
// --cluster create; every node stopped by its PID and the directory removed when
// the object goes away. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/redis_server.hpp"

namespace sluice::test {

struct cluster_slot_range {
  int first = 0;
  int last = 0;
  std::uint16_t master = 0;  // port
};

class redis_cluster {
 public:
  explicit redis_cluster(int masters = 3, int replicas = 0, int node_timeout_ms = 1000);
  ~redis_cluster();
  redis_cluster(const redis_cluster&) = delete;
  redis_cluster& operator=(const redis_cluster&) = delete;

  // Every node's port, in creation order (redis-cli makes the first `masters` ones
  // masters).
  std::vector<std::uint16_t> ports() const;
  redis_server& node(std::uint16_t port);

  // One command on one node (see redis_server::command).
  std::string command(std::uint16_t port, const std::vector<std::string>& args);
  std::string node_id(std::uint16_t port);  // CLUSTER MYID

  // CLUSTER SLOTS as a running node (or `port`) sees it, sorted by first slot.
  std::vector<cluster_slot_range> slots(std::uint16_t port = 0);
  std::uint16_t slot_owner(int slot);    // 0 when no master owns it
  int key_slot(const std::string& key);  // CLUSTER KEYSLOT
  std::vector<std::uint16_t> master_ports();
  std::vector<std::uint16_t> replica_ports();

  // Until every running node says cluster_state:ok, they agree on CLUSTER SLOTS,
  // every slot is covered and no killed node owns one; false after `limit`.
  bool wait_ok(std::chrono::milliseconds limit);
  // Until every replica's link to its master is up.
  bool wait_replicas_synced(std::chrono::milliseconds limit);

  // Moves `slot` (and its keys) from its master to the master on `to`:
  // IMPORTING/MIGRATING, MIGRATE of every key, SETSLOT NODE on every node.
  void move_slot(int slot, std::uint16_t to);

  void kill(std::uint16_t port);  // SIGKILL, as a crash

 private:
  bool agreed();

  std::string dir_;
  std::vector<std::unique_ptr<redis_server>> nodes_;
};

}  // namespace sluice::test
