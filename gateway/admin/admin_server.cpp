#include "admin/admin_server.hpp"

#include <array>
#include <exception>
#include <iostream>
#include <optional>

#include "http/error_response.hpp"
#include "http/message_reader.hpp"

namespace sluice::admin {
namespace {

using namespace sluice::net;
using steady = std::chrono::steady_clock;
using request_parser = http::request_parser<http::string_body>;

// Admin clients send small requests with Content-Length; these bounds are not
// configurable. Trailers of a chunked request count against the head limit.
constexpr std::uint32_t admin_header_limit = 16 * 1024;
constexpr std::uint64_t admin_body_limit = 1024 * 1024;
constexpr std::chrono::seconds admin_timeout{10};  // a whole request, and a response write
constexpr std::size_t read_size = 16 * 1024;
// After an error answer, what the peer still sends is read and dropped (never parsed),
// up to this much for this long, before the close: closing with unread bytes would
// reset the connection and could destroy the answer before the peer reads it.
constexpr std::size_t linger_bytes = 256 * 1024;
constexpr std::chrono::seconds linger_timeout{2};

ip_address to_ip(const asio::ip::address& a) {
  if (a.is_v4()) return ip_address::from_v4(a.to_v4().to_uint());
  return ip_address::from_v6(a.to_v6().to_bytes());
}

struct read_result {
  enum kind { ok, closed, rejected };
  kind outcome = closed;
  gateway_error error = gateway_error::bad_request;
  std::string message;
};

read_result rejected(gateway_error error, std::string message) {
  return {read_result::rejected, error, std::move(message)};
}

read_result ended(read_result::kind outcome) {
  return {outcome, gateway_error::bad_request, {}};
}

// Feeds `parser` what `buffer` holds; returns a rejection, or nothing when the
// parser is done or needs more bytes. `head_bytes` gets the size of the head once
// it is parsed.
std::optional<read_result> parse_buffered(request_parser& parser, beast::flat_buffer& buffer,
                                          std::size_t& head_bytes) {
  error_code ec;
  while (buffer.size() != 0 && !parser.is_done()) {
    const bool head_done = parser.is_header_done();
    // Beast's fields throw for a value over 64 KiB (the bounds here stop one first);
    // feed_parser turns whatever it throws into header_limit.
    const std::size_t used = feed_parser(parser, buffer.data(), ec);
    buffer.consume(used);
    if (!head_done && parser.is_header_done()) head_bytes = used;
    if (ec == http::error::need_more) break;
    if (ec == http::error::header_limit) {
      return rejected(gateway_error::headers_too_large,
                      "Request head exceeds the admin listener's limit (16 KiB)");
    }
    // Beast checks Content-Length against body_limit while parsing the head.
    if (ec == http::error::body_limit) {
      return rejected(gateway_error::payload_too_large,
                      "Request body exceeds the admin listener's limit (1 MiB)");
    }
    if (ec) return rejected(gateway_error::bad_request, "Malformed request: " + ec.message());
    if (used == 0) break;
  }
  if (!parser.is_header_done()) return std::nullopt;
  // A Transfer-Encoding that does not end in chunked leaves a request without a
  // length: refuse to guess where the next one starts (as the proxy listener does).
  const auto& req = parser.get();
  if (req.find(http::field::transfer_encoding) != req.end() && !parser.chunked()) {
    return rejected(gateway_error::bad_request, "Unsupported Transfer-Encoding");
  }
  // What the parser leaves unconsumed after the head is a chunk-size line or the
  // trailers, which it keeps until their end arrives: bound them with the head.
  if (!parser.is_done() && head_bytes + buffer.size() > admin_header_limit) {
    return rejected(gateway_error::headers_too_large,
                    "Request head and trailers exceed the admin listener's limit (16 KiB)");
  }
  return std::nullopt;
}

// Reads one request into `parser`. Sluice feeds the parser itself (feed_parser, not
// async_read): an exception from Beast then surfaces on this connection, rather than
// from inside a composed operation where nothing could catch it.
awaitable<read_result> read_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                    request_parser& parser) {
  const auto deadline = steady::now() + admin_timeout;
  std::size_t head_bytes = 0;
  for (;;) {
    if (auto failed = parse_buffered(parser, buffer, head_bytes)) co_return *failed;
    if (parser.is_done()) co_return ended(read_result::ok);
    stream.expires_at(deadline);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(read_size), nothrow);
    // The peer left, reset, or was too slow: nobody to answer.
    if (ec) co_return ended(read_result::closed);
    buffer.commit(n);
  }
}

