// The Redis client against a real redis-server: every reply kind, each worker's own
// connections (CLIENT LIST), one write per turn, pipelined commands from two workers,
// timeouts during a stall and a hang (SIGSTOP), a killed and restarted server,
// reconnects that wait for each other, a protocol error, AUTH and SELECT, and both
// ways a client ends. The codec is also tested alone, byte by byte.
#include "redis/client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/io_worker.hpp"
#include "support/log_lines.hpp"
#include "support/redis_server.hpp"
#include "support/scripted_server.hpp"
#include "support/wait_until.hpp"

namespace sluice::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace std::string_literals;
using boost::system::error_code;
using steady = std::chrono::steady_clock;
using test::redis_server;

// ---- codec ----

reply status_reply(std::string s) {
  return reply{reply::kind::status, 0, std::move(s), {}};
}
reply error_reply(std::string s) {
  return reply{reply::kind::error, 0, std::move(s), {}};
}
reply string_reply(std::string s) {
  return reply{reply::kind::string, 0, std::move(s), {}};
}
reply integer_reply(std::int64_t v) {
  return reply{reply::kind::integer, v, {}, {}};
}
reply nil_reply() {
  return reply{};
}
reply array_reply(std::vector<reply> e) {
  return reply{reply::kind::array, 0, {}, std::move(e)};
}

TEST(RedisClientCodec, EncodesCommandsAsBinarySafeBulkStrings) {
  std::string out;
  const std::vector<std::string> args = {"SET", "k", std::string("a\0\r\nb", 5)};
  append_command(out, args);
  append_command(out, {"PING"});
  append_command(out, {"GET", ""});
  EXPECT_EQ(out,
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n"
            "*1\r\n$4\r\nPING\r\n"
            "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"s);
}

TEST(RedisClientCodec, ParsesEveryKindFedByteByByte) {
  const std::string stream =
      "+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\na\r\nbc\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
      "*4\r\n:1\r\n*3\r\n$1\r\nx\r\n$-1\r\n*1\r\n+deep\r\n+s\r\n-E\r\n";
  const std::vector<reply> expected = {
      status_reply("OK"),
      error_reply("ERR wrong"),
      integer_reply(-42),
      string_reply("a\r\nbc"),
      string_reply(""),
      nil_reply(),
      nil_reply(),
      array_reply({}),
      array_reply(
          {integer_reply(1),
           array_reply({string_reply("x"), nil_reply(), array_reply({status_reply("deep")})}),
           status_reply("s"), error_reply("E")}),
  };
  reply_parser parser;
  std::vector<reply> got;
  reply r;
  for (char c : stream) {
    ASSERT_TRUE(parser.feed(&c, 1));
    for (;;) {
      const auto st = parser.next(r);
      ASSERT_NE(st, reply_parser::status::protocol_error) << parser.error();
      if (st == reply_parser::status::incomplete) break;
      got.push_back(std::move(r));
    }
  }
  EXPECT_EQ(got, expected);
}

TEST(RedisClientCodec, ReportsProtocolErrorsAndResets) {
  reply_parser parser;
  reply r;
  const std::string garbage = "?what\r\n";
  ASSERT_TRUE(parser.feed(garbage.data(), garbage.size()));
  EXPECT_EQ(parser.next(r), reply_parser::status::protocol_error);
  EXPECT_FALSE(parser.error().empty());
  // A broken array mid-way also frees what was built.
  parser.reset();
  const std::string broken = "*2\r\n$1\r\na\r\n:x\r\n";
  ASSERT_TRUE(parser.feed(broken.data(), broken.size()));
  EXPECT_EQ(parser.next(r), reply_parser::status::protocol_error);
  parser.reset();
  const std::string ok = ":7\r\n";
  ASSERT_TRUE(parser.feed(ok.data(), ok.size()));
  ASSERT_EQ(parser.next(r), reply_parser::status::ready);
  EXPECT_EQ(r, integer_reply(7));
  EXPECT_EQ(parser.next(r), reply_parser::status::incomplete);
}

TEST(RedisClientCodec, ErrorCodesHaveTheRedisCategory) {
  const error_code ec = client_error::timeout;
  EXPECT_STREQ(ec.category().name(), "redis");
  EXPECT_EQ(ec, make_error_code(client_error::timeout));
  EXPECT_NE(ec, make_error_code(client_error::not_connected));
  EXPECT_FALSE(ec.message().empty());
}

// ---- against redis-server ----

// How late a completion may be. On an idle machine a timeout completes ~0.1 ms after
// its deadline (the tests print what they measure); the bounds leave room for a
// loaded 2-core CI machine, where a woken thread can wait tens of ms for a core, and
// for sanitizer builds. Stalls last 1 s so that "timed out" and "waited for the
// stall" stay far apart.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr auto late = 500ms;
#else
constexpr auto late = 150ms;
#endif

// A gateway I/O thread stand-in (support/io_worker.hpp). Declared before the client:
// the io_contexts a client is given must outlive it.
using worker = test::io_worker;

std::vector<asio::io_context*> ios(std::vector<std::unique_ptr<worker>>& workers) {
  std::vector<asio::io_context*> out;
  for (auto& w : workers) out.push_back(&w->io());
  return out;
}

std::vector<std::unique_ptr<worker>> make_workers(int n) {
  std::vector<std::unique_ptr<worker>> out;
  for (int i = 0; i < n; ++i) out.push_back(std::make_unique<worker>());
  return out;
}

struct outcome {
  error_code ec;
  reply r;
  std::thread::id thread;  // where the coroutine resumed
  steady::duration elapsed{};
};

asio::awaitable<outcome> timed_command(client& c, std::vector<std::string> args) {
  const auto start = steady::now();
  auto [ec, r] = co_await c.command(std::move(args));
  co_return outcome{ec, std::move(r), std::this_thread::get_id(), steady::now() - start};
}

