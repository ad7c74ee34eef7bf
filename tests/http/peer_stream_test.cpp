// The client connection a session reads and writes, over real loopback sockets with a
// blocking OpenSSL client and a CA the test makes: a TLS handshake, then a request head
// read by the message reader and an answer written back through the same stream; a
// plain connection through the same code; a silent client cut by the deadline; a TLS
// connection's records read through the plain connection's transport (libc's reads
// counted).
#include "http/peer_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <string>

#include "../support/io_worker.hpp"
#include "http/message_reader.hpp"
#include "support/recv_counter.hpp"
#include "support/test_ca.hpp"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;
namespace ssl = asio::ssl;

struct served {
  error_code ec;
  std::string target;  // the request target read through the stream
};

// On the worker: optionally the TLS handshake, then one request head, answered with
// "HTTP/1.1 204 No Content" through the same stream.
awaitable<served> serve_one(tcp::socket socket, std::shared_ptr<const tls::server_context> tls,
                            std::chrono::milliseconds deadline) {
  peer_stream stream(std::move(socket));
  served out;
  stream.expires_after(deadline);
  if (tls) {
    out.ec = co_await stream.handshake(tls);
    if (out.ec) co_return out;
  }
  beast::flat_buffer buffer(16 * 1024);
  request_parser parser;
  std::size_t head_bytes = 0;
  out.ec = co_await read_message_head(stream, buffer, parser, 8192, head_bytes);
  if (out.ec) co_return out;
  out.target = std::string(parser.get().target());
  const std::string answer = "HTTP/1.1 204 No Content\r\n\r\n";
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(answer), nothrow);
  out.ec = ec;
  stream.shutdown_send();
  co_return out;
}

class PeerStream : public ::testing::Test {
 protected:
  void SetUp() override {
    ca.issue("server", "localhost", "DNS:localhost");
    auto loaded = tls::server_context::load({{{ca.path("server.pem"), ca.path("server.key")}}, ""});
    ASSERT_EQ(loaded.error, "");
    context = loaded.context;
  }

  // Accepts one connection on the worker and serves it.
  std::future<served> accept_one(std::shared_ptr<const tls::server_context> tls,
                                 std::chrono::milliseconds deadline = 10s) {
    tcp::socket accepted = acceptor.accept(worker.io());
    return asio::co_spawn(worker.io(), serve_one(std::move(accepted), std::move(tls), deadline),
                          asio::use_future);
  }

