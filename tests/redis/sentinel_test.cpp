// What Sluice believes from a sentinel: raw reply bytes in (through the bounded RESP
// parser, with the sentinel's limits), the master address or a failure out. Every
// malformed answer is a failure of that sentinel, never a throw. Then the watcher
// against fake sentinels on loopback: bad, silent and down ones skipped, AUTH, the
// startup bound, the periodic round, recheck() and the +switch-master subscription.
// (The real thing, redis-server --sentinel with a failover: tests/e2e/test_redis_sentinel.py.)
#include "redis/sentinel.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "redis/client.hpp"
#include "support/log_lines.hpp"
#include "support/redis_server.hpp"
#include "support/scripted_server.hpp"
#include "support/wait_until.hpp"

namespace sluice::redis {
namespace {

// The one reply `bytes` hold, parsed with the sentinel limits; a failed parse is a
// test failure.
reply parsed(const std::string& bytes) {
  reply_parser parser(sentinel_reply_limits);
  parser.feed(bytes.data(), bytes.size());
  reply r;
  EXPECT_EQ(parser.next(r), reply_parser::status::ready) << parser.error();
  return r;
}

reply_parser::status parse_status(const std::string& bytes) {
  reply_parser parser(sentinel_reply_limits);
  parser.feed(bytes.data(), bytes.size());
  reply r;
  return parser.next(r);
}

TEST(SentinelAnswer, AHostAndAPortNameTheMaster) {
  auto a = parse_master_address(parsed("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"));
  ASSERT_TRUE(a.master) << a.error;
  EXPECT_EQ(a.master->host, "127.0.0.1");
  EXPECT_EQ(a.master->port, 6380);
  EXPECT_EQ(a.master->to_string(), "127.0.0.1:6380");

  a = parse_master_address(parsed("*2\r\n$3\r\n::1\r\n$5\r\n65535\r\n"));
  ASSERT_TRUE(a.master) << a.error;
  EXPECT_EQ(a.master->to_string(), "[::1]:65535");
  a = parse_master_address(parsed("*2\r\n$16\r\nredis-1.internal\r\n$4\r\n6379\r\n"));
  ASSERT_TRUE(a.master) << a.error;
  EXPECT_EQ(a.master->host, "redis-1.internal");
}

TEST(SentinelAnswer, NilErrorsAndOtherShapesAreFailures) {
  const std::pair<std::string, std::string> cases[] = {
      {"*-1\r\n", "does not know the master"},
      {"$-1\r\n", "does not know the master"},
      {"-NOAUTH Authentication required.\r\n", "answered NOAUTH Authentication required."},
      {"+OK\r\n", "answered something that is not a host and a port"},
      {":6379\r\n", "answered something that is not a host and a port"},
      {"*1\r\n$9\r\n127.0.0.1\r\n", "answered something that is not a host and a port"},
      {"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
       "answered something that is not a host and a port"},
      {"*2\r\n:1\r\n:2\r\n", "answered something that is not a host and a port"},
      {"*2\r\n*0\r\n$4\r\n6379\r\n", "answered something that is not a host and a port"},
      {"*2\r\n$0\r\n\r\n$4\r\n6379\r\n", "a master host that is not a host name or IP"},
      {"*2\r\n$11\r\n10.0.0.1 80\r\n$4\r\n6379\r\n", "a master host that is not a host name or IP"},
      {"*2\r\n$10\r\n10.0.0.1\r\n\r\n$4\r\n6379\r\n",
       "a master host that is not a host name or IP"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n65536\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$2\r\n-1\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n63 79\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$6\r\n006379\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$0\r\n\r\n", "a master port that is not a port"},
  };
  for (const auto& [bytes, error] : cases) {
    const auto a = parse_master_address(parsed(bytes));
    EXPECT_FALSE(a.master) << bytes;
    EXPECT_EQ(a.error, error) << bytes;
  }
  const auto long_host = std::string(256, 'a');
  const auto a = parse_master_address(parsed("*2\r\n$256\r\n" + long_host + "\r\n$4\r\n6379\r\n"));
  EXPECT_EQ(a.error, "a master host that is not a host name or IP");
}

TEST(SentinelAnswer, RepliesBeyondTheSentinelLimitsAreProtocolErrors) {
  // More elements, or more bytes, than a sentinel ever sends: the connection is
  // dropped before anything is allocated for what they announce.
  EXPECT_EQ(parse_status("*17\r\n"), reply_parser::status::protocol_error);
  // An announcement alone costs nothing: the bytes are counted as they come.
  EXPECT_EQ(parse_status("$2000000000\r\n"), reply_parser::status::incomplete);
  EXPECT_EQ(parse_status("$5000\r\n" + std::string(5000, 'x') + "\r\n"),
            reply_parser::status::protocol_error);
  EXPECT_EQ(parse_status("?\r\n"), reply_parser::status::protocol_error);
}

std::string message(const std::string& payload) {
  return "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$" + std::to_string(payload.size()) +
         "\r\n" + payload + "\r\n";
}

TEST(SentinelSwitchMaster, ItsMastersMessageNamesTheNewAddress) {
  auto a =
      parse_switch_master(parsed(message("mymaster 127.0.0.1 6379 127.0.0.1 6380")), "mymaster");
  ASSERT_TRUE(a.master) << a.error;
  EXPECT_EQ(a.master->to_string(), "127.0.0.1:6380");
}

TEST(SentinelSwitchMaster, AnotherMastersMessageIsIgnored) {
  auto a = parse_switch_master(parsed(message("other 127.0.0.1 6379 127.0.0.1 6380")), "mymaster");
  EXPECT_FALSE(a.master);
  EXPECT_EQ(a.error, "");
  a = parse_switch_master(parsed(message("mymaster2 127.0.0.1 6379 127.0.0.1 6380")), "mymaster");
  EXPECT_FALSE(a.master);
  EXPECT_EQ(a.error, "");
}

TEST(SentinelSwitchMaster, MalformedMessagesAreFailures) {
  const std::pair<std::string, std::string> cases[] = {
      {message("mymaster 127.0.0.1 6379 127.0.0.1"),
       "sent a +switch-master message without 5 fields"},
      {message("mymaster 127.0.0.1 6379 127.0.0.1 6380 extra"),
       "sent a +switch-master message without 5 fields"},
      {message(""), "sent a +switch-master message without 5 fields"},
      {message("mymaster 127.0.0.1 6379 127.0.0.1 99999"), "a master port that is not a port"},
      {message("mymaster 127.0.0.1 6379  6380"), "a master host that is not a host name or IP"},
      {"*3\r\n$8\r\npmessage\r\n$14\r\n+switch-master\r\n$1\r\nx\r\n",
       "sent something that is not a +switch-master message"},
      {"*3\r\n$7\r\nmessage\r\n$8\r\n+sdown!!\r\n$1\r\nx\r\n",
       "sent something that is not a +switch-master message"},
      {"*2\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n",
       "sent something that is not a +switch-master message"},
      {"*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n:1\r\n",
       "sent something that is not a +switch-master message"},
      {"$7\r\nmessage\r\n", "sent something that is not a +switch-master message"},
      {"-ERR\r\n", "sent something that is not a +switch-master message"},
  };
  for (const auto& [bytes, error] : cases) {
    const auto a = parse_switch_master(parsed(bytes), "mymaster");
    EXPECT_FALSE(a.master) << bytes;
    EXPECT_EQ(a.error, error) << bytes;
  }
}

}  // namespace
}  // namespace sluice::redis

// ---- the watcher against fake sentinels ----

namespace sluice::redis {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A sentinel stand-in on a loopback port (support/scripted_server.hpp): answers each
// command with what `answer` returns for it (its arguments joined by spaces); keeps
// SUBSCRIBE connections open for publish().
using fake_sentinel = test::scripted_server;
using test::log_lines;
using test::wait_until;

server_address address_of(const fake_sentinel& s) {
  return {"127.0.0.1", s.port()};
}

const std::string subscribed = "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n";

std::string master_reply(std::uint16_t port) {
  const std::string p = std::to_string(port);
  return "*2\r\n$9\r\n127.0.0.1\r\n$" + std::to_string(p.size()) + "\r\n" + p + "\r\n";
}

// A sentinel that names 127.0.0.1:<master_port> as mymaster's master, changeable.
struct movable_sentinel {
  explicit movable_sentinel(std::uint16_t port) : master_port(port) {}
  std::atomic<std::uint16_t> master_port;
  fake_sentinel server{[this](const std::string& command) -> std::string {
    if (command == "SENTINEL get-master-addr-by-name mymaster") return master_reply(master_port);
    if (command == "SUBSCRIBE +switch-master") return subscribed;
    return "-ERR unknown command\r\n";
  }};
};

// The control thread stand-in.
struct control_thread {
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;
  void run() {
    thread = std::thread([this] { io.run(); });
  }
  ~control_thread() {
    io.stop();
    if (thread.joinable()) thread.join();
  }
};

client_options nowhere() {
  client_options o;
  o.host = "";
  o.port = 0;
  return o;
}

std::string at(std::uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

// Watching mymaster through `sentinels`; `log`, when given, gets the watcher's lines.
sentinel_options watching(std::vector<server_address> sentinels, log_lines* log = nullptr) {
  sentinel_options o;
  o.sentinels = std::move(sentinels);
  o.master = "mymaster";
  if (log != nullptr) o.log = log->fn();
  return o;
}

// Watching mymaster through `sentinel` alone, asking it every `interval`.
sentinel_options watching(const movable_sentinel& sentinel, std::chrono::milliseconds interval,
                          log_lines* log = nullptr) {
  auto o = watching({address_of(sentinel.server)}, log);
  o.interval = interval;
  return o;
}

// The watcher under test, the data client it points at and the control thread
// (stopped before `data` goes).
struct watched {
  client data{nowhere()};
  control_thread control;
  sentinel_watcher watcher;
  explicit watched(sentinel_options o) : watcher(control.io, data, std::move(o)) {}
  // Asks the sentinels once (within 2 s); when that found the master, starts the
  // periodic round and the subscription on the control thread.
  bool resolve_and_start() {
    if (!watcher.resolve_now(2s)) return false;
    watcher.start();
    control.run();
    return true;
  }
};

TEST(SentinelWatcher, SkipsSentinelsThatSendGarbageOrDoNotKnowTheMaster) {
  fake_sentinel garbage([](const std::string&) { return std::string("?what\r\n"); });
  fake_sentinel huge([](const std::string&) { return std::string("*100\r\n"); });
  fake_sentinel unknown([](const std::string&) { return std::string("*-1\r\n"); });
  fake_sentinel silent([](const std::string&) { return std::string(); });
  movable_sentinel good(6390);
  log_lines log;
  auto o = watching({address_of(garbage),
                     address_of(huge),
                     address_of(unknown),
                     address_of(silent),
                     {"127.0.0.1", test::free_port()},
                     address_of(good.server)},
                    &log);
  o.timeout = 200ms;
  watched w(o);
  ASSERT_TRUE(w.watcher.resolve_now(3s)) << log.all();
  EXPECT_EQ(w.watcher.master(), at(6390));
  EXPECT_EQ(w.data.address(), at(6390));
  const std::string s = "sentinel: 127.0.0.1:";
  EXPECT_TRUE(log.contains(s + std::to_string(garbage.port()) + ": sent bytes that are not RESP2"))
      << log.all();
  EXPECT_TRUE(log.contains(s + std::to_string(huge.port()) + ": sent bytes that are not RESP2"))
      << log.all();
  EXPECT_TRUE(log.contains(s + std::to_string(unknown.port()) + ": does not know the master"))
      << log.all();
  EXPECT_TRUE(log.contains(s + std::to_string(silent.port()) + ": timed out")) << log.all();
  EXPECT_TRUE(log.contains("sentinel: master mymaster is now 127.0.0.1:6390 (was unknown)"))
      << log.all();
}

TEST(SentinelWatcher, AuthenticatesWithTheSentinelPassword) {
  std::atomic<int> questions{0};
  fake_sentinel guarded([&](const std::string& command) -> std::string {
    if (command == "AUTH s3cret") return "+OK\r\n";
    if (command.starts_with("AUTH ")) return "-WRONGPASS invalid username-password pair\r\n";
    questions.fetch_add(1);
    return master_reply(6397);
  });
  for (const std::string password : {"wrong", "s3cret"}) {
    log_lines log;
    auto o = watching({address_of(guarded)}, &log);
    o.password = password;
    watched w(o);
    const bool found = w.watcher.resolve_now(2s);
    if (password == "wrong") {
      EXPECT_FALSE(found);
      EXPECT_TRUE(log.contains("sentinel: 127.0.0.1:" + std::to_string(guarded.port()) +
                               ": AUTH answered WRONGPASS invalid username-password pair"))
          << log.all();
      EXPECT_EQ(questions.load(), 0) << "asked without being authenticated";
    } else {
      EXPECT_TRUE(found) << log.all();
      EXPECT_EQ(w.data.address(), "127.0.0.1:6397");
      EXPECT_EQ(questions.load(), 1);
    }
  }
}

TEST(SentinelWatcher, NoAnswerWithinTheBoundLeavesTheMasterUnknown) {
  fake_sentinel silent([](const std::string&) { return std::string(); });
  auto o = watching({address_of(silent)});
  o.timeout = 2s;
  watched w(o);
  const auto started = steady::now();
  EXPECT_FALSE(w.watcher.resolve_now(300ms));
  EXPECT_LT(steady::now() - started, 1s);
  EXPECT_EQ(w.watcher.master(), "");
  EXPECT_EQ(w.data.address(), "");
}

TEST(SentinelWatcher, AMissedSwitchIsFoundByThePeriodicRound) {
  movable_sentinel sentinel(6391);
  watched w(watching(sentinel, 200ms));
  ASSERT_TRUE(w.resolve_and_start());
  std::this_thread::sleep_for(100ms);  // past the first round
  sentinel.master_port = 6392;         // a failover whose +switch-master nobody hears
  EXPECT_TRUE(wait_until([&] { return w.data.address() == at(6392); }, 2s)) << w.data.address();
  EXPECT_EQ(w.watcher.master(), at(6392));
}

TEST(SentinelWatcher, RecheckAsksAtOnce) {
  movable_sentinel sentinel(6393);
  watched w(watching(sentinel, 60s));
  ASSERT_TRUE(w.resolve_and_start());
  std::this_thread::sleep_for(150ms);  // past the first round and min_gap
  sentinel.master_port = 6394;
  const auto asked = steady::now();
  w.watcher.recheck();
  EXPECT_TRUE(wait_until([&] { return w.data.address() == at(6394); }, 1s)) << w.data.address();
  EXPECT_LT(steady::now() - asked, 500ms);
}

TEST(SentinelWatcher, FollowsSwitchMasterAndDropsASubscriptionThatSendsGarbage) {
  movable_sentinel sentinel(6395);
  log_lines log;
  watched w(watching(sentinel, 60s, &log));  // only the subscription can move it
  ASSERT_TRUE(w.resolve_and_start());
  ASSERT_TRUE(wait_until([&] { return sentinel.server.subscribers() == 1; }, 2s));

  sentinel.server.publish(message("other 127.0.0.1 1 127.0.0.1 2"));
  sentinel.master_port = 6396;  // what the sentinel answers from now on, too
  sentinel.server.publish(message("mymaster 127.0.0.1 6395 127.0.0.1 6396"));
  EXPECT_TRUE(wait_until([&] { return w.data.address() == at(6396); }, 1s)) << w.data.address();
  EXPECT_FALSE(log.contains("is now 127.0.0.1:2 (")) << log.all();

  sentinel.server.publish("*2\r\n$2000000000\r\n" + std::string(5000, 'x'));
  EXPECT_TRUE(wait_until([&] { return log.contains("subscription to"); }, 1s)) << log.all();
  EXPECT_TRUE(log.contains("failed: sent bytes that are not RESP2")) << log.all();
  EXPECT_EQ(w.data.address(), at(6396));
}

TEST(SentinelWatcher, ASentinelThatMissedTheFailoverDoesNotMoveItBack) {
  movable_sentinel sentinel(6398);
  log_lines log;
  watched w(watching(sentinel, 50ms, &log));
  ASSERT_TRUE(w.resolve_and_start());
  ASSERT_TRUE(wait_until([&] { return sentinel.server.subscribers() == 1; }, 2s));

  // The failover's leader announces it; the sentinel asked every round still names the
  // old master (it has not heard yet).
  sentinel.server.publish(
      "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$38\r\n"
      "mymaster 127.0.0.1 6398 127.0.0.1 6399\r\n");
  ASSERT_TRUE(wait_until([&] { return w.data.address() == "127.0.0.1:6399"; }, 1s));
  std::this_thread::sleep_for(300ms);  // several rounds
  EXPECT_EQ(w.data.address(), "127.0.0.1:6399");
  EXPECT_TRUE(
      log.contains(": still names 127.0.0.1:6398, the master before the last "
                   "+switch-master"))
      << log.all();
  EXPECT_TRUE(log.contains("no sentinel names master mymaster; staying on 127.0.0.1:6399"))
      << log.all();
  EXPECT_FALSE(log.contains("is now 127.0.0.1:6398 (was 127.0.0.1:6399)")) << log.all();

  sentinel.master_port = 6399;  // it hears of the failover
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(w.data.address(), "127.0.0.1:6399");
}

}  // namespace
}  // namespace sluice::redis
