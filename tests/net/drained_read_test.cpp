// drained_reader's reads over a real loopback connection, with libc's reads counted
// (support/recv_counter): after a read that emptied the socket the next read makes no
// system call until epoll reports the socket readable, where async_read_some tries and
// finds nothing; and no byte, end of stream (even one queued behind the bytes read),
// close or cancellation is missed while it waits.
#include "net/drained_read.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "support/recv_counter.hpp"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;
namespace counter = test::recv_counter;

struct read_result {
  bool done = false;
  error_code ec;
  std::size_t n = 0;
};

class DrainedRead : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(drained_reads_supported)
        << "drained reads are built for Boost 1.81's epoll reactor (Debian 12)";
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    ASSERT_TRUE(enable_drained_reads(acceptor));  // the accepted socket inherits it
    client.connect(acceptor.local_endpoint());
    server = acceptor.accept();
    server.non_blocking(true);
    fd = server.native_handle();
  }

  // A drained read into buf, or (`plain`) Asio's own async_read_some.
  void start(read_result& r, bool plain = false) {
    r = {};
    auto done = [&r](error_code ec, std::size_t n) { r = {true, ec, n}; };
    if (plain) {
      server.async_read_some(asio::buffer(buf), done);
    } else {
      reader.async_read_some(server, asio::buffer(buf), done);
    }
  }
  // Runs the io_context until `r` completes, for at most two seconds. (An io_context
  // that ran out of work stops, hence restart.)
  void finish(read_result& r) {
    io.restart();
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (!r.done && std::chrono::steady_clock::now() < until) io.run_one_for(10ms);
    ASSERT_TRUE(r.done) << "the read never completed";
  }
  // The handlers ready now, and one look at epoll that does not wait.
  void poll() {
    io.restart();
    io.poll();
  }
  // Lets the reactor take epoll's events while no read waits (it waits for a timer):
  // epoll will not report what has arrived so far again.
  void let_epoll_report() {
    asio::steady_timer timer(io, 30ms);
    timer.async_wait([](error_code) {});
    io.restart();
    io.run();
  }
  std::string got(const read_result& r) const { return std::string(buf, r.n); }
  void send(std::string_view s) { asio::write(client, asio::buffer(s)); }

  // A first read that comes back short: a drained read knows the socket drained
  // afterwards.
  void drain_with_a_short_read(bool plain = false) {
    send("abc");
    read_result r;
    start(r, plain);
    finish(r);
    ASSERT_EQ(got(r), "abc");
    counter::reset(fd);
  }

  asio::io_context io{1};
  tcp::socket client{io};
  tcp::socket server{io};
  drained_reader reader{io.get_executor()};
  int fd = -1;
  char buf[64] = {};
};

TEST_F(DrainedRead, AfterAShortReadTheNextReadWaitsForEpollWithoutASystemCall) {
  drain_with_a_short_read();
  read_result r;
  start(r);
  poll();  // ready handlers and a look at epoll: nothing has arrived
  EXPECT_FALSE(r.done);
  EXPECT_EQ(counter::of(fd).calls, 0U);
  send("defg");
  finish(r);
  EXPECT_EQ(got(r), "defg");
  EXPECT_EQ(counter::of(fd).calls, 1U);  // the one read epoll called for, which found bytes
  EXPECT_EQ(counter::of(fd).would_block, 0U);
}

// The counter sees what Asio's own reads do in the same place: the second tries at once.
TEST_F(DrainedRead, AsyncReadSomeInTheSamePlaceTriesAndFindsNothing) {
  drain_with_a_short_read(true);
  read_result r;
  start(r, true);
  poll();
  EXPECT_FALSE(r.done);
  EXPECT_EQ(counter::of(fd).calls, 1U);
  EXPECT_EQ(counter::of(fd).would_block, 1U);
  send("defg");
  finish(r);
  EXPECT_EQ(got(r), "defg");
}

TEST_F(DrainedRead, BytesThatArriveBeforeTheNextReadStartsAreRead) {
  drain_with_a_short_read();
  send("xyz");  // no read waiting: only epoll's edge tells of these bytes
  read_result r;
  start(r);
  finish(r);
  EXPECT_EQ(got(r), "xyz");
}

