// Asio/Beast names used across the HTTP layer. Errors are values on the request
// path: every co_await uses `nothrow` and returns (error_code, ...) tuples.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string_view>

namespace sluice::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
template <class T>
using awaitable = asio::awaitable<T>;

// A deferred operation is awaited in the calling coroutine's own frame; use_awaitable
// would wrap each operation in a coroutine frame of its own (an allocation and a
// resumption through the scheduler more per read or write).
inline constexpr auto nothrow = asio::as_tuple(asio::deferred);

// Beast's text as the standard view the rest of Sluice takes.
inline std::string_view as_std(beast::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace sluice::net
