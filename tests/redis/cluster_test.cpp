// The cluster router against a real Redis Cluster (3 masters; 3 masters + 3 replicas
// for the failover): every key on the master CLUSTER SLOTS names for its slot,
// keyless commands on the slot's master, MOVED after a slot moved, ASK during a
// migration, a killed master's replica taking over by itself, and a seed that
// answers garbage. The parsers of CLUSTER SLOTS and MOVED/ASK are also tested alone.
#include "redis/cluster.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/io_worker.hpp"
#include "support/log_lines.hpp"
#include "support/redis_cluster.hpp"
#include "support/scripted_server.hpp"
#include "support/wait_until.hpp"

namespace sluice::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using test::redis_cluster;

// ---- parsers ----

reply integer(std::int64_t v) {
  return reply{reply::kind::integer, v, {}, {}};
}
reply string(std::string s) {
  return reply{reply::kind::string, 0, std::move(s), {}};
}
reply array(std::vector<reply> e) {
  return reply{reply::kind::array, 0, {}, std::move(e)};
}
reply range(std::int64_t first, std::int64_t last, reply host, std::int64_t port) {
  return array({integer(first), integer(last),
                array({std::move(host), integer(port), string("id"), array({})})});
}

const node_address asked{"10.0.0.9", 7000};

std::string refusal(const reply& r) {
  std::string why;
  auto map = parse_cluster_slots(r, asked, why);
  EXPECT_FALSE(map.has_value());
  return why;
}

TEST(ClusterSlots, ParsesRangesAndTheirMasters) {
  std::string why;
  // With a replica after the master, and a master that does not know its endpoint.
  const reply r = array({
      array({integer(0), integer(5460), array({string("127.0.0.1"), integer(7001), string("a")}),
             array({string("127.0.0.1"), integer(7004), string("b")})}),
      range(5461, 10922, reply{}, 7002),
      range(10923, 16383, string(""), 7003),
  });
  const auto map = parse_cluster_slots(r, asked, why);
  ASSERT_TRUE(map.has_value()) << why;
  const std::vector<slot_range> expected = {
      {0, 5460, {"127.0.0.1", 7001}},
      {5461, 10922, {"10.0.0.9", 7002}},
      {10923, 16383, {"10.0.0.9", 7003}},
  };
  EXPECT_EQ(*map, expected);
}

TEST(ClusterSlots, RefusesABadMapWhole) {
  EXPECT_EQ(
      refusal(reply{reply::kind::error, 0, "ERR This instance has cluster support disabled", {}}),
      "error reply: ERR This instance has cluster support disabled");
  EXPECT_EQ(refusal(integer(5)), "not an array");
  EXPECT_EQ(refusal(reply{}), "not an array");
  EXPECT_EQ(refusal(array({})), "no slot is assigned");
  EXPECT_EQ(refusal(array({integer(1)})), "range 0: not an array of [first, last, master, ...]");
  EXPECT_EQ(refusal(array({array({integer(0), integer(1)})})),
            "range 0: not an array of [first, last, master, ...]");
  EXPECT_EQ(refusal(array({range(0, 16384, string("h"), 1)})),
            "range 0: slots are not a range within 0-16383");
  EXPECT_EQ(refusal(array({range(-1, 5, string("h"), 1)})),
            "range 0: slots are not a range within 0-16383");
  EXPECT_EQ(refusal(array({range(9, 5, string("h"), 1)})),
            "range 0: slots are not a range within 0-16383");
  EXPECT_EQ(refusal(array({array({string("0"), integer(5), array({string("h"), integer(1)})})})),
            "range 0: slots are not a range within 0-16383");
  EXPECT_EQ(refusal(array({array({integer(0), integer(5), string("h:1")})})),
            "range 0: the master is not an array of [host, port, ...]");
  EXPECT_EQ(refusal(array({array({integer(0), integer(5), array({string("h")})})})),
            "range 0: the master is not an array of [host, port, ...]");
  EXPECT_EQ(refusal(array({range(0, 5, string("h"), 0)})),
            "range 0: the master's port is not within 1-65535");
  EXPECT_EQ(refusal(array({range(0, 5, string("h"), 65536)})),
            "range 0: the master's port is not within 1-65535");
  EXPECT_EQ(refusal(array({array({integer(0), integer(5), array({string("h"), string("7000")})})})),
            "range 0: the master's port is not within 1-65535");
  EXPECT_EQ(refusal(array({range(0, 5, integer(1), 7000)})),
            "range 0: the master's host is not usable");
  EXPECT_EQ(refusal(array({range(0, 5, string("?"), 7000)})),
            "range 0: the master's host is not usable");
  EXPECT_EQ(refusal(array({range(0, 5, string("a b"), 7000)})),
            "range 0: the master's host is not usable");
  EXPECT_EQ(refusal(array({range(0, 5, string(std::string(256, 'h')), 7000)})),
            "range 0: the master's host is not usable");
  EXPECT_EQ(refusal(array({range(0, 5, string("h"), 1), range(5, 9, string("h"), 2)})),
            "range 1: slot 5 is in two ranges");
}

