// The one writer of HTTP/1.1 wire bytes Sluice sends: message heads (forwarded
// requests, relayed responses, Sluice's own answers) and chunked framing. Heads are
// built into one contiguous buffer: Beast's serializer hands the socket a buffers_cat
// over every field, and walking, sizing and copying that sequence to iovecs costs
// ~1,500 instructions per field (callgrind); one buffer costs a memcpy. The bytes are
// exactly what Beast's serializer writes for the same message (tests/http/wire_test.cpp).
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/net.hpp"
#include "limit/rate_limit_headers.hpp"

namespace sluice::net {

// "Name: value\r\n".
void append_field(std::string& out, std::string_view name, std::string_view value);

// Request line, every field, and the empty line that ends the head.
void write_request_head(std::string& out, const http::request_header<>& req);

// Status line and every field of `res` except those named in `replaced` (which the
// caller appends after), without the final empty line.
void write_response_head_start(std::string& out, const http::response_header<>& res,
                               const limit::header_list& replaced);

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
void write_own_response(std::string& out, const own_response& r);

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