std::future<outcome> spawn_command(worker& w, client& c, std::vector<std::string> args) {
  return asio::co_spawn(w.io(), timed_command(c, std::move(args)), asio::use_future);
}

outcome run_command(worker& w, client& c, std::vector<std::string> args) {
  return spawn_command(w, c, std::move(args)).get();
}

using test::wait_until;  // support/wait_until.hpp

client_options options_for(const redis_server& server) {
  client_options o;
  o.host = "127.0.0.1";
  o.port = server.port();
  return o;
}

long long ms(steady::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

double ms_exact(steady::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Collects the client's log lines (written on its connections' threads).
using test::log_lines;  // support/log_lines.hpp

// The ids of the clients connected to `server` (CLIENT LIST), this probe's own
// connection excluded.
std::set<long long> client_ids(const redis_server& server) {
  auto sync = server.connect();
  auto* list = static_cast<redisReply*>(redisCommand(sync.get(), "CLIENT LIST"));
  auto* self = static_cast<redisReply*>(redisCommand(sync.get(), "CLIENT ID"));
  std::set<long long> ids;
  std::istringstream lines(std::string(list->str, list->len));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("id=", 0) == 0) ids.insert(std::stoll(line.substr(3)));
  }
  ids.erase(self->integer);
  freeReplyObject(list);
  freeReplyObject(self);
  return ids;
}

// INFO stats total_reads_processed: read events the server handled.
long long reads_processed(const redis_server& server) {
  const auto info = server.command({"INFO", "stats"});
  const std::string field = "total_reads_processed:";
  const auto at = info.find(field);
  return at == std::string::npos ? -1 : std::stoll(info.substr(at + field.size()));
}

TEST(RedisClient, RoundTripsEveryReplyKindOnTheCallersThread) {
  redis_server server;
  worker w;  // declared first: it must outlive the client
  auto o = options_for(server);
  o.timeout = 5s;  // a megabyte each way is slow under sanitizers; deadlines are tested below
  client c(o, {&w.io()}, nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));

  auto set = run_command(w, c, {"SET", "greeting", "hello"});
  ASSERT_FALSE(set.ec) << set.ec.message();
  EXPECT_EQ(set.r, status_reply("OK"));
  EXPECT_EQ(set.thread, w.id());

  EXPECT_EQ(run_command(w, c, {"GET", "greeting"}).r, string_reply("hello"));
  EXPECT_EQ(run_command(w, c, {"GET", "missing"}).r, nil_reply());
  EXPECT_EQ(run_command(w, c, {"INCR", "n"}).r, integer_reply(1));
  EXPECT_EQ(run_command(w, c, {"INCR", "n"}).r, integer_reply(2));

  // An error reply is a successful round trip.
  auto err = run_command(w, c, {"INCR", "greeting"});
  EXPECT_FALSE(err.ec);
  EXPECT_EQ(err.r.type, reply::kind::error);
  EXPECT_EQ(err.r.text.rfind("ERR", 0), 0u) << err.r.text;

  auto nested = run_command(
      w, c,
      {"EVAL", "return {1, 'two', {3, 'four', {}}, redis.status_reply('five'), KEYS[1], ARGV[1]}",
       "1", "key", "arg"});
  EXPECT_EQ(nested.r,
            array_reply({integer_reply(1), string_reply("two"),
                         array_reply({integer_reply(3), string_reply("four"), array_reply({})}),
                         status_reply("five"), string_reply("key"), string_reply("arg")}));
  EXPECT_EQ(run_command(w, c, {"EVAL", "return redis.error_reply('BOOM went wrong')", "0"}).r,
            error_reply("BOOM went wrong"));
  EXPECT_EQ(
      run_command(w, c, {"EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", "n", "40"})
          .r,
      integer_reply(42));

  // Binary-safe, empty, and larger than one read or write.
  const std::string binary("\0\r\n$*\r\n", 7);
  EXPECT_EQ(run_command(w, c, {"SET", "bin", binary}).r, status_reply("OK"));
  EXPECT_EQ(run_command(w, c, {"GET", "bin"}).r, string_reply(binary));
  EXPECT_EQ(run_command(w, c, {"SET", "empty", ""}).r, status_reply("OK"));
  EXPECT_EQ(run_command(w, c, {"GET", "empty"}).r, string_reply(""));
  std::string big(1 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(run_command(w, c, {"SET", "big", big}).r, status_reply("OK"));
  EXPECT_EQ(run_command(w, c, {"GET", "big"}).r, string_reply(big));
  EXPECT_EQ(server.command({"GET", "greeting"}), "hello");
}

// Sends SET/GET as views into one buffer, the way a backend can avoid copies.
asio::awaitable<std::vector<reply>> commands_from_views(client& c) {
  const std::string buffer = "SETGETviewed-keyvalue";
  const std::string_view all(buffer);
  std::array<std::string_view, 3> set = {all.substr(0, 3), all.substr(6, 10), all.substr(16)};
  std::array<std::string_view, 2> get = {all.substr(3, 3), all.substr(6, 10)};
  std::vector<reply> out;
  auto [set_ec, set_reply] = co_await c.command(set);
  out.push_back(set_ec ? error_reply(set_ec.message()) : std::move(set_reply));
  auto [get_ec, get_reply] = co_await c.command(get);
  out.push_back(get_ec ? error_reply(get_ec.message()) : std::move(get_reply));
  auto [empty_ec, empty_reply] = co_await c.command(std::span<const std::string_view>());
  out.push_back(error_reply(empty_ec.message()));
  co_return out;
}

TEST(RedisClient, SendsViewsWithoutCopiesAndRejectsAnEmptyCommand) {
  redis_server server;
  worker w;
  client c(options_for(server), {&w.io()}, nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  auto replies = asio::co_spawn(w.io(), commands_from_views(c), asio::use_future).get();
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0], status_reply("OK"));
  EXPECT_EQ(replies[1], string_reply("value"));
  EXPECT_EQ(replies[2],
            error_reply(make_error_code(boost::system::errc::invalid_argument).message()));
  EXPECT_EQ(server.command({"GET", "viewed-key"}), "value");
}

