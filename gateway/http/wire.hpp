// The one writer of HTTP/1.1 wire bytes Sluice sends: the pieces of message heads
// (forwarding.hpp composes the forwarded request and relayed response heads from them),
// Sluice's own answers, and chunked framing. Heads are
// built into one contiguous buffer: Beast's serializer hands the socket a buffers_cat
// over every field, and walking, sizing and copying that sequence to iovecs costs
// ~1,500 instructions per field (callgrind); one buffer costs a memcpy. The bytes are
// exactly what Beast's serializer writes for the same message (tests/http/wire_test.cpp).
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "limit/rate_limit_headers.hpp"
#include "net/asio.hpp"
#include "util/text_buffer.hpp"

namespace sluice::net {

// The bytes of a message head being written (one per connection, reused).
using wire_buffer = text_buffer;

// "Name: value\r\n".
void append_field(wire_buffer& out, std::string_view name, std::string_view value);

// "Name: <decimal>\r\n".
void append_number_field(wire_buffer& out, std::string_view name, std::uint64_t value);

// "METHOD target HTTP/1.1\r\n": Sluice speaks HTTP/1.1 to the upstream.
void append_request_line(wire_buffer& out, std::string_view method, std::string_view target);

// "HTTP/1.x status reason\r\n" (version 10 or 11).
void append_status_line(wire_buffer& out, unsigned version, unsigned status,
                        std::string_view reason);

// A response Sluice answers itself (a 429, an error): status line, Content-Type,
// `fields`, Connection: close when not kept alive, Content-Length, and the body unless
// the request was HEAD (whose response announces the length but carries none).
struct own_response {
  int status = 200;
  std::string_view content_type = "application/json";
  const limit::header_list* fields = nullptr;  // may be null
  std::string_view retry_after;                // empty = none
  std::string_view body;
  bool keep_alive = true;
  bool head_request = false;
};
void write_own_response(wire_buffer& out, const own_response& r);

// The interim answer to `Expect: 100-continue`, sent once the upstream has the head.
inline constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// Chunked framing (RFC 9112 7.1): a chunk is "<size in hex>\r\n" data "\r\n"; the body
// ends with the last chunk "0\r\n\r\n" (Sluice sends no trailers).
struct chunk_size_line {
  char text[20];
  std::size_t size = 0;
  std::string_view view() const { return {text, size}; }
};
chunk_size_line chunk_size_of(std::size_t size);
inline constexpr std::string_view chunk_end = "\r\n";
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

}  // namespace sluice::net