  test::test_ca ca;
  std::shared_ptr<const tls::server_context> context;
  test::io_worker worker;
  asio::io_context client_io;
  tcp::acceptor acceptor{client_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
};

TEST_F(PeerStream, ReadsARequestAndWritesTheAnswerOverTls) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(ca.ca());
  ctx.set_verify_mode(ssl::verify_peer);
  ssl::stream<tcp::socket> client(client_io, ctx);
  client.next_layer().connect(acceptor.local_endpoint());
  SSL_set_tlsext_host_name(client.native_handle(), "localhost");
  auto result = std::async(std::launch::async, [&] { return accept_one(context).get(); });
  client.handshake(ssl::stream_base::client);
  asio::write(client, asio::buffer(std::string("GET /over/tls HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string answer;
  error_code ec;
  asio::read_until(client, asio::dynamic_buffer(answer), "\r\n\r\n", ec);
  const served s = result.get();
  EXPECT_FALSE(s.ec) << s.ec.message();
  EXPECT_EQ(s.target, "/over/tls");
  EXPECT_EQ(answer, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_F(PeerStream, PlainConnectionsTakeTheSamePath) {
  tcp::socket client(client_io);
  client.connect(acceptor.local_endpoint());
  auto result = std::async(std::launch::async, [&] { return accept_one(nullptr).get(); });
  asio::write(client, asio::buffer(std::string("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string answer;
  error_code ec;
  asio::read_until(client, asio::dynamic_buffer(answer), "\r\n\r\n", ec);
  const served s = result.get();
  EXPECT_FALSE(s.ec);
  EXPECT_EQ(s.target, "/plain");
  EXPECT_EQ(answer, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_F(PeerStream, ASilentClientFailsTheHandshakeAtTheDeadline) {
  tcp::socket client(client_io);
  client.connect(acceptor.local_endpoint());
  const served s = accept_one(context, 200ms).get();
  EXPECT_EQ(s.ec, beast::error::timeout);
}

TEST_F(PeerStream, PlainHttpBytesFailTheHandshake) {
  tcp::socket client(client_io);
  client.connect(acceptor.local_endpoint());
  asio::write(client, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
  const served s = accept_one(context).get();
  EXPECT_TRUE(s.ec);
  EXPECT_NE(s.ec, beast::error::timeout);
}

// A TLS connection reads its records through the same transport as a plain connection
// (http/tcp_transport.hpp): with no deadline set and TCP_INQ on the socket, once a read
// emptied it, the next read waits for epoll without a system call. (The gateway turns
// TCP_INQ on for plain connections only, for a measured reason: process/gateway.cpp.
// This shows the rule reaches TLS records; the TLS stream's reads used to go through
// beast::tcp_stream, which tried the socket at once here and found nothing.)
TEST_F(PeerStream, ATlsReadAfterTheAnswerWaitsForEpollWithoutASystemCall) {
  namespace counter = test::recv_counter;
  ASSERT_TRUE(drained_reads_supported);
  // Declared first, so joined last: by then the server's socket is closed, and the
  // client's promise broken, so a client still blocked returns.
  std::future<std::string> client;
  std::promise<void> send_first;
  std::promise<void> send_second;
  asio::io_context io{1};
  tcp::acceptor listener(io, {asio::ip::make_address("127.0.0.1"), 0});
  ASSERT_TRUE(enable_drained_reads(listener));  // as on the gateway's plain listeners
  // The client, blocking on a thread of its own: after the handshake, when told, a
  // request; its answer; then, when told, a second request.
  client = std::async(std::launch::async,
                      [this, first = send_first.get_future(), told = send_second.get_future(),
                       to = listener.local_endpoint()]() {
                        asio::io_context cio;
                        ssl::context ctx(ssl::context::tls_client);
                        ctx.load_verify_file(ca.ca());
                        ctx.set_verify_mode(ssl::verify_peer);
                        ssl::stream<tcp::socket> c(cio, ctx);
                        c.next_layer().connect(to);
                        SSL_set_tlsext_host_name(c.native_handle(), "localhost");
                        c.handshake(ssl::stream_base::client);
                        first.wait();
                        asio::write(c, asio::buffer(std::string("first")));
                        std::string answer(2, '\0');
                        asio::read(c, asio::buffer(answer));
                        told.wait();
                        asio::write(c, asio::buffer(std::string("second")));
                        return answer;
                      });
  tcp::socket accepted = listener.accept();
  accepted.non_blocking(true);  // as the session makes it
  const int fd = accepted.native_handle();
  peer_stream server(std::move(accepted));
  // Runs the server's handlers until `done`, for at most two seconds.
  const auto run_until = [&io](const bool& done) {
    io.restart();
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (!done && std::chrono::steady_clock::now() < until) io.run_one_for(10ms);
  };

  server.expires_after(5s);  // the handshake under its deadline, as the session's
  bool shaken = false;
  error_code ec = asio::error::would_block;
  asio::co_spawn(io, server.handshake(context), [&](std::exception_ptr, error_code e) {
    ec = e;
    shaken = true;
  });
  run_until(shaken);
  ASSERT_TRUE(shaken);
  ASSERT_FALSE(ec) << ec.message();
  server.expires_never();  // a keep-alive connection's reads: no deadline
  // Only now the first request: sent sooner, it could come in one segment with the
  // client's Finished and be read under the handshake's deadline, through
  // beast::tcp_stream, whose read does not tell the reactor it emptied the socket; then
  // the read after the answer would try the socket first, rightly, and find nothing.
  send_first.set_value();

  char buf[64] = {};
  bool read_done = false;
  std::size_t got = 0;
  const auto read = [&] {
    read_done = false;
    server.async_read_some(asio::buffer(buf), [&](error_code e, std::size_t n) {
      ec = e;
      got = n;
      read_done = true;
    });
  };
  read();
  run_until(read_done);
  ASSERT_TRUE(read_done);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf, got), "first");
  bool written = false;
  asio::async_write(server, asio::buffer(std::string_view("ok")), [&](error_code e, std::size_t) {
    ec = e;
    written = true;
  });
  run_until(written);
  ASSERT_TRUE(written);
  ASSERT_FALSE(ec) << ec.message();

  counter::reset(fd);
  read();
  io.restart();
  io.run_for(50ms);  // epoll has nothing to report: the client waits to be told
  EXPECT_FALSE(read_done);
  EXPECT_EQ(counter::of(fd).calls, 0U);
  send_second.set_value();
  run_until(read_done);
  ASSERT_TRUE(read_done);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf, got), "second");
  EXPECT_EQ(counter::of(fd).calls, 1U);  // the one read epoll called for
  EXPECT_EQ(counter::of(fd).would_block, 0U);
  EXPECT_EQ(client.get(), "ok");
}

}  // namespace
}  // namespace sluice::net