TEST(ClusterRedirects, ParsesMovedAndAsk) {
  const node_address from{"10.0.0.9", 7000};
  auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381", from);
  ASSERT_TRUE(moved.has_value());
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->target, (node_address{"127.0.0.1", 6381}));
  auto ask = parse_redirect("ASK 16383 :7002", from);  // no endpoint: the same host
  ASSERT_TRUE(ask.has_value());
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->slot, 16383);
  EXPECT_EQ(ask->target, (node_address{"10.0.0.9", 7002}));
  auto v6 = parse_redirect("MOVED 1 ::1:7000", from);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->target, (node_address{"::1", 7000}));
  for (const char* bad :
       {"MOVED", "MOVED ", "MOVED 3999", "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED x h:1",
        "MOVED 1 h", "MOVED 1 h:0", "MOVED 1 h:65536", "MOVED 1 h:7000x", "MOVED 1 h\x01:7000",
        "ASK 1 a b:7000", "ERR MOVED 1 h:1", "TRYAGAIN", "moved 1 h:1"}) {
    EXPECT_FALSE(parse_redirect(bad, from).has_value()) << bad;
  }
}

// ---- against a real cluster ----

using test::log_lines;   // support/log_lines.hpp
using test::wait_until;  // support/wait_until.hpp

long long ms(steady::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// Two gateway workers and the control thread, declared before the router.
struct threads {
  test::io_worker w0, w1, control;
  std::vector<asio::io_context*> workers() { return {&w0.io(), &w1.io()}; }
};

cluster_options options_for(std::vector<std::uint16_t> seeds, log_lines& log) {
  cluster_options o;
  for (auto port : seeds) o.seeds.push_back({"127.0.0.1", port});
  o.node.timeout = 1000ms;  // a loaded 2-core box; nothing here waits for a timeout
  o.node.connect_timeout = 1000ms;
  o.node.connections = 2;
  o.node.log = log.fn();
  return o;
}

router::result run(test::io_worker& w, cluster_router& r, std::uint16_t slot,
                   std::vector<std::string> args) {
  return asio::co_spawn(w.io(), r.command(slot, std::move(args)), asio::use_future).get();
}

std::string text(const router::result& r) {
  if (r.first) return "client error: " + r.first.message();
  if (r.second.type == reply::kind::integer) return std::to_string(r.second.integer);
  if (r.second.is_nil()) return "(nil)";
  return r.second.text;
}

class RedisCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new redis_cluster(3); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  redis_cluster& cluster() { return *cluster_; }
  static redis_cluster* cluster_;
};
redis_cluster* RedisCluster::cluster_ = nullptr;

