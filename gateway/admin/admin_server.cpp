#include "admin/admin_server.hpp"

#include <memory>

#include "http/error_response.hpp"

namespace sluice::admin {
namespace {

using namespace sluice::net;

constexpr std::uint32_t admin_header_limit = 16 * 1024;
constexpr std::uint64_t admin_body_limit = 1024 * 1024;
constexpr std::chrono::seconds admin_timeout{10};

std::string_view as_std(beast::string_view s) {
  return {s.data(), s.size()};
}

ip_address to_ip(const asio::ip::address& a) {
  if (a.is_v4()) return ip_address::from_v4(a.to_v4().to_uint());
  return ip_address::from_v6(a.to_v6().to_bytes());
}

awaitable<void> serve(beast::tcp_stream stream, admin_handler handler) {
  error_code ec;
  const ip_address peer = to_ip(stream.socket().remote_endpoint(ec).address());
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(admin_header_limit);
    parser.body_limit(admin_body_limit);
    stream.expires_after(admin_timeout);
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, nothrow);
    if (rec) break;
    auto& req = parser.get();

    admin_request in{as_std(req.method_string()), as_std(req.target()), req.body(),
                     as_std(req[http::field::authorization]), peer};
    admin_response out = co_await handler(in);

    http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
    res.set(http::field::content_type, out.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : out.headers) res.set(name, value);
    res.body() = std::move(out.body);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    // HEAD gets the length but no body, which the client would read as the next response.
    if (req.method() == http::verb::head) res.body().clear();
    stream.expires_after(admin_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
    if (wec || !res.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

void start_admin_session(net::tcp::socket socket, const admin_handler& handler) {
  auto executor = socket.get_executor();
  net::asio::co_spawn(executor, serve(beast::tcp_stream(std::move(socket)), handler),
                      net::asio::detached);
}

}  // namespace sluice::admin
