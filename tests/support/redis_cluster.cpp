#include "support/redis_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <thread>

namespace sluice::test {

namespace {

using steady = std::chrono::steady_clock;

bool port_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// A free port whose bus port (port + 10000) is free too, not in `taken`.
std::uint16_t cluster_port(const std::set<int>& taken) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = free_port();
    if (port + 10000 > 65535 || taken.count(port) || taken.count(port + 10000)) continue;
    if (port_free(port + 10000)) return static_cast<std::uint16_t>(port);
  }
  throw std::runtime_error("redis_cluster: no free port pair");
}

struct reply_deleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

reply_ptr call(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return reply_ptr(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

// Runs redis-cli with `args`, its output into `log`; its exit status (-1: killed
// after `limit`).
int run_cli(const std::vector<std::string>& args, const std::string& log,
            std::chrono::milliseconds limit) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("redis_cluster: fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("redis-cli", argv.data());
    ::_exit(127);
  }
  const auto deadline = steady::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (steady::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

redis_cluster::redis_cluster(int masters, int replicas, int node_timeout_ms) {
  char pattern[] = "/tmp/sluice-cluster-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("redis_cluster: mkdtemp failed");
  dir_ = pattern;
  try {
    std::set<int> taken;
    for (int i = 0; i < masters * (1 + replicas); ++i) {
      const std::uint16_t port = cluster_port(taken);
      taken.insert({port, port + 10000});
      const std::string dir = dir_ + "/" + std::to_string(port);
      std::filesystem::create_directory(dir);
      nodes_.push_back(std::make_unique<redis_server>(
          port, std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file",
                                         dir + "/nodes.conf", "--dir", dir, "--logfile",
                                         dir + "/redis.log", "--cluster-node-timeout",
                                         std::to_string(node_timeout_ms)}));
    }
    std::vector<std::string> args = {"redis-cli", "--cluster", "create"};
    for (auto port : ports()) args.push_back("127.0.0.1:" + std::to_string(port));
    args.insert(args.end(), {"--cluster-replicas", std::to_string(replicas), "--cluster-yes"});
    const int status = run_cli(args, dir_ + "/create.log", std::chrono::seconds(30));
    if (status != 0) {
      throw std::runtime_error("redis_cluster: redis-cli --cluster create failed (" +
                               std::to_string(status) + "), see " + dir_ + "/create.log");
    }
    if (!wait_ok(std::chrono::seconds(20))) {
      throw std::runtime_error("redis_cluster: no cluster_state:ok");
    }
    if (replicas > 0 && !wait_replicas_synced(std::chrono::seconds(20))) {
      throw std::runtime_error("redis_cluster: replicas did not sync");
    }
  } catch (...) {
    nodes_.clear();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

redis_cluster::~redis_cluster() {
  nodes_.clear();  // each stops its redis-server by PID
  if (std::getenv("SLUICE_KEEP_CLUSTER") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::vector<std::uint16_t> redis_cluster::ports() const {
  std::vector<std::uint16_t> out;
  for (const auto& n : nodes_) out.push_back(n->port());
  return out;
}

redis_server& redis_cluster::node(std::uint16_t port) {
  for (auto& n : nodes_) {
    if (n->port() == port) return *n;
  }
  throw std::runtime_error("redis_cluster: no node on port " + std::to_string(port));
}

std::string redis_cluster::command(std::uint16_t port, const std::vector<std::string>& args) {
  return node(port).command(args);
}

std::string redis_cluster::node_id(std::uint16_t port) {
  return command(port, {"CLUSTER", "MYID"});
}

std::vector<cluster_slot_range> redis_cluster::slots(std::uint16_t port) {
  for (auto& n : nodes_) {
    if (!n->running() || (port != 0 && n->port() != port)) continue;
    redis_context c(redisConnect("127.0.0.1", n->port()));
    if (!c || c->err != 0) continue;
    auto r = call(c.get(), {"CLUSTER", "SLOTS"});
    if (!r || r->type != REDIS_REPLY_ARRAY) continue;
    std::vector<cluster_slot_range> out;
    for (std::size_t i = 0; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      const redisReply* master = e->element[2];
      out.push_back({static_cast<int>(e->element[0]->integer),
                     static_cast<int>(e->element[1]->integer),
                     static_cast<std::uint16_t>(master->element[1]->integer)});
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }
  return {};
}

std::uint16_t redis_cluster::slot_owner(int slot) {
  for (const auto& r : slots()) {
    if (r.first <= slot && slot <= r.last) return r.master;
  }
  return 0;
}

int redis_cluster::key_slot(const std::string& key) {
  for (auto& n : nodes_) {
    if (n->running()) return std::stoi(n->command({"CLUSTER", "KEYSLOT", key}));
  }
  throw std::runtime_error("redis_cluster: no node runs");
}

std::vector<std::uint16_t> redis_cluster::master_ports() {
  std::set<std::uint16_t> out;
  for (const auto& r : slots()) out.insert(r.master);
  return {out.begin(), out.end()};
}

std::vector<std::uint16_t> redis_cluster::replica_ports() {
  const auto masters = master_ports();
  std::vector<std::uint16_t> out;
  for (auto& n : nodes_) {
    if (n->running() && std::find(masters.begin(), masters.end(), n->port()) == masters.end()) {
      out.push_back(n->port());
    }
  }
  return out;
}

bool redis_cluster::agreed() {
  std::vector<std::vector<std::pair<int, int>>> views;
  for (auto& n : nodes_) {
    if (!n->running()) continue;
    std::string info;
    try {
      info = n->command({"CLUSTER", "INFO"});
    } catch (const std::exception&) {
      return false;
    }
    if (info.find("cluster_state:ok") == std::string::npos) return false;
    std::vector<std::pair<int, int>> view;
    int covered = 0;
    for (const auto& r : slots(n->port())) {
      covered += r.last - r.first + 1;
      if (!node(r.master).running()) return false;  // a killed master not failed over yet
      view.emplace_back(r.first, r.master);
    }
    if (covered != 16384) return false;
    views.push_back(std::move(view));
  }
  return !views.empty() &&
         std::all_of(views.begin(), views.end(), [&](const auto& v) { return v == views[0]; });
}

bool redis_cluster::wait_ok(std::chrono::milliseconds limit) {
  const auto deadline = steady::now() + limit;
  while (!agreed()) {
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

bool redis_cluster::wait_replicas_synced(std::chrono::milliseconds limit) {
  const auto deadline = steady::now() + limit;
  for (;;) {
    bool synced = true;
    for (auto port : replica_ports()) {
      if (command(port, {"INFO", "replication"}).find("master_link_status:up") ==
          std::string::npos) {
        synced = false;
      }
    }
    if (synced) return true;
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void redis_cluster::move_slot(int slot, std::uint16_t to) {
  const std::uint16_t from = slot_owner(slot);
  if (from == 0 || from == to) throw std::runtime_error("redis_cluster: bad move_slot");
  const std::string s = std::to_string(slot);
  const std::string from_id = node_id(from);
  const std::string to_id = node_id(to);
  command(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", from_id});
  command(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", to_id});
  redis_context c = node(from).connect();
  for (;;) {
    auto keys = call(c.get(), {"CLUSTER", "GETKEYSINSLOT", s, "100"});
    if (!keys || keys->type != REDIS_REPLY_ARRAY || keys->elements == 0) break;
    std::vector<std::string> args = {"MIGRATE", "127.0.0.1", std::to_string(to), "", "0",
                                     "5000",    "KEYS"};
    for (std::size_t i = 0; i < keys->elements; ++i) {
      args.emplace_back(keys->element[i]->str, keys->element[i]->len);
    }
    auto migrated = call(c.get(), args);
    if (!migrated || migrated->type == REDIS_REPLY_ERROR) {
      throw std::runtime_error("redis_cluster: MIGRATE failed");
    }
  }
  // The new owner first, then the old one, then the rest (as redis-cli does).
  command(to, {"CLUSTER", "SETSLOT", s, "NODE", to_id});
  command(from, {"CLUSTER", "SETSLOT", s, "NODE", to_id});
  for (auto port : master_ports()) {  // replicas refuse SETSLOT: they learn by gossip
    if (port != to && port != from) command(port, {"CLUSTER", "SETSLOT", s, "NODE", to_id});
  }
}

void redis_cluster::kill(std::uint16_t port) {
  node(port).stop();
}

}  // namespace sluice::test