TEST_F(RedisCluster, RoutesEveryKeyToTheMasterThatOwnsItsSlot) {
  auto& c = cluster();
  for (auto port : c.master_ports()) c.command(port, {"FLUSHALL"});
  log_lines log;
  threads t;
  // One seed: the other masters are discovered.
  cluster_router router(options_for({c.ports()[1]}, log), t.workers(), &t.control.io());
  ASSERT_TRUE(wait_until([&] { return router.connected(); }, 5s)) << log.all();
  EXPECT_EQ(router.map_changes(), 1U);

  std::map<std::uint16_t, int> expected;  // master port -> keys
  for (int i = 0; i < 300; ++i) {
    const std::string key = "sluice:k" + std::to_string(i);
    const std::uint16_t slot = key_slot(key);
    ASSERT_EQ(slot, c.key_slot(key)) << key;
    auto& w = i % 2 == 0 ? t.w0 : t.w1;
    ASSERT_EQ(text(run(w, router, slot, {"SET", key, "v" + std::to_string(i)})), "OK") << key;
    const std::uint16_t owner = c.slot_owner(slot);
    ++expected[owner];
    EXPECT_EQ(c.command(owner, {"GET", key}), "v" + std::to_string(i)) << key;
    EXPECT_EQ(c.command(owner, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}) != "0", true);
    // Its shard is its master's, named by address.
    const auto address = router.shard_address(router.shard_of(slot));
    ASSERT_TRUE(address.has_value());
    EXPECT_EQ(address->port, owner);
  }
  ASSERT_EQ(expected.size(), 3U);  // every master got keys
  std::set<std::size_t> shards;
  for (auto [port, keys] : expected) {
    EXPECT_EQ(c.command(port, {"DBSIZE"}), std::to_string(keys)) << port;
  }
  for (const auto& r : c.slots()) {
    const auto slot = static_cast<std::uint16_t>(r.first);
    shards.insert(router.shard_of(slot));
    EXPECT_TRUE(router.connected(slot));
    // A keyless command for a slot goes to that slot's master.
    EXPECT_EQ(text(run(t.w0, router, slot, {"CLUSTER", "MYID"})), c.node_id(r.master));
  }
  EXPECT_EQ(shards, (std::set<std::size_t>{1, 2, 3}));
  EXPECT_EQ(router.map_changes(), 1U);  // nothing was redirected
  EXPECT_EQ(log.count("MOVED"), 0);
}

TEST_F(RedisCluster, FollowsMovedAfterASlotMovedAndRefreshesTheMap) {
  auto& c = cluster();
  log_lines log;
  threads t;
  auto o = options_for({c.ports()[0]}, log);
  o.refresh_interval = 60s;  // only MOVED can tell the router
  cluster_router router(std::move(o), t.workers(), &t.control.io());
  ASSERT_TRUE(wait_until([&] { return router.connected(); }, 5s)) << log.all();

  const std::string key = "sluice:{moved}k";
  const std::uint16_t slot = key_slot(key);
  ASSERT_EQ(text(run(t.w0, router, slot, {"SET", key, "before"})), "OK");
  const std::uint16_t from = c.slot_owner(slot);
  std::uint16_t to = 0;
  for (auto port : c.master_ports()) {
    if (port != from) to = port;
  }
  const std::size_t old_shard = router.shard_of(slot);
  const auto changes = router.map_changes();
  const auto reads = router.maps_read();
  c.move_slot(slot, to);
  ASSERT_EQ(c.slot_owner(slot), to);

  // The first command after the move is answered MOVED, followed at once.
  EXPECT_EQ(text(run(t.w1, router, slot, {"GET", key})), "before");
  const std::size_t new_shard = router.shard_of(slot);
  EXPECT_NE(new_shard, old_shard);
  EXPECT_EQ(router.shard_address(new_shard)->port, to);
  EXPECT_EQ(text(run(t.w0, router, slot, {"SET", key, "after"})), "OK");
  EXPECT_EQ(c.command(to, {"GET", key}), "after");
  EXPECT_EQ(router.map_changes(), changes);  // learnt from the MOVED, not from a map
  // And the map is asked again (a moved slot usually means more).
  EXPECT_TRUE(wait_until([&] { return router.maps_read() > reads; }, 5s)) << log.all();
  EXPECT_TRUE(router.connected());

  c.move_slot(slot, from);  // as it was, for the other tests
  EXPECT_EQ(text(run(t.w0, router, slot, {"GET", key})), "after");
  EXPECT_EQ(router.shard_of(slot), old_shard);  // ids stay with their addresses
}