// The JSON error shape of every other Sluice error, always with Connection: close.
http::response<http::string_body> error_response(gateway_error error, std::string_view message) {
  http::response<http::string_body> res{static_cast<http::status>(status_of(error)), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = error_body(error, message);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

// The handler's answer as an HTTP response; a 500 when it cannot be built (a
// header value Beast refuses throws).
http::response<http::string_body> to_response(admin_response out, const request_parser& parser) {
  const auto& req = parser.get();
  try {
    http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
    res.set(http::field::content_type, out.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : out.headers) res.set(name, value);
    res.body() = std::move(out.body);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    // HEAD gets the length but no body, which the client would read as the next response.
    if (req.method() == http::verb::head) res.body().clear();
    return res;
  } catch (const std::exception& e) {
    std::cerr << "sluice: admin: cannot write the response: " << e.what() << "\n";
    return error_response(gateway_error::internal_error, "Internal error");
  }
}

awaitable<bool> write_response(beast::tcp_stream& stream, http::response<http::string_body>& res) {
  stream.expires_after(admin_timeout);
  auto [ec, n] = co_await http::async_write(stream, res, nothrow);
  co_return !ec && res.keep_alive();
}

// Sends no more, drops what the peer still sends (bounded), then closes.
awaitable<void> linger_close(beast::tcp_stream& stream) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  const auto until = steady::now() + linger_timeout;
  std::array<char, 16 * 1024> sink;
  for (std::size_t dropped = 0; dropped < linger_bytes;) {
    stream.expires_at(until);
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), nothrow);
    if (rec) break;
    dropped += n;
  }
  stream.socket().close(ec);
}

awaitable<void> serve(beast::tcp_stream stream, admin_handler handler, admin_peer_check allowed) {
  error_code ec;
  const auto endpoint = stream.socket().remote_endpoint(ec);
  // A peer outside admin.allow is answered before anything it sends is read.
  if (ec || !allowed(to_ip(endpoint.address()))) {
    auto res = error_response(gateway_error::forbidden, "Peer not allowed on the admin listener");
    co_await write_response(stream, res);
    co_await linger_close(stream);
    co_return;
  }
  const ip_address peer = to_ip(endpoint.address());
  beast::flat_buffer buffer;
  std::optional<request_parser> parser;
  for (;;) {
    parser.emplace();
    parser->header_limit(admin_header_limit);
    parser->body_limit(admin_body_limit);
    const read_result got = co_await read_request(stream, buffer, *parser);
    if (got.outcome == read_result::closed) break;
    if (got.outcome == read_result::rejected) {
      auto res = error_response(got.error, got.message);
      co_await write_response(stream, res);
      co_await linger_close(stream);
      co_return;
    }

    const auto& req = parser->get();
    admin_request in{as_std(req.method_string()), as_std(req.target()), req.body(),
                     as_std(req[http::field::authorization]), peer};
    std::optional<admin_response> out;
    try {
      out = co_await handler(in);
    } catch (const std::exception& e) {
      std::cerr << "sluice: admin: " << e.what() << "\n";
    }
    auto res = out ? to_response(std::move(*out), *parser)
                   : error_response(gateway_error::internal_error, "Internal error");
    if (!co_await write_response(stream, res)) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

void start_admin_session(net::tcp::socket socket, const admin_handler& handler,
                         const admin_peer_check& allowed) {
  auto executor = socket.get_executor();
  net::asio::co_spawn(executor, serve(beast::tcp_stream(std::move(socket)), handler, allowed),
                      net::asio::detached);
}

}  // namespace sluice::admin