TEST(RedisClient, CallersOnAnIoContextItDoesNotKnowHopToOneItServes) {
  redis_server server;
  worker stranger;  // not given to either client
  worker w;
  {
    // Without contexts: the client's own I/O thread carries every command.
    client own(options_for(server));
    ASSERT_TRUE(wait_until([&] { return own.connected(); }, 2s));
    auto r = run_command(stranger, own, {"SET", "k", "own"});
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.r, status_reply("OK"));
    EXPECT_EQ(r.thread, stranger.id());  // resumed where it was awaited
    EXPECT_EQ(client_ids(server).size(), 1u);
  }
  client c(options_for(server), {&w.io()}, nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  auto r = run_command(stranger, c, {"GET", "k"});
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.r, string_reply("own"));
  EXPECT_EQ(r.thread, stranger.id());
}

// Who answered a CLIENT ID: the id of the connection that carried it.
asio::awaitable<long long> connection_id(client& c) {
  std::vector<std::string> args = {"CLIENT", "ID"};
  auto [ec, r] = co_await c.command(std::move(args));
  co_return ec || r.type != reply::kind::integer ? -1 : r.integer;
}

asio::awaitable<void> blocking_pop(client& c, std::atomic<bool>& done) {
  std::vector<std::string> args = {"BLPOP", "nothing-here", "0.3"};
  co_await c.command(std::move(args));
  done = true;
}

// The ids of a worker's two connections: one carries a BLPOP that blocks for 0.3 s,
// a command issued meanwhile goes to the idle one, and the next one after the BLPOP
// to the first again.
asio::awaitable<std::vector<long long>> both_connection_ids(client& c) {
  auto executor = co_await asio::this_coro::executor;
  std::atomic<bool> done{false};
  asio::co_spawn(executor, blocking_pop(c, done), asio::detached);
  asio::steady_timer timer(executor);
  timer.expires_after(50ms);
  co_await timer.async_wait(asio::use_awaitable);
  std::vector<long long> ids;
  ids.push_back(co_await connection_id(c));
  while (!done) {
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  ids.push_back(co_await connection_id(c));
  co_return ids;
}

TEST(RedisClientContexts, EachWorkerOwnsItsConnectionsAndTheControlContextOne) {
  redis_server server;
  auto workers = make_workers(3);
  worker control;
  auto o = options_for(server);
  o.connections = 2;
  o.timeout = 5s;  // the BLPOP blocks 0.3 s
  client c(o, ios(workers), &control.io());
  ASSERT_TRUE(wait_until([&] { return client_ids(server).size() == 3u * 2 + 1; }, 2s))
      << client_ids(server).size() << " connections";
  const std::set<long long> all = client_ids(server);

  std::set<long long> seen;
  for (auto& w : workers) {
    auto ids = asio::co_spawn(w->io(), both_connection_ids(c), asio::use_future).get();
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_NE(ids[0], ids[1]) << "a worker's second connection carried nothing";
    for (long long id : ids) {
      EXPECT_TRUE(all.count(id)) << id;
      EXPECT_TRUE(seen.insert(id).second) << "connection " << id << " serves two workers";
    }
  }
  const long long control_id =
      asio::co_spawn(control.io(), connection_id(c), asio::use_future).get();
  EXPECT_TRUE(all.count(control_id));
  EXPECT_TRUE(seen.insert(control_id).second);
  EXPECT_EQ(seen, all);
}

asio::awaitable<void> count_integer_reply(client& c, std::vector<std::string> args,
                                          std::atomic<int>& good) {
  auto [ec, r] = co_await c.command(std::move(args));
  if (!ec && r.type == reply::kind::integer) good.fetch_add(1);
}

TEST(RedisClientContexts, CommandsOfOneTurnGoOutInOneWrite) {
  redis_server server;
  worker w;
  auto o = options_for(server);
  o.timeout = 5s;
  client c(o, {&w.io()}, nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  constexpr int n = 200;
  std::atomic<int> good{0};
  const long long before = reads_processed(server);
  ASSERT_GE(before, 0);
  // One handler spawns them all: they start, and queue, in the same turn.
  asio::post(w.io(), [&] {
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(w.io(), count_integer_reply(c, {"INCR", "turn"}, good), asio::detached);
    }
  });
  ASSERT_TRUE(wait_until([&] { return good.load() == n; }, 5s)) << good.load();
  // 200 commands in one batch: a read or two on the server (the second INFO adds
  // one), not 200.
  const long long reads = reads_processed(server) - before;
  std::printf("[          ] %d commands of one turn: %lld reads on the server\n", n, reads);
  EXPECT_LE(reads, 3);
  EXPECT_EQ(server.command({"GET", "turn"}), std::to_string(n));
}

// Checks one reply against what it must be, counting mismatches; runs on a worker.
struct tally {
  std::atomic<int> done{0};
  std::atomic<int> errors{0};
  std::atomic<int> mismatches{0};
  std::atomic<int> wrong_thread{0};
};

asio::awaitable<void> check_command(client& c, std::vector<std::string> args, reply expected,
                                    std::thread::id thread, tally& t) {
  auto [ec, r] = co_await c.command(std::move(args));
  if (ec) {
    t.errors.fetch_add(1);
  } else if (r != expected) {
    t.mismatches.fetch_add(1);
  }
  if (std::this_thread::get_id() != thread) t.wrong_thread.fetch_add(1);
  t.done.fetch_add(1);
}

TEST(RedisClientConcurrency, TwoWorkersPipelineTwoThousandCommandsEachWithoutMismatches) {
  constexpr int threads = 2;
  constexpr int per_thread = 2000;
  redis_server server;
  {
    // Values written before: one pipelined burst on a synchronous connection.
    auto sync = server.connect();
    for (int t = 0; t < threads; ++t) {
      for (int i = 0; i < per_thread; i += 2) {
        const std::string key = "v:" + std::to_string(t) + ":" + std::to_string(i);
        const std::string value = "value-" + std::to_string(t) + "-" + std::to_string(i);
        redisAppendCommand(sync.get(), "SET %b %b", key.data(), key.size(), value.data(),
                           value.size());
      }
    }
    for (int n = 0; n < threads * per_thread / 2; ++n) {
      void* r = nullptr;
      ASSERT_EQ(redisGetReply(sync.get(), &r), REDIS_OK);
      freeReplyObject(r);
    }
  }
  auto o = options_for(server);
  o.connections = 2;
  o.timeout = 5s;  // this test is about matching, not deadlines (sanitizer builds are slow)
  auto workers = make_workers(threads);
  client c(o, ios(workers), nullptr);
  // Two connections per worker, and each worker's up on the client's side too: Redis
  // lists a connection before the client has finished setting it up, and a command
  // sent in between fails at once (seen in CI under ASan: one worker's 2000 failed).
  ASSERT_TRUE(wait_until([&] { return client_ids(server).size() == 2u * threads; }, 2s))
      << client_ids(server).size() << " connections";
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));

  tally t;
  const auto start = steady::now();
  for (int w = 0; w < threads; ++w) {
    worker& wk = *workers[static_cast<std::size_t>(w)];
    // Spawned from the worker itself so all 2000 are in flight together.
    asio::post(wk.io(), [&c, &wk, &t, w] {
      for (int i = 0; i < per_thread; ++i) {
        const std::string suffix = std::to_string(w) + ":" + std::to_string(i);
        if (i % 2 == 0) {
          asio::co_spawn(
              wk.io(),
              check_command(c, {"GET", "v:" + suffix},
                            string_reply("value-" + std::to_string(w) + "-" + std::to_string(i)),
                            wk.id(), t),
              asio::detached);
        } else {
          asio::co_spawn(wk.io(),
                         check_command(c, {"INCRBY", "c:" + suffix, std::to_string(i)},
                                       integer_reply(i), wk.id(), t),
                         asio::detached);
        }
      }
    });
  }
  ASSERT_TRUE(wait_until([&] { return t.done.load() == threads * per_thread; }, 30s))
      << t.done.load() << " of " << threads * per_thread << " completed";
  const auto elapsed = steady::now() - start;
  EXPECT_EQ(t.errors.load(), 0);
  EXPECT_EQ(t.mismatches.load(), 0);
  EXPECT_EQ(t.wrong_thread.load(), 0);
  std::printf("[          ] %d commands from %d workers in %.1f ms\n", threads * per_thread,
              threads, ms_exact(elapsed));
  EXPECT_EQ(server.command({"GET", "c:1:1999"}), "1999");
}