// `first` then `args` on one connection (e.g. ASKING, as a cluster client would);
// the reply to `args` as text.
std::string after(redis_cluster& c, std::uint16_t port, const std::vector<std::string>& first,
                  const std::vector<std::string>& args) {
  auto ctx = c.node(port).connect();
  auto send = [&](const std::vector<std::string>& command) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& s : command) {
      argv.push_back(s.data());
      lens.push_back(s.size());
    }
    return static_cast<redisReply*>(
        redisCommandArgv(ctx.get(), static_cast<int>(argv.size()), argv.data(), lens.data()));
  };
  freeReplyObject(send(first));
  auto* r = send(args);
  std::string out = r->type == REDIS_REPLY_INTEGER ? std::to_string(r->integer)
                    : r->str != nullptr            ? std::string(r->str, r->len)
                                                   : "(nil)";
  freeReplyObject(r);
  return out;
}

std::string asking(redis_cluster& c, std::uint16_t port, const std::vector<std::string>& args) {
  return after(c, port, {"ASKING"}, args);
}

TEST_F(RedisCluster, AuthenticatesToEveryMasterWithThePassword) {
  auto& c = cluster();
  const auto masters = c.master_ports();
  for (auto port : masters) {
    ASSERT_EQ(c.command(port, {"CONFIG", "SET", "requirepass", "s3cret"}), "OK");
  }
  struct unset {
    redis_cluster& c;
    std::vector<std::uint16_t> masters;
    ~unset() {
      for (auto port : masters) {
        after(c, port, {"AUTH", "s3cret"}, {"CONFIG", "SET", "requirepass", ""});
      }
    }
  } restore{c, masters};
  {
    log_lines log;
    threads t;
    cluster_router router(options_for({masters[0]}, log), t.workers(), &t.control.io());
    EXPECT_TRUE(wait_until([&] { return log.count("refused: error reply: NOAUTH") > 0; }, 5s))
        << log.all();
    EXPECT_FALSE(router.connected());
  }
  log_lines log;
  threads t;
  auto o = options_for({masters[0]}, log);
  o.node.password = "s3cret";
  cluster_router router(std::move(o), t.workers(), &t.control.io());
  ASSERT_TRUE(wait_until([&] { return router.connected(); }, 5s)) << log.all();
  std::set<std::size_t> shards;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "sluice:auth" + std::to_string(i);
    EXPECT_EQ(text(run(t.w0, router, key_slot(key), {"SET", key, "v"})), "OK");
    shards.insert(router.shard_of(key_slot(key)));
  }
  EXPECT_EQ(shards.size(), 3U);
}

