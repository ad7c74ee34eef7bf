// The client connection a session reads and writes, over real loopback sockets with a
// blocking OpenSSL client and a CA the test makes: a TLS handshake, then a request head
// read by the message reader and an answer written back through the same stream; a
// plain connection through the same code; a silent client cut by the deadline.
#include "http/peer_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>

#include "../support/io_worker.hpp"
#include "http/message_reader.hpp"
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

}  // namespace
}  // namespace sluice::net