// Sequential commands from one coroutine: each is issued by the coroutine the
// previous reply resumed, from inside the connection's read loop.
asio::awaitable<void> incr_chain(client& c, std::string key, int n, std::atomic<int>& good) {
  for (int i = 1; i <= n; ++i) {
    std::vector<std::string> args = {"INCR", key};
    auto [ec, r] = co_await c.command(std::move(args));
    if (!ec && r == integer_reply(i)) good.fetch_add(1);
  }
}

TEST(RedisClientConcurrency, ResumedCallersIssueTheirNextCommandsAtOnce) {
  redis_server server;
  worker w;
  auto o = options_for(server);
  o.timeout = 5s;
  client c(o, {&w.io()}, nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  constexpr int chains = 64;
  constexpr int per_chain = 300;
  std::atomic<int> good{0};
  asio::post(w.io(), [&] {
    for (int i = 0; i < chains; ++i) {
      asio::co_spawn(w.io(), incr_chain(c, "chain:" + std::to_string(i), per_chain, good),
                     asio::detached);
    }
  });
  ASSERT_TRUE(wait_until([&] { return good.load() == chains * per_chain; }, 30s))
      << good.load() << " of " << chains * per_chain;
  EXPECT_EQ(server.command({"GET", "chain:63"}), std::to_string(per_chain));
}

// Blocks redis-server for `seconds` from another connection (DEBUG SLEEP), in the
// background; the returned thread ends when the sleep does (or the server dies).
std::thread stall_server(const redis_server& server, std::string seconds) {
  auto sync = server.connect();
  return std::thread([sync = std::move(sync), seconds] {
    void* r = redisCommand(sync.get(), "DEBUG SLEEP %s", seconds.c_str());
    if (r != nullptr) freeReplyObject(r);
  });
}

TEST(RedisClient, TimesOutDuringAStallAndLaterRepliesStillMatch) {
  redis_server server({"--enable-debug-command", "yes"});
  for (int i = 0; i < 10; ++i) {
    server.command({"SET", "k" + std::to_string(i), "v" + std::to_string(i)});
  }
  auto o = options_for(server);
  o.timeout = 25ms;
  worker w;
  client c(o, {&w.io()}, nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  ASSERT_EQ(run_command(w, c, {"GET", "k0"}).r, string_reply("v0"));

  std::thread stall = stall_server(server, "1");
  std::this_thread::sleep_for(50ms);  // the server is inside DEBUG SLEEP now
  std::vector<std::future<outcome>> during;
  for (int i = 0; i < 10; ++i)
    during.push_back(spawn_command(w, c, {"GET", "k" + std::to_string(i)}));
  steady::duration slowest{};
  for (auto& f : during) {
    auto r = f.get();
    EXPECT_EQ(r.ec, make_error_code(client_error::timeout)) << r.ec.message();
    EXPECT_GE(r.elapsed, 25ms);
    slowest = std::max(slowest, r.elapsed);
  }
  EXPECT_LT(slowest, 25ms + late);
  std::printf("[          ] timed out after at most %.2f ms (timeout 25 ms)\n", ms_exact(slowest));
  EXPECT_TRUE(c.connected());  // a timeout does not drop the connection

  stall.join();
  // The late replies of the timed-out commands are dropped; new ones match.
  std::vector<std::future<outcome>> after;
  for (int i = 9; i >= 0; --i)
    after.push_back(spawn_command(w, c, {"GET", "k" + std::to_string(i)}));
  for (int i = 9; i >= 0; --i) {
    auto r = after[static_cast<std::size_t>(9 - i)].get();
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.r, string_reply("v" + std::to_string(i)));
  }
  EXPECT_EQ(run_command(w, c, {"INCR", "after"}).r, integer_reply(1));
}

TEST(RedisClient, AHungServerCostsTimeoutsAndItsConnectionResumesWhenItContinues) {
  redis_server server;
  server.command({"SET", "k", "v"});
  auto o = options_for(server);
  o.timeout = 25ms;
  auto workers = make_workers(2);
  client c(o, ios(workers), nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  const auto ids = client_ids(server);

  ASSERT_EQ(::kill(server.pid(), SIGSTOP), 0);  // no FIN, no RST: just silence
  std::vector<std::future<outcome>> hung;
  for (auto& w : workers) {
    for (int i = 0; i < 5; ++i) hung.push_back(spawn_command(*w, c, {"GET", "k"}));
  }
  steady::duration slowest{};
  for (auto& f : hung) {
    auto r = f.get();
    EXPECT_EQ(r.ec, make_error_code(client_error::timeout)) << r.ec.message();
    slowest = std::max(slowest, r.elapsed);
  }
  EXPECT_LT(slowest, 25ms + late);
  for (auto& w : workers) {
    EXPECT_TRUE(w->on_thread([&] { return c.connected(); }));  // still up: only slow
  }
  ASSERT_EQ(::kill(server.pid(), SIGCONT), 0);
  for (auto& w : workers) {
    auto r = run_command(*w, c, {"GET", "k"});
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.r, string_reply("v"));
  }
  EXPECT_EQ(client_ids(server), ids);  // the same connections
}

TEST(RedisClient, TimesOutCommandsQueuedBehindAWriteRedisDoesNotRead) {
  redis_server server({"--enable-debug-command", "yes"});
  server.command({"SET", "small", "s"});
  worker w;
  auto o = options_for(server);
  o.timeout = 25ms;
  client c(o, {&w.io()}, nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));

  // More than the socket buffers hold: the write stays in flight during the stall,
  // so the next commands (once that write has started) wait unwritten.
  constexpr std::size_t big_size = 16 << 20;
  std::vector<std::string> set_big = {"SET", "big"};
  set_big.emplace_back(big_size, 'b');
  std::thread stall = stall_server(server, "1");
  std::this_thread::sleep_for(50ms);
  auto big = spawn_command(w, c, std::move(set_big));
  std::this_thread::sleep_for(100ms);
  std::vector<std::future<outcome>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(spawn_command(w, c, {"GET", "small"}));
  EXPECT_EQ(big.get().ec, make_error_code(client_error::timeout));
  steady::duration slowest{};
  for (auto& f : queued) {
    auto r = f.get();
    EXPECT_EQ(r.ec, make_error_code(client_error::timeout)) << r.ec.message();
    slowest = std::max(slowest, r.elapsed);
  }
  EXPECT_LT(slowest, 25ms + late);
  std::printf("[          ] queued commands timed out after at most %.2f ms (timeout 25 ms)\n",
              ms_exact(slowest));
  stall.join();
  // Once Redis reads again, everything is written, the stale replies dropped.
  for (int i = 0; i < 3; ++i) {
    auto r = run_command(w, c, {"GET", "small"});
    if (r.ec == make_error_code(client_error::timeout)) continue;  // the 16 MiB still drain
    EXPECT_EQ(r.r, string_reply("s"));
  }
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = run_command(w, c, {"STRLEN", "big"});
        return !r.ec && r.r == integer_reply(big_size);
      },
      5s));
  EXPECT_EQ(run_command(w, c, {"GET", "small"}).r, string_reply("s"));
}

