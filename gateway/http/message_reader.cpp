#include "http/message_reader.hpp"

#include <algorithm>
#include <exception>

#include "http/peer_stream.hpp"

namespace sluice::net {
namespace {

// Reads what fits in `buffer` (up to read_chunk_size); header_limit when it is full.
template <class Stream>
awaitable<error_code> read_more(Stream& stream, beast::flat_buffer& buffer) {
  const std::size_t room = buffer.max_size() - std::min(buffer.size(), buffer.max_size());
  if (room == 0) co_return http::error::header_limit;
  auto [ec, n] =
      co_await stream.async_read_some(buffer.prepare(std::min(room, read_chunk_size)), nothrow);
  buffer.commit(n);
  co_return ec;
}

}  // namespace

template <bool is_request>
std::size_t feed_parser(http::basic_parser<is_request>& parser, asio::const_buffer data,
                        error_code& ec) noexcept {
  // put() on a finished parser is an assertion in Beast (a stale parser).
  if (parser.is_done()) {
    ec = {};
    return 0;
  }
  try {
    return parser.put(data, ec);
  } catch (const std::exception&) {
    // basic_fields: "field value too large" (std::length_error), or no memory. The
    // parser is unusable afterwards; the caller drops the message.
    ec = http::error::header_limit;
    return 0;
  }
}

template <bool is_request>
std::size_t feed_head(http::basic_parser<is_request>& parser, asio::const_buffer data,
                      std::size_t max_head_bytes, std::size_t& head_bytes,
                      error_code& ec) noexcept {
  const std::size_t used = feed_parser(parser, data, ec);
  head_bytes += used;
  if (head_bytes > max_head_bytes && (!ec || ec == http::error::need_more)) {
    ec = http::error::header_limit;
  }
  return used;
}

template <class Parser>
error_code feed_buffered_head(beast::flat_buffer& buffer, Parser& parser,
                              std::size_t max_head_bytes, std::size_t& head_bytes) {
  error_code ec;
  buffer.consume(feed_head(parser, buffer.data(), max_head_bytes, head_bytes, ec));
  if (ec == http::error::header_limit) return ec;
  if (parser.is_header_done()) return {};
  return ec ? ec : error_code{http::error::need_more};
}

namespace {

// A read's end of stream while reading a head: before any byte of it, or cut short.
error_code head_read_error(const error_code& ec, bool started) {
  if (ec != asio::error::eof) return ec;
  return started ? http::error::partial_message : http::error::end_of_stream;
}

}  // namespace

asio::mutable_buffer first_head_buffer(beast::flat_buffer& buffer) {
  return buffer.prepare(std::min(buffer.max_size(), read_chunk_size));
}

template <class Parser>
error_code parse_first_head_read(beast::flat_buffer& buffer, Parser& parser,
                                 const error_code& read_ec, std::size_t n,
                                 std::size_t max_head_bytes, std::size_t& head_bytes) {
  buffer.commit(n);
  if (read_ec) return head_read_error(read_ec, false);
  if (buffer.size() == 0) return http::error::need_more;
  return feed_buffered_head(buffer, parser, max_head_bytes, head_bytes);
}

template <class Parser, class Stream>
awaitable<error_code> read_message_head(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                        std::size_t max_head_bytes, std::size_t& head_bytes) {
  for (;;) {
    if (buffer.size() != 0) {
      const error_code ec = feed_buffered_head(buffer, parser, max_head_bytes, head_bytes);
      if (ec != http::error::need_more) co_return ec;
    }
    const bool started = parser.got_some() || buffer.size() != 0;
    const error_code ec = co_await read_more(stream, buffer);
    if (ec) co_return head_read_error(ec, started);
  }
}

template <class Parser, class Stream>
awaitable<error_code> read_body_piece(Stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  const auto& body = body_of(parser);
  const std::size_t capacity = body.size;
  for (;;) {
    if (parser.is_done()) co_return error_code{};
    if (buffer.size() != 0) {
      error_code ec;
      const std::size_t used = feed_parser(parser, buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_buffer) co_return error_code{};  // the body buffer is full
      if (ec && ec != http::error::need_more) co_return ec;
      if (parser.is_done() || body.size != capacity) co_return error_code{};
      if (!ec && used != 0) continue;  // a chunk-size line: parse what follows it
    }
    error_code ec = co_await read_more(stream, buffer);
    if (ec == asio::error::eof) {
      // A body delimited by the end of the connection ends here; any other is cut short.
      error_code eof_ec;
      parser.put_eof(eof_ec);
      co_return eof_ec;
    }
    if (ec) co_return ec;
  }
}

template std::size_t feed_parser<true>(http::basic_parser<true>&, asio::const_buffer,
                                       error_code&) noexcept;
template std::size_t feed_parser<false>(http::basic_parser<false>&, asio::const_buffer,
                                        error_code&) noexcept;
template std::size_t feed_head<true>(http::basic_parser<true>&, asio::const_buffer, std::size_t,
                                     std::size_t&, error_code&) noexcept;
template std::size_t feed_head<false>(http::basic_parser<false>&, asio::const_buffer, std::size_t,
                                      std::size_t&, error_code&) noexcept;
template error_code feed_buffered_head<request_parser>(beast::flat_buffer&, request_parser&,
                                                       std::size_t, std::size_t&);
template error_code feed_buffered_head<response_parser>(beast::flat_buffer&, response_parser&,
                                                        std::size_t, std::size_t&);
template error_code parse_first_head_read<request_parser>(beast::flat_buffer&, request_parser&,
                                                          const error_code&, std::size_t,
                                                          std::size_t, std::size_t&);
template error_code parse_first_head_read<response_parser>(beast::flat_buffer&, response_parser&,
                                                           const error_code&, std::size_t,
                                                           std::size_t, std::size_t&);
// Requests come from clients, responses from upstreams (peer_stream: plain or TLS); the
// unit tests read both from plain TCP streams.
#define SLUICE_MESSAGE_READERS(Parser, Stream)                                                 \
  template awaitable<error_code> read_message_head<Parser, Stream>(                            \
      Stream&, beast::flat_buffer&, Parser&, std::size_t, std::size_t&);                       \
  template awaitable<error_code> read_body_piece<Parser, Stream>(Stream&, beast::flat_buffer&, \
                                                                 Parser&);
SLUICE_MESSAGE_READERS(request_parser, peer_stream)
SLUICE_MESSAGE_READERS(request_parser, beast::tcp_stream)
SLUICE_MESSAGE_READERS(response_parser, peer_stream)
SLUICE_MESSAGE_READERS(response_parser, beast::tcp_stream)
#undef SLUICE_MESSAGE_READERS

}  // namespace sluice::net