TEST_F(DrainedRead, BytesEpollReportedBeforeTheNextReadStartsAreReadAtOnce) {
  drain_with_a_short_read();
  send("xyz");
  let_epoll_report();
  read_result r;
  start(r);
  poll();
  EXPECT_TRUE(r.done);  // epoll will not report these bytes again: read when started
  EXPECT_EQ(got(r), "xyz");
  EXPECT_EQ(counter::of(fd).would_block, 0U);
}

TEST_F(DrainedRead, AReadThatFillsTheBufferLeavesTheNextOneTryingAtOnce) {
  send(std::string(sizeof buf + 10, 'a'));
  let_epoll_report();  // the next read is all that can find the last 10 bytes
  read_result r;
  start(r);
  finish(r);
  ASSERT_EQ(r.n, sizeof buf);  // full: there may be more
  counter::reset(fd);
  start(r);
  poll();
  EXPECT_TRUE(r.done);  // read when started, without waiting for epoll
  EXPECT_EQ(r.n, 10U);
  EXPECT_EQ(counter::of(fd).calls, 1U);
}

// The FIN came with the bytes, and epoll reported both at once: the read that takes
// the bytes must not wait for another event, which will never come.
TEST_F(DrainedRead, AnEndOfStreamQueuedBehindTheBytesReadIsReadAtOnce) {
  send("abc");
  client.shutdown(tcp::socket::shutdown_send);
  let_epoll_report();
  read_result r;
  start(r);
  finish(r);
  ASSERT_EQ(got(r), "abc");
  start(r);
  poll();
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.ec, asio::error::eof);
}

// The upstream pool's connections: TCP_INQ turned on after the connect.
TEST_F(DrainedRead, AConnectedSocketTurnedOnReadsDrainedToo) {
  ASSERT_TRUE(enable_drained_reads(client));
  client.non_blocking(true);
  const int client_fd = client.native_handle();
  read_result r;
  auto done = [&r](error_code ec, std::size_t n) { r = {true, ec, n}; };
  asio::write(server, asio::buffer(std::string_view("abc")));
  reader.async_read_some(client, asio::buffer(buf), done);
  finish(r);
  ASSERT_EQ(got(r), "abc");
  counter::reset(client_fd);
  r = {};
  reader.async_read_some(client, asio::buffer(buf), done);
  poll();
  EXPECT_FALSE(r.done);
  EXPECT_EQ(counter::of(client_fd).calls, 0U);
  asio::write(server, asio::buffer(std::string_view("de")));
  finish(r);
  EXPECT_EQ(got(r), "de");
}

// Without TCP_INQ the kernel does not say what is left: every read tries at once.
TEST_F(DrainedRead, WithoutTcpInqTheNextReadTriesAtOnce) {
  const int off = 0;
  ASSERT_EQ(::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &off, sizeof off), 0);
  drain_with_a_short_read();
  read_result r;
  start(r);
  poll();
  EXPECT_FALSE(r.done);
  EXPECT_EQ(counter::of(fd).calls, 1U);
  EXPECT_EQ(counter::of(fd).would_block, 1U);
}

TEST_F(DrainedRead, TheEndOfTheStreamEndsAWaitingRead) {
  drain_with_a_short_read();
  read_result r;
  start(r);
  poll();
  client.shutdown(tcp::socket::shutdown_send);
  finish(r);
  EXPECT_EQ(r.ec, asio::error::eof);
  EXPECT_EQ(r.n, 0U);
}

TEST_F(DrainedRead, ClosingTheSocketAbortsAWaitingRead) {
  drain_with_a_short_read();
  read_result r;
  start(r);
  poll();
  server.close();
  finish(r);
  EXPECT_EQ(r.ec, asio::error::operation_aborted);
}

TEST_F(DrainedRead, ACancellationSignalAbortsAWaitingReadAndTheSocketReadsOn) {
  drain_with_a_short_read();
  asio::cancellation_signal signal;
  read_result r;
  reader.async_read_some(
      server, asio::buffer(buf),
      asio::bind_cancellation_slot(signal.slot(), [&r](error_code ec, std::size_t n) {
        r = {true, ec, n};
      }));
  poll();
  ASSERT_FALSE(r.done);
  signal.emit(asio::cancellation_type::terminal);
  finish(r);
  EXPECT_EQ(r.ec, asio::error::operation_aborted);
  send("after");
  start(r);
  finish(r);
  EXPECT_EQ(got(r), "after");
}

}  // namespace
}  // namespace sluice::net