TEST(RedisClient, FailsFastWhenRedisDiesAndReconnectsWhenItReturns) {
  redis_server server({"--enable-debug-command", "yes"});
  auto o = options_for(server);
  o.timeout = 5s;  // so a failure within it comes from the loss, not the deadline
  log_lines log;
  o.log = log.fn();
  auto workers = make_workers(2);
  worker& w = *workers[0];
  client c(o, ios(workers), nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  ASSERT_EQ(run_command(w, c, {"SET", "k", "v"}).r, status_reply("OK"));

  // A command waiting on the server when it dies fails as soon as the loss is known.
  std::thread stall = stall_server(server, "2");
  std::this_thread::sleep_for(50ms);
  auto waiting = spawn_command(w, c, {"GET", "k"});
  std::this_thread::sleep_for(50ms);
  const auto killed = steady::now();
  server.stop();
  auto lost = waiting.get();
  const auto lost_after = steady::now() - killed;
  stall.join();
  EXPECT_EQ(lost.ec, make_error_code(client_error::connection_lost)) << lost.ec.message();
  EXPECT_LT(lost_after, 500ms);
  ASSERT_TRUE(wait_until([&] { return !c.connected(); }, 500ms));
  std::printf("[          ] pending command failed %.2f ms after the kill\n", ms_exact(lost_after));

  // While down: not_connected at once, never a stall, on every worker.
  for (auto& wk : workers) {
    ASSERT_TRUE(wait_until([&] { return !wk->on_thread([&] { return c.connected(); }); }, 500ms));
    for (int i = 0; i < 5; ++i) {
      auto r = run_command(*wk, c, {"GET", "k"});
      EXPECT_EQ(r.ec, make_error_code(client_error::not_connected));
      EXPECT_LT(r.elapsed, late / 10);
    }
  }
  std::this_thread::sleep_for(300ms);  // a few failed reconnects grow the backoff

  server.start();
  const auto restarted = steady::now();
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 3s));  // every worker
  const auto back_after = steady::now() - restarted;
  EXPECT_LT(back_after, 1500ms);
  std::printf("[          ] reconnected %lld ms after the restart\n", ms(back_after));
  EXPECT_EQ(run_command(w, c, {"GET", "k"}).r, nil_reply());  // a fresh, empty server
  EXPECT_EQ(run_command(*workers[1], c, {"SET", "k", "again"}).r, status_reply("OK"));
  EXPECT_EQ(server.command({"GET", "k"}), "again");
  EXPECT_TRUE(log.contains("lost"));
  EXPECT_TRUE(log.contains("w1.0 up"));
}

