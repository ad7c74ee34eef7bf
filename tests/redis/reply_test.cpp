// The RESP reply parser under hostile input: counts and lengths that announce far
// more than is sent (`*888888882`, `$2000000000`), nested arrays, negative counts.
// Each fails as a protocol error at once and within reply_limits of memory; then a
// fake RESP server that answers garbage shows the client drops that connection only
// and reconnects.
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis/client.hpp"
#include "redis/reply.hpp"
#include "support/log_lines.hpp"
#include "support/wait_until.hpp"

namespace sluice::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace std::string_literals;
using status = reply_parser::status;
using steady = std::chrono::steady_clock;

// Heap bytes in use by the process (glibc: arena plus mmapped chunks).
std::size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

status feed_and_next(reply_parser& p, std::string_view bytes, reply& out) {
  if (!p.feed(bytes.data(), bytes.size())) return status::protocol_error;
  return p.next(out);
}

TEST(RedisReplyBounds, HugeArrayCountFailsAtOnceWithoutAllocating) {
  reply_parser parser;
  reply r;
  const std::size_t before = heap_in_use();
  const auto start = steady::now();
  EXPECT_EQ(feed_and_next(parser, "*888888882\r\n", r), status::protocol_error);
  EXPECT_LT(steady::now() - start, 100ms);
  EXPECT_LT(heap_in_use(), before + (1u << 20));  // was ~64 GB: 888888882 x sizeof(reply)
  EXPECT_EQ(parser.error(), "reply has more than 1048576 array elements");
  // The parser stays failed until reset(): the connection is dropped.
  EXPECT_FALSE(parser.feed(":1\r\n", 4));
  EXPECT_EQ(parser.next(r), status::protocol_error);
  parser.reset();
  EXPECT_EQ(feed_and_next(parser, ":1\r\n", r), status::ready);
  EXPECT_EQ(r.integer, 1);
}

TEST(RedisReplyBounds, ArrayHeaderAloneAllocatesNothingForItsElements) {
  // Within the element bound, a header still costs nothing until elements arrive.
  reply_parser parser;
  reply r;
  const std::size_t before = heap_in_use();
  EXPECT_EQ(feed_and_next(parser, "*1000000\r\n", r), status::incomplete);
  EXPECT_LT(heap_in_use(), before + (64u << 10));  // eager: 1000000 x 72 bytes = 72 MB
}

TEST(RedisReplyBounds, ElementBoundCountsNestedArraysOfOneReply) {
  reply_parser parser(reply_limits{.elements = 6});
  reply r;
  // 2 + 2 + 2 elements: exactly the bound.
  ASSERT_EQ(feed_and_next(parser, "*2\r\n*2\r\n:1\r\n:2\r\n*2\r\n:3\r\n:4\r\n", r), status::ready)
      << parser.error();
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[1].elements[1].integer, 4);
  // The next reply starts counting from zero.
  ASSERT_EQ(feed_and_next(parser, "*6\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n", r), status::ready);
  // One more, in a nested array announced after the first one filled: refused on its header.
  EXPECT_EQ(feed_and_next(parser, "*2\r\n*2\r\n:1\r\n:2\r\n*3\r\n", r), status::protocol_error);
  EXPECT_EQ(parser.error(), "reply has more than 6 array elements");
}

TEST(RedisReplyBounds, NestedArraysAtTheDefaultBound) {
  reply_parser parser;
  reply r;
  std::string stream = "*2\r\n*600000\r\n";
  for (int i = 0; i < 600000; ++i) stream += ":1\r\n";
  ASSERT_EQ(feed_and_next(parser, stream, r), status::incomplete) << parser.error();
  // 2 + 600000 + 600000 > 1048576.
  EXPECT_EQ(feed_and_next(parser, "*600000\r\n", r), status::protocol_error);
  EXPECT_EQ(parser.error(), "reply has more than 1048576 array elements");
}

