// Reads HTTP/1.1 messages from a socket into a Beast parser, bounded (SPEC 13):
// - the bytes buffered ahead of the parser never exceed the buffer's max_size, so a
//   head, a chunk-size line or a trailer section larger than that is an error
//   (header_limit), never growth (Beast bounds a head by header_limit, but reads a
//   chunk line or a whole trailer section into the buffer before parsing it);
// - no exception leaves: Beast's fields throw std::length_error for a value over
//   65,535 bytes (headers and trailers alike), which becomes header_limit here.
// Free functions; a parser, buffer and stream are used by one coroutine at a time.
#pragma once

#include <cstddef>

#include "http/head_arena.hpp"
#include "http/response_head.hpp"
#include "net/asio.hpp"

namespace sluice::net {

// Bytes read from a socket in one go (the buffer's max_size may make it less).
inline constexpr std::size_t read_chunk_size = 64 * 1024;

// Feeds `data` to `parser` and returns the bytes it consumed; `ec` as
// basic_parser::put (need_more, need_buffer, a parse error), or header_limit for a
// field Beast cannot hold. Never throws.
template <bool is_request>
std::size_t feed_parser(http::basic_parser<is_request>& parser, asio::const_buffer data,
                        error_code& ec) noexcept;

// feed_parser for a parser still reading its head, which must not take more than
// `max_head_bytes`: `head_bytes` counts what the head consumed so far (start at 0).
// Beast's header_limit bounds the start line and the fields separately, so a head
// that arrives in one piece could otherwise reach twice the bound: header_limit here.
template <bool is_request>
std::size_t feed_head(http::basic_parser<is_request>& parser, asio::const_buffer data,
                      std::size_t max_head_bytes, std::size_t& head_bytes, error_code& ec) noexcept;

// Feeds the bytes in `buffer` to a parser reading its head (feed_head, consuming what it
// took): need_more when the head is still incomplete, else the head's result (success,
// header_limit or a parse error).
template <class Parser>
error_code feed_buffered_head(beast::flat_buffer& buffer, Parser& parser,
                              std::size_t max_head_bytes, std::size_t& head_bytes);

// Reads (under the stream's current deadline) and parses until the head is complete,
// feed_head's bound applying (`head_bytes` carries on from bytes already fed). A head
// that arrived with earlier bytes is parsed without reading. Errors: the parser's,
// header_limit when the head is over `max_head_bytes` or does not fit in `buffer`'s
// max_size, end_of_stream when the peer closed before a first byte, partial_message
// after one, or the socket's.
// `Stream`: peer_stream (a client or the upstream, plain or TLS) or beast::tcp_stream;
// `Parser`: request_parser (a client's request) or response_parser (the upstream's).
template <class Parser, class Stream>
awaitable<error_code> read_message_head(Stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                        std::size_t max_head_bytes, std::size_t& head_bytes);

// read_message_head's first read for a caller that awaits it itself, sparing the
// coroutine frames when the head comes whole in one read (the usual case): read into
// first_head_buffer(buffer) (the buffer empty, the parser new), then
// parse_first_head_read with the read's result. need_more: the head is incomplete,
// read_message_head goes on; any other value is read_message_head's.
asio::mutable_buffer first_head_buffer(beast::flat_buffer& buffer);
template <class Parser>
error_code parse_first_head_read(beast::flat_buffer& buffer, Parser& parser,
                                 const error_code& read_ec, std::size_t n,
                                 std::size_t max_head_bytes, std::size_t& head_bytes);

// Reads and parses body bytes into the parser's body buffer (body().data/size, set by
// the caller) until some arrived, the buffer is full or the message is complete. A
// message delimited by the end of the connection completes at EOF. Errors as
// read_message_head; header_limit here means a chunk-size line or trailer section too large.
template <class Parser, class Stream>
awaitable<error_code> read_body_piece(Stream& stream, beast::flat_buffer& buffer, Parser& parser);

// The body buffer a parser fills (http::buffer_body's data/size).
inline http::buffer_body::value_type& body_of(request_parser& parser) {
  return parser.get().body();
}
inline http::buffer_body::value_type& body_of(response_parser& parser) {
  return parser.body();
}

}  // namespace sluice::net