TEST(RedisClient, ConnectionsWaitingInBackoffRetryWhenAnotherOneComesUp) {
  redis_server server;
  server.stop();  // down from the start; started again on its port below
  auto o = options_for(server);
  o.reconnect_min = 50ms;
  o.reconnect_max = 1s;
  auto workers = make_workers(2);
  // The second worker starts 0.5 s late, so the two retry on different schedules.
  asio::post(workers[1]->io(), [] { std::this_thread::sleep_for(500ms); });
  client c(o, ios(workers), nullptr);
  std::this_thread::sleep_for(2500ms);  // both back off to 1 s
  ASSERT_FALSE(c.connected());

  server.start();
  const auto started = steady::now();
  auto any_up = [&] {
    for (auto& w : workers) {
      if (w->on_thread([&] { return c.connected(); })) return true;
    }
    return false;
  };
  ASSERT_TRUE(wait_until(any_up, 3s));
  const auto first = steady::now();
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 3s));
  const auto gap = steady::now() - first;
  std::printf("[          ] first connection up %lld ms after the start, all %.1f ms later\n",
              ms(first - started), ms_exact(gap));
  EXPECT_LT(gap, late);
}

TEST(RedisClient, FailsAtOnceWhenNoServerListens) {
  client_options o;
  o.host = "127.0.0.1";
  o.port = test::free_port();
  worker w;
  client c(o, {&w.io()}, nullptr);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(c.connected());
  auto r = run_command(w, c, {"PING"});
  EXPECT_EQ(r.ec, make_error_code(client_error::not_connected));
  EXPECT_LT(r.elapsed, late / 10);
}

// Sentinel mode re-points the client at a new master: every worker's connections
// move over (a command pending on the old server fails with connection_lost), and the
// commands after it land on the new server.
TEST(RedisClient, SetAddressMovesEveryConnectionToTheNewServer) {
  redis_server first;
  redis_server second;
  auto workers = make_workers(2);
  worker control;
  auto o = options_for(first);
  o.connections = 2;
  o.timeout = 5s;  // the BLPOP below blocks for 3 s: a failure comes from the move
  std::atomic<int> doubts{0};
  o.on_master_doubt = [&] { doubts.fetch_add(1); };
  client c(o, ios(workers), &control.io());
  ASSERT_TRUE(wait_until([&] { return client_ids(first).size() == 2u * 2 + 1; }, 2s));
  EXPECT_EQ(c.address(), "127.0.0.1:" + std::to_string(first.port()));
  ASSERT_EQ(run_command(*workers[0], c, {"SET", "where", "first"}).r, status_reply("OK"));

  auto blocked = spawn_command(*workers[1], c, {"BLPOP", "nothing", "3"});
  std::this_thread::sleep_for(50ms);
  const auto moved = steady::now();
  EXPECT_TRUE(c.set_address("127.0.0.1", second.port()));
  EXPECT_EQ(c.address(), "127.0.0.1:" + std::to_string(second.port()));
  auto lost = blocked.get();
  EXPECT_EQ(lost.ec, make_error_code(client_error::connection_lost)) << lost.ec.message();
  EXPECT_LT(steady::now() - moved, late);
  ASSERT_TRUE(wait_until([&] { return client_ids(second).size() == 2u * 2 + 1; }, 2s))
      << client_ids(second).size() << " connections on the second server";
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  const auto all_moved = steady::now() - moved;
  EXPECT_LT(all_moved, 500ms);
  EXPECT_TRUE(wait_until([&] { return client_ids(first).empty(); }, 1s));
  std::printf("[          ] every connection on the new server %.1f ms after set_address\n",
              ms_exact(all_moved));

  for (int i = 0; i < 2; ++i) {
    const std::string key = "moved" + std::to_string(i);
    ASSERT_EQ(run_command(*workers[i], c, {"SET", key, "second"}).r, status_reply("OK"));
    EXPECT_EQ(second.command({"GET", key}), "second");
    EXPECT_EQ(first.command({"GET", key}), "(nil)");
  }
  EXPECT_EQ(
      asio::co_spawn(control.io(), timed_command(c, {"GET", "moved0"}), asio::use_future).get().r,
      string_reply("second"));
  EXPECT_EQ(run_command(*workers[0], c, {"GET", "where"}).r, nil_reply());  // not first's key

  // The same address again: nothing moves.
  const auto ids = client_ids(second);
  EXPECT_FALSE(c.set_address("127.0.0.1", second.port()));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(client_ids(second), ids);
  EXPECT_EQ(doubts.load(), 0) << "a move is not a doubt about the master";

  // A demoted master answers writes with READONLY: the client says so.
  second.command({"REPLICAOF", "127.0.0.1", std::to_string(first.port())});
  auto readonly = run_command(*workers[0], c, {"SET", "k", "v"});
  ASSERT_TRUE(readonly.r.is_error()) << readonly.r.text;
  EXPECT_TRUE(readonly.r.text.starts_with("READONLY")) << readonly.r.text;
  EXPECT_GE(doubts.load(), 1);
}