TEST_F(RedisCluster, FollowsAskDuringAMigrationWithoutChangingTheMap) {
  auto& c = cluster();
  log_lines log;
  threads t;
  auto o = options_for({c.ports()[2]}, log);
  o.refresh_interval = 60s;
  cluster_router router(std::move(o), t.workers(), &t.control.io());
  ASSERT_TRUE(wait_until([&] { return router.connected(); }, 5s)) << log.all();

  const std::string moved = "sluice:{ask}moved", stays = "sluice:{ask}stays",
                    fresh = "sluice:{ask}fresh";
  const std::uint16_t slot = key_slot(moved);
  ASSERT_EQ(text(run(t.w0, router, slot, {"SET", moved, "m"})), "OK");
  ASSERT_EQ(text(run(t.w0, router, slot, {"SET", stays, "s"})), "OK");
  const std::uint16_t from = c.slot_owner(slot);
  std::uint16_t to = 0;
  for (auto port : c.master_ports()) {
    if (port != from) to = port;
  }
  const std::string s = std::to_string(slot);
  ASSERT_EQ(c.command(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", c.node_id(from)}), "OK");
  ASSERT_EQ(c.command(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", c.node_id(to)}), "OK");
  ASSERT_EQ(c.command(from, {"MIGRATE", "127.0.0.1", std::to_string(to), moved, "0", "5000"}),
            "OK");
  ASSERT_EQ(c.command(from, {"GET", moved}).rfind("ASK ", 0), 0U);  // what the router sees
  const std::size_t shard = router.shard_of(slot);
  const auto changes = router.map_changes();

  // The migrated key: ASK, then ASKING + GET on the importing master.
  EXPECT_EQ(text(run(t.w1, router, slot, {"GET", moved})), "m");
  // The key not migrated yet: still on the old master.
  EXPECT_EQ(text(run(t.w0, router, slot, {"GET", stays})), "s");
  // A new key goes where the slot is being imported.
  EXPECT_EQ(text(run(t.w0, router, slot, {"SET", fresh, "f"})), "OK");
  EXPECT_EQ(asking(c, to, {"GET", fresh}), "f");
  EXPECT_EQ(c.command(from, {"EXISTS", stays}), "1");
  // ASK changes nothing: the slot is still the old master's until SETSLOT NODE.
  EXPECT_EQ(router.shard_of(slot), shard);
  EXPECT_EQ(router.map_changes(), changes);

  // Finish the migration (the remaining key, then SETSLOT NODE everywhere).
  c.move_slot(slot, to);
  EXPECT_EQ(text(run(t.w0, router, slot, {"GET", stays})), "s");
  EXPECT_EQ(router.shard_address(router.shard_of(slot))->port, to);
  c.move_slot(slot, from);
  EXPECT_EQ(text(run(t.w0, router, slot, {"GET", fresh})), "f");
}

TEST(RedisClusterFailover, CommandsResumeOnThePromotedReplicaByThemselves) {
  redis_cluster c(3, 1, 1000);
  log_lines log;
  threads t;
  cluster_router router(options_for({c.ports()[0]}, log), t.workers(), &t.control.io());
  ASSERT_TRUE(wait_until([&] { return router.connected(); }, 5s)) << log.all();

  const std::string key = "sluice:{failover}k";
  const std::uint16_t slot = key_slot(key);
  ASSERT_EQ(text(run(t.w0, router, slot, {"SET", key, "kept"})), "OK");
  // A keyless command for the slot: the replica has the write before the kill.
  EXPECT_EQ(text(run(t.w0, router, slot, {"WAIT", "1", "2000"})), "1");
  const std::uint16_t master = c.slot_owner(slot);
  const std::size_t old_shard = router.shard_of(slot);

  const auto killed = steady::now();
  c.kill(master);
  int failures = 0;
  std::string last;
  const bool resumed = wait_until(
      [&] {
        auto r = run(t.w0, router, slot, {"GET", key});
        last = text(r);
        if (last == "kept") return true;
        ++failures;
        std::this_thread::sleep_for(20ms);
        return false;
      },
      20s);
  const auto resumed_after = steady::now() - killed;
  ASSERT_TRUE(resumed) << last << "\n" << log.all();
  std::printf("failover: commands resumed %lld ms after the master was killed (%d failed)\n",
              ms(resumed_after), failures);
  EXPECT_GT(failures, 0);
  ASSERT_TRUE(c.wait_ok(10s));
  const std::size_t new_shard = router.shard_of(slot);
  EXPECT_NE(new_shard, old_shard);
  EXPECT_EQ(router.shard_address(new_shard)->port, c.slot_owner(slot));
  EXPECT_EQ(text(run(t.w1, router, slot, {"SET", key, "new"})), "OK");
  // The old master is no longer in the map: every master known is up again.
  EXPECT_TRUE(wait_until([&] { return router.connected(); }, 5s)) << log.all();
}

// A one-node "cluster" that owns every slot and answers GETs with redirections and
// errors: what the router follows, and where it stops.
TEST(RedisClusterRedirects, AreBoundedAndErrorsComeBackAsReplies) {
  std::atomic<int> port{0};
  std::mutex mutex;
  std::vector<std::string> seen;  // every command but PING and CLUSTER SLOTS, in order
  test::scripted_server server([&](const std::string& command) -> std::string {
    const std::string self = "127.0.0.1:" + std::to_string(port.load());
    if (command == "CLUSTER SLOTS") {
      return "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:" +
             std::to_string(port.load()) + "\r\n";
    }
    {
      std::lock_guard lock(mutex);
      seen.push_back(command);
    }
    if (command == "ASKING") return "+OK\r\n";
    if (command == "GET loop") return "-MOVED 7 " + self + "\r\n";
    if (command == "GET ask") return "-ASK 7 " + self + "\r\n";
    if (command == "GET again") return "-TRYAGAIN Multiple keys request during rehashing\r\n";
    if (command == "GET down") return "-CLUSTERDOWN The cluster is down\r\n";
    if (command == "GET away") return "-MOVED 7 127.0.0.1:1\r\n";  // a master nobody knows
    if (command == "GET bad") return "-MOVED 99999 " + self + "\r\n";
    return "$2\r\nok\r\n";
  });
  port = server.port();
  log_lines log;
  threads t;
  test::io_worker elsewhere;  // a caller on an io_context the router does not serve
  cluster_router router(options_for({server.port()}, log), t.workers(), &t.control.io());
  ASSERT_TRUE(wait_until([&] { return router.connected(); }, 5s)) << log.all();
  auto count = [&](const std::string& command) {
    std::lock_guard lock(mutex);
    const int n = static_cast<int>(std::count(seen.begin(), seen.end(), command));
    seen.clear();
    return n;
  };
  const std::string self = "127.0.0.1:" + std::to_string(server.port());

  EXPECT_EQ(text(run(t.w0, router, 7, {"GET", "k"})), "ok");
  EXPECT_EQ(count("GET k"), 1);
  // A MOVED loop: the first send and 5 redirections, then the MOVED itself.
  EXPECT_EQ(text(run(t.w0, router, 7, {"GET", "loop"})), "MOVED 7 " + self);
  EXPECT_EQ(count("GET loop"), 6);
  // ASK: ASKING right before each resend, on the same connection; bounded the same.
  for (auto* w : {&t.w1, &elsewhere}) {
    EXPECT_EQ(text(run(*w, router, 7, {"GET", "ask"})), "ASK 7 " + self);
    std::lock_guard lock(mutex);
    const std::vector<std::string> expected = {"GET ask", "ASKING", "GET ask", "ASKING",
                                               "GET ask", "ASKING", "GET ask", "ASKING",
                                               "GET ask", "ASKING", "GET ask"};
    EXPECT_EQ(seen, expected);
    seen.clear();
  }
  // TRYAGAIN: retried twice, then returned.
  EXPECT_EQ(text(run(t.w0, router, 7, {"GET", "again"})),
            "TRYAGAIN Multiple keys request during rehashing");
  EXPECT_EQ(count("GET again"), 3);
  // CLUSTERDOWN comes back as the error it is, and the map is asked again.
  const auto reads = router.maps_read();
  EXPECT_EQ(text(run(t.w0, router, 7, {"GET", "down"})), "CLUSTERDOWN The cluster is down");
  EXPECT_EQ(count("GET down"), 1);
  EXPECT_TRUE(wait_until([&] { return router.maps_read() > reads; }, 5s));
  // A MOVED to a master not known yet: not_connected now (the map is asked again).
  EXPECT_EQ(run(t.w0, router, 7, {"GET", "away"}).first, client_error::not_connected);
  EXPECT_EQ(router.shard_of(7), 1U);  // nothing learnt from it
  // A redirection that does not parse is an error reply like any other.
  EXPECT_EQ(text(run(t.w0, router, 7, {"GET", "bad"})), "MOVED 99999 " + self);
  EXPECT_EQ(count("GET bad"), 1);
}

TEST(RedisClusterSeeds, GarbageFromASeedIsALoggedFailure) {
  // Each probe gets the next answer: bad maps, bytes that are not RESP, an error.
  const std::vector<std::string> answers = {
      "*1\r\n*3\r\n:0\r\n:20000\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",
      "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:0\r\n",
      "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n:1\r\n:7000\r\n",
      "hello\r\n",
      "-ERR This instance has cluster support disabled\r\n",
      "*2\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\nh\r\n:1\r\n*3\r\n:10\r\n:20\r\n*2\r\n$1\r\nh\r\n:2\r\n",
  };
  std::atomic<std::size_t> asked{0};
  test::scripted_server server([&](const std::string& command) -> std::string {
    if (command != "CLUSTER SLOTS") return "-ERR unexpected\r\n";
    return answers[asked.fetch_add(1) % answers.size()];
  });
  log_lines log;
  threads t;
  auto o = options_for({server.port()}, log);
  o.degraded_refresh_interval = 10ms;
  o.refresh_min_gap = 0ms;
  {
    cluster_router router(std::move(o), t.workers(), &t.control.io());
    const std::string prefix =
        "cluster: CLUSTER SLOTS from 127.0.0.1:" + std::to_string(server.port()) + " refused: ";
    const std::vector<std::string> expected = {
        prefix + "range 0: slots are not a range within 0-16383",
        prefix + "range 0: the master's port is not within 1-65535",
        prefix + "range 0: the master's host is not usable",
        "cluster: no slot map: 127.0.0.1:" + std::to_string(server.port()) + ": not RESP",
        prefix + "error reply: ERR This instance has cluster support disabled",
        prefix + "range 1: slot 10 is in two ranges",
    };
    EXPECT_TRUE(wait_until(
        [&] {
          return std::all_of(expected.begin(), expected.end(),
                             [&](const std::string& e) { return log.count(e) > 0; });
        },
        5s))
        << log.all();
    EXPECT_FALSE(router.connected());
    EXPECT_EQ(router.map_changes(), 0U);
    EXPECT_EQ(router.shard_of(0), 0U);
    EXPECT_FALSE(router.connected(0));
    const auto r = run(t.w0, router, 0, {"GET", "k"});
    EXPECT_EQ(r.first, client_error::not_connected);
  }  // and goes away cleanly while probing
  EXPECT_GE(asked.load(), answers.size());
}

TEST(RedisClusterSeeds, ASeedThatNeverAnswersTimesOutAndNothingIsSent) {
  test::scripted_server server([](const std::string&) -> std::string { return ""; });
  log_lines log;
  threads t;
  auto o = options_for({server.port()}, log);
  o.node.connect_timeout = 100ms;
  cluster_router router(std::move(o), t.workers(), &t.control.io());
  const std::string expected =
      "cluster: no slot map: 127.0.0.1:" + std::to_string(server.port()) + ": timed out";
  EXPECT_TRUE(wait_until([&] { return log.count(expected) > 0; }, 5s)) << log.all();
  EXPECT_EQ(log.count(expected), 1);  // a failure that repeats is logged once
  const auto r = run(t.w1, router, 100, {"GET", "k"});
  EXPECT_EQ(r.first, client_error::not_connected);
}

}  // namespace
}  // namespace sluice::redis