TEST(RedisReplyBounds, NestingDeeperThanHiredisAllowsIsAProtocolError) {
  reply_parser parser;
  reply r;
  std::string deep;
  for (int i = 0; i < 10; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  EXPECT_EQ(feed_and_next(parser, deep, r), status::protocol_error);
  EXPECT_NE(parser.error().find("depth"), std::string_view::npos) << parser.error();
}

TEST(RedisReplyBounds, NegativeCountsOtherThanNilAreProtocolErrors) {
  for (std::string_view bad : {"*-2\r\n", "$-5\r\n", "*-888888882\r\n", "$-2000000000\r\n",
                               "*99999999999\r\n", "$99999999999999999999\r\n"}) {
    reply_parser parser;
    reply r;
    EXPECT_EQ(feed_and_next(parser, bad, r), status::protocol_error) << bad;
    EXPECT_FALSE(parser.error().empty()) << bad;
  }
  reply_parser parser;
  reply r;
  ASSERT_EQ(feed_and_next(parser, "*-1\r\n", r), status::ready);
  EXPECT_TRUE(r.is_nil());
  ASSERT_EQ(feed_and_next(parser, "$-1\r\n", r), status::ready);
  EXPECT_TRUE(r.is_nil());
}

TEST(RedisReplyBounds, ByteBoundIsExactForAReplyFedWhole) {
  reply_parser parser(reply_limits{.bytes = 16});
  reply r;
  // "$6\r\nabcdef\r\n" is 12 bytes; "$10\r\n0123456789\r\n" is 17.
  ASSERT_EQ(feed_and_next(parser, "$6\r\nabcdef\r\n", r), status::ready);
  EXPECT_EQ(r.text, "abcdef");
  // The bound is per reply: many small replies fed at once all come out.
  const std::string many = "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n";  // 25 bytes
  ASSERT_TRUE(parser.feed(many.data(), many.size()));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(parser.next(r), status::ready) << i;
  EXPECT_EQ(parser.next(r), status::incomplete);
  // 16 bytes exactly: "*2\r\n$2\r\nab\r\n:1\r\n".
  ASSERT_EQ(feed_and_next(parser, "*2\r\n$2\r\nab\r\n:1\r\n", r), status::ready);
  EXPECT_EQ(feed_and_next(parser, "$10\r\n0123456789\r\n", r), status::protocol_error);
  EXPECT_EQ(parser.error(), "reply larger than 16 bytes");
}

TEST(RedisReplyBounds, ByteBoundCountsWhatAnArrayAlreadyParsed) {
  // Elements already moved into the tree count too, not only the buffered rest.
  reply_parser parser(reply_limits{.bytes = 64});
  reply r;
  ASSERT_EQ(feed_and_next(parser, "*100\r\n", r), status::incomplete);
  status st = status::incomplete;
  int fed = 0;
  while (st == status::incomplete && fed < 100) {
    st = feed_and_next(parser, ":1\r\n", r);
    ++fed;
  }
  EXPECT_EQ(st, status::protocol_error);
  EXPECT_EQ(fed, 15);  // 6 + 15 x 4 = 66 > 64 (14 elements: 62)
}

TEST(RedisReplyBounds, HugeBulkLengthBuffersAtMostTheBound) {
  // `$2000000000` followed by data as fast as it comes: hiredis would buffer all
  // 2 GB before parsing the string. The parser fails once the reply passes 64 MiB.
  reply_parser parser;
  reply r;
  const std::size_t before = heap_in_use();
  std::size_t peak = 0;
  ASSERT_EQ(feed_and_next(parser, "$2000000000\r\n", r), status::incomplete);
  const std::string chunk(16 * 1024, 'x');  // what the client reads at once
  std::size_t fed = 13;
  status st = status::incomplete;
  const auto start = steady::now();
  while (st == status::incomplete && fed < (std::size_t{256} << 20)) {
    st = feed_and_next(parser, chunk, r);
    fed += chunk.size();
    peak = std::max(peak, heap_in_use());
  }
  // A bound against a parser that slows down as it buffers, not a timing target: under
  // ASan on the 2-core VM the 64 MiB take 6-10 s, more on a busy machine.
  EXPECT_LT(steady::now() - start, 30s);
  ASSERT_EQ(st, status::protocol_error);
  EXPECT_EQ(parser.error(), "reply larger than 67108864 bytes");
  EXPECT_GT(fed, std::size_t{64} << 20);
  EXPECT_LE(fed, (std::size_t{64} << 20) + chunk.size());
  // hiredis' buffer doubles as it grows: at most twice the bound, then freed.
  EXPECT_LT(peak - before, std::size_t{140} << 20);
  EXPECT_LT(heap_in_use(), before + (1u << 20));
}

// ---- a fake RESP server: the client survives garbage and reconnects ----

// A loopback listener answering each connection with the next script entry; one
// connection at a time, on its own thread, every read bounded by a 5 s timeout.
class fake_redis {
 public:
  // Answers `ping_bytes` of handshake with +PONG, reads `command_bytes`, then runs
  // `answer` for that connection (its socket).
  using script = std::vector<std::function<void(int fd)>>;

  explicit fake_redis(script s) : script_(std::move(s)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_redis() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  // Connections whose peer (the client) closed them after the answer.
  int closed_by_client() const { return closed_by_client_.load(); }

  static bool read_exact(int fd, std::size_t n) {
    char buf[256];
    while (n > 0) {
      const ssize_t got = ::recv(fd, buf, std::min(n, sizeof buf), 0);
      if (got <= 0) return false;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }
  static bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Waits (bounded by the receive timeout) for the client to close the connection.
  static bool wait_closed(int fd) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  void serve() {
    for (auto& answer : script_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ++accepted_;
      timeval tv{5, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (read_exact(fd, ping_bytes) && send_all(fd, "+PONG\r\n")) {
        answer(fd);
        if (wait_closed(fd)) ++closed_by_client_;
      }
      ::close(fd);
    }
  }

  static constexpr std::size_t ping_bytes = 14;  // *1\r\n$4\r\nPING\r\n
  script script_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> closed_by_client_{0};
  std::thread thread_;
};

constexpr std::size_t get_k_bytes = 20;  // *2\r\n$3\r\nGET\r\n$1\r\nk\r\n

using test::log_lines;  // support/log_lines.hpp

asio::awaitable<client::result> get_k(client& c) {
  std::vector<std::string> args;
  args.emplace_back("GET");
  args.emplace_back("k");
  auto result = co_await c.command(std::move(args));
  co_return result;
}

using test::wait_until;  // support/wait_until.hpp

TEST(RedisReplyBounds, ClientDropsAConnectionThatAnswersGarbageAndReconnects) {
  fake_redis server({
      [](int fd) {  // a 64 GB array header
        fake_redis::read_exact(fd, get_k_bytes);
        fake_redis::send_all(fd, "*888888882\r\n");
      },
      [](int fd) {  // a 2 GB string that keeps coming until the client hangs up
        fake_redis::read_exact(fd, get_k_bytes);
        fake_redis::send_all(fd, "$2000000000\r\n");
        const std::string chunk(64 * 1024, 'x');
        for (int i = 0; i < 2000 && fake_redis::send_all(fd, chunk); ++i) {
        }
      },
      [](int fd) {  // a sane server at last
        fake_redis::read_exact(fd, get_k_bytes);
        fake_redis::send_all(fd, "$1\r\nv\r\n");
      },
  });
  log_lines log;
  client_options o;
  o.host = "127.0.0.1";
  o.port = server.port();
  o.connections = 1;
  // The failures must come from the replies, not from a deadline: under ASan on a busy
  // 2-core VM reading the 64 MiB before the bound trips has taken over 10 s.
  o.timeout = 60s;
  o.log = log.fn();
  asio::io_context io{1};
  auto guard = asio::make_work_guard(io);
  std::thread worker([&io] { io.run(); });
  {
    client c(o);
    const auto run = [&] { return asio::co_spawn(io, get_k(c), asio::use_future).get(); };
    for (int attempt = 1; attempt <= 2; ++attempt) {
      ASSERT_TRUE(wait_until([&] { return c.connected() && server.accepted() == attempt; }, 5s))
          << attempt;
      const auto start = steady::now();
      const auto [ec, r] = run();
      EXPECT_EQ(ec, make_error_code(client_error::protocol)) << attempt << ": " << ec.message();
      EXPECT_LT(steady::now() - start, 30s);
    }
    ASSERT_TRUE(wait_until([&] { return c.connected() && server.accepted() == 3; }, 5s));
    const auto [ec, r] = run();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(r.text, "v");
    EXPECT_TRUE(wait_until([&] { return server.closed_by_client() == 2; }, 5s));
    EXPECT_TRUE(
        log.contains("lost: redis protocol error (reply has more than 1048576 array "
                     "elements)"));
    EXPECT_TRUE(log.contains("lost: redis protocol error (reply larger than 67108864 bytes)"));
  }
  guard.reset();
  worker.join();
}

}  // namespace
}  // namespace sluice::redis