// Sentinel mode before any sentinel answered: no address, no connection, until one is set.
TEST(RedisClient, AnEmptyHostConnectsNowhereUntilAnAddressIsSet) {
  redis_server server;
  client_options o;
  o.host = "";
  o.port = 0;
  o.reconnect_max = 5s;  // the move must not wait for the backoff
  std::atomic<int> doubts{0};
  o.on_master_doubt = [&] { doubts.fetch_add(1); };
  log_lines log;
  o.log = log.fn();
  worker w;
  client c(o, {&w.io()}, nullptr);
  EXPECT_EQ(c.address(), "");
  ASSERT_TRUE(wait_until([&] { return log.contains("cannot connect: no address yet"); }, 1s));
  EXPECT_FALSE(c.connected());
  EXPECT_EQ(run_command(w, c, {"PING"}).ec, make_error_code(client_error::not_connected));
  EXPECT_GE(doubts.load(), 1);
  std::this_thread::sleep_for(1200ms);  // in backoff, now well over a second

  const auto set = steady::now();
  EXPECT_TRUE(c.set_address("127.0.0.1", server.port()));
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  EXPECT_LT(steady::now() - set, late);
  EXPECT_EQ(run_command(w, c, {"PING"}).r, status_reply("PONG"));
}

// The fixture's readiness probe is an unauthenticated PING, so the password is set
// once the server is up rather than with --requirepass on its command line.
void require_password(const redis_server& server, const std::string& password) {
  ASSERT_EQ(server.command({"CONFIG", "SET", "requirepass", password}), "OK");
}

