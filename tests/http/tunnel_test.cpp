// The byte tunnel of a passed-on WebSocket handshake, over real loopback sockets: the
// bytes read behind each head go first, each direction carries on after the other
// half-closed, and an idle tunnel closes both sides.
#include "http/tunnel.hpp"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <future>
#include <string>

#include "../support/io_worker.hpp"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;

// A connected pair on loopback: `near` for the tunnel, `far` driven by the test.
struct socket_pair {
  socket_pair(asio::io_context& tunnel_io, asio::io_context& test_io)
      : near(tunnel_io), far(test_io) {
    tcp::acceptor acceptor(test_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    far.connect(acceptor.local_endpoint());
    near = acceptor.accept(tunnel_io);
  }
  tcp::socket near;
  tcp::socket far;
};

std::string read_exactly(tcp::socket& s, std::size_t n) {
  std::string out(n, '\0');
  asio::read(s, asio::buffer(out));
  return out;
}

// True when the peer has ended its sending half (or the connection is gone).
bool at_end(tcp::socket& s) {
  char c;
  error_code ec;
  s.read_some(asio::buffer(&c, 1), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

class Tunnel : public ::testing::Test {
 protected:
  std::future<tunnel_result> start(asio::const_buffer client_early,
                                   asio::const_buffer upstream_early,
                                   std::chrono::steady_clock::duration idle) {
    return asio::co_spawn(
        worker.io(), run_tunnel(client.near, client_early, upstream.near, upstream_early, idle),
        asio::use_future);
  }

  test::io_worker worker;
  asio::io_context test_io;
  socket_pair client{worker.io(), test_io};
  socket_pair upstream{worker.io(), test_io};
};

TEST_F(Tunnel, EarlyBytesFirstThenEachDirectionOutlivesTheOthersHalfClose) {
  const std::string client_early = "C0", upstream_early = "U0";
  auto done = start(asio::buffer(client_early), asio::buffer(upstream_early), 30s);
  EXPECT_EQ(read_exactly(upstream.far, 2), "C0");
  EXPECT_EQ(read_exactly(client.far, 2), "U0");

  asio::write(client.far, asio::buffer(std::string("hello")));
  EXPECT_EQ(read_exactly(upstream.far, 5), "hello");
  client.far.shutdown(tcp::socket::shutdown_send);
  EXPECT_TRUE(at_end(upstream.far));  // the client's half-close, passed on

  asio::write(upstream.far, asio::buffer(std::string("bye")));
  EXPECT_EQ(read_exactly(client.far, 3), "bye");  // the other direction still carries
  EXPECT_EQ(done.wait_for(0s), std::future_status::timeout);
  upstream.far.shutdown(tcp::socket::shutdown_send);
  EXPECT_TRUE(at_end(client.far));

  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  const tunnel_result moved = done.get();
  EXPECT_EQ(moved.to_upstream, 7u);
  EXPECT_EQ(moved.to_client, 5u);
}

// (A busy tunnel outliving its idle timeout is tested end to end, across a real
// window: tests/e2e/test_websocket.py.)
TEST_F(Tunnel, AnIdleTunnelClosesBothSides) {
  auto done = start({}, {}, 100ms);
  asio::write(client.far, asio::buffer(std::string("x")));
  EXPECT_EQ(read_exactly(upstream.far, 1), "x");
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(at_end(client.far));
  EXPECT_TRUE(at_end(upstream.far));
  EXPECT_EQ(done.get().to_upstream, 1u);
}

}  // namespace
}  // namespace sluice::net