TEST(RedisClient, AuthenticatesWithThePassword) {
  redis_server server;
  require_password(server, "s3cret");
  auto o = options_for(server);
  o.password = "s3cret";
  auto workers = make_workers(2);
  client c(o, ios(workers), nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  EXPECT_EQ(run_command(*workers[0], c, {"SET", "k", "v"}).r, status_reply("OK"));
  EXPECT_EQ(run_command(*workers[1], c, {"GET", "k"}).r, string_reply("v"));
}

TEST(RedisClient, WrongOrMissingPasswordNeverCountsAsConnected) {
  redis_server server;
  require_password(server, "s3cret");
  worker w;
  for (const std::string password : {"wrong", ""}) {
    auto o = options_for(server);
    o.password = password;
    log_lines log;
    o.log = log.fn();
    client c(o, {&w.io()}, nullptr);
    // Several handshakes fail meanwhile (50, 100, 200 ms backoff).
    std::this_thread::sleep_for(400ms);
    EXPECT_FALSE(c.connected()) << "password '" << password << "'";
    EXPECT_EQ(run_command(w, c, {"PING"}).ec, make_error_code(client_error::not_connected));
    EXPECT_TRUE(log.contains(password.empty() ? "NOAUTH" : "WRONGPASS"))
        << "password '" << password << "'";
  }
}

TEST(RedisClient, SelectsTheDatabase) {
  redis_server server;
  auto o = options_for(server);
  o.database = 3;
  worker w;
  client c(o, {&w.io()}, nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
  ASSERT_EQ(run_command(w, c, {"SET", "in3", "yes"}).r, status_reply("OK"));

  auto sync = server.connect();
  auto text = [&](const char* cmd) {
    auto* r = static_cast<redisReply*>(redisCommand(sync.get(), cmd));
    EXPECT_NE(r, nullptr);
    std::string out = r->type == REDIS_REPLY_NIL ? "(nil)" : std::string(r->str, r->len);
    freeReplyObject(r);
    return out;
  };
  EXPECT_EQ(text("GET in3"), "(nil)");  // db 0
  EXPECT_EQ(text("SELECT 3"), "OK");
  EXPECT_EQ(text("GET in3"), "yes");
}

using test::scripted_server;  // support/scripted_server.hpp

TEST(RedisClientContexts, AProtocolErrorDropsThatConnectionOnly) {
  scripted_server server([](const std::string& command) -> std::string {
    if (command == "GET bad") return "?what\r\n";  // not RESP2
    return "$1\r\nv\r\n";
  });
  client_options o;
  o.host = "127.0.0.1";
  o.port = server.port();
  o.timeout = 5s;  // failures must come from the replies
  log_lines log;
  o.log = log.fn();
  auto workers = make_workers(2);
  client c(o, ios(workers), nullptr);
  ASSERT_TRUE(wait_until([&] { return c.connected() && server.accepted() == 2; }, 2s));

  auto bad = run_command(*workers[0], c, {"GET", "bad"});
  EXPECT_EQ(bad.ec, make_error_code(client_error::protocol)) << bad.ec.message();
  // Worker 0 reconnects; worker 1's connection never noticed.
  ASSERT_TRUE(wait_until([&] { return server.accepted() == 3 && c.connected(); }, 2s));
  EXPECT_EQ(server.closed_by_client(), 1);
  EXPECT_TRUE(log.contains("w0.0 lost: redis protocol error"));
  EXPECT_FALSE(log.contains("w1.0 lost"));
  for (auto& w : workers) {
    auto r = run_command(*w, c, {"GET", "k"});
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.r, string_reply("v"));
  }
  EXPECT_EQ(server.accepted(), 3);
}

TEST(RedisClient, DestructorFailsPendingCommands) {
  redis_server server({"--enable-debug-command", "yes"});
  auto o = options_for(server);
  o.timeout = 5s;
  worker w;  // declared first: it must outlive the client
  worker stranger;
  auto c = std::make_unique<client>(o, std::vector<asio::io_context*>{&w.io()}, nullptr);
  auto own = std::make_unique<client>(o);
  ASSERT_TRUE(wait_until([&] { return c->connected() && own->connected(); }, 2s));
  std::thread stall = stall_server(server, "0.5");
  std::this_thread::sleep_for(50ms);
  auto waiting = spawn_command(w, *c, {"PING"});
  auto hopped = spawn_command(stranger, *own, {"PING"});
  std::this_thread::sleep_for(20ms);
  const auto start = steady::now();
  c.reset();
  own.reset();
  auto r = waiting.get();
  EXPECT_EQ(r.ec, make_error_code(client_error::connection_lost)) << r.ec.message();
  auto h = hopped.get();
  EXPECT_EQ(h.ec, make_error_code(client_error::connection_lost)) << h.ec.message();
  EXPECT_LT(steady::now() - start, 400ms);
  stall.join();
}

// Counts its destruction: a coroutine frame holding one is gone when it is counted.
struct destroyed_counter {
  explicit destroyed_counter(std::atomic<int>* c) : count(c) {}
  destroyed_counter(destroyed_counter&& other) noexcept : count(std::exchange(other.count, {})) {}
  ~destroyed_counter() {
    if (count != nullptr) count->fetch_add(1);
  }
  std::atomic<int>* count;
};

asio::awaitable<void> pending_forever(client& c, destroyed_counter counter) {
  std::vector<std::string> args = {"BLPOP", "nothing-here", "0"};
  co_await c.command(std::move(args));
  counter.count = nullptr;  // never reached: the io_context stops first
}

// The gateway's shutdown: the io_contexts stop, then the client goes, then they do.
// A command pending on a connection then goes with the io_context, never run.
TEST(RedisClient, DestroyedAfterItsIoContextsStoppedLeavesThemToCleanUp) {
  redis_server server;
  auto o = options_for(server);
  o.timeout = 5s;
  std::atomic<int> destroyed{0};
  {
    asio::io_context io{1};
    auto guard = asio::make_work_guard(io);
    std::thread runner([&io] { io.run(); });
    {
      client c(o, {&io}, nullptr);
      ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
      asio::co_spawn(io, pending_forever(c, destroyed_counter{&destroyed}), asio::detached);
      ASSERT_TRUE(wait_until(
          [&] {
            return server.command({"CLIENT", "LIST"}).find("blpop") != std::string::npos;
          },
          2s));
      io.stop();
      runner.join();
    }
    EXPECT_EQ(destroyed.load(), 0);  // still parked in the stopped io_context
  }
  EXPECT_EQ(destroyed.load(), 1);  // destroyed with it (ASan/LSan: nothing else left)
}

asio::awaitable<void> repeat_get(client& c, tally& t, std::thread::id id, int n) {
  for (int i = 0; i < n; ++i) {
    // Built outside the co_await: g++ 12 rejects the braced list inside it.
    std::vector<std::string> args = {"GET", "k"};
    co_await check_command(c, std::move(args), string_reply("v"), id, t);
  }
}

// Sequential round trips from one coroutine, each timed from call to resumption.
asio::awaitable<std::vector<double>> sequential_round_trips(client& c, int n) {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> args = {"GET", "k"};
    const auto start = steady::now();
    auto [ec, r] = co_await c.command(std::move(args));
    out.push_back(ec ? -1.0 : ms_exact(steady::now() - start));
  }
  co_return out;
}

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Manual measurement (not a timed test): run with --gtest_also_run_disabled_tests.
TEST(RedisClientLatency, DISABLED_RoundTripAgainstSyncHiredis) {
  redis_server server;
  server.command({"SET", "k", "v"});
  auto workers = make_workers(2);
  constexpr int n = 20000;
  auto percentiles = [](std::vector<double> v, const char* what) {
    std::sort(v.begin(), v.end());
    std::printf("[          ] %-36s p50 %.1f us  p99 %.1f us  max %.1f us\n", what,
                v[v.size() / 2] * 1000, v[v.size() * 99 / 100] * 1000, v.back() * 1000);
  };
  {
    client c(options_for(server), ios(workers), nullptr);
    ASSERT_TRUE(wait_until([&] { return c.connected(); }, 2s));
    auto through_client =
        asio::co_spawn(workers[0]->io(), sequential_round_trips(c, n), asio::use_future).get();
    ASSERT_EQ(std::count(through_client.begin(), through_client.end(), -1.0), 0);
    percentiles(through_client, "client, one coroutine, sequential");
  }
  auto sync = server.connect();
  std::vector<double> direct;
  for (int i = 0; i < n; ++i) {
    const auto start = steady::now();
    freeReplyObject(redisCommand(sync.get(), "GET k"));
    direct.push_back(ms_exact(steady::now() - start));
  }
  percentiles(direct, "sync hiredis, same thread");

  // Throughput: 2 workers x 64 coroutines, each issuing commands back to back, on
  // the workers' own connections and (hopping) on the client's own thread.
  for (int connections : {1, 2, 0}) {
    auto o = options_for(server);
    o.connections = std::max(1, connections);
    o.timeout = 1s;
    auto c = connections > 0 ? std::make_unique<client>(o, ios(workers), nullptr)
                             : std::make_unique<client>(o);
    ASSERT_TRUE(wait_until([&] { return c->connected(); }, 2s));
    tally t;
    constexpr int per_coroutine = 2000;
    constexpr int total = 2 * 64 * per_coroutine;
    const double cpu_before = process_cpu_seconds();
    const auto start = steady::now();
    for (auto& wk : workers) {
      for (int j = 0; j < 64; ++j) {
        asio::co_spawn(wk->io(), repeat_get(*c, t, wk->id(), per_coroutine), asio::detached);
      }
    }
    ASSERT_TRUE(wait_until([&] { return t.done.load() == total; }, 60s));
    const double seconds = std::chrono::duration<double>(steady::now() - start).count();
    const double cpu = process_cpu_seconds() - cpu_before;
    std::printf(
        "[          ] pipelined, %s: %.0f commands/s, %.2f us CPU per command in this process "
        "(2 threads x 64 in flight), errors %d\n",
        connections > 0 ? (std::to_string(connections) + " connection(s) per worker").c_str()
                        : "hopping to the client's own thread",
        total / seconds, cpu / total * 1e6, t.errors.load());
  }
}

}  // namespace
}  // namespace sluice::redis
