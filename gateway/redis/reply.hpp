// RESP2 for the Redis client: the reply value, a command encoder and an incremental
// reply parser over hiredis' sans-I/O reader. No I/O and no Asio here, so the codec
// is testable byte by byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;  // hiredis; only reply.cpp includes <hiredis/hiredis.h>

namespace sluice::redis {

// One RESP2 reply. A plain value that owns its data: safe to move across threads.
struct reply {
  enum class kind { status, error, integer, string, nil, array };
  kind type = kind::nil;
  std::int64_t integer = 0;     // integer
  std::string text;             // status, error, string
  std::vector<reply> elements;  // array

  bool is_error() const { return type == kind::error; }
  bool is_nil() const { return type == kind::nil; }
  bool operator==(const reply&) const = default;
};

// Appends `args` as one RESP2 command (an array of bulk strings; binary-safe).
void append_command(std::string& out, std::span<const std::string> args);
void append_command(std::string& out, std::span<const std::string_view> args);
void append_command(std::string& out, std::initializer_list<std::string_view> args);

// Parses the reply stream of one connection. Owned by that connection; not
// thread-safe. Bytes are fed as they arrive; complete replies come out in order.
class reply_parser {
 public:
  enum class status { incomplete, ready, protocol_error };

  reply_parser();
  ~reply_parser();
  reply_parser(const reply_parser&) = delete;
  reply_parser& operator=(const reply_parser&) = delete;

  // Copies `size` bytes into the parser; false when it is in the error state.
  bool feed(const char* data, std::size_t size);
  // The next complete reply into `out` (ready), none yet (incomplete), or a broken
  // stream (protocol_error: the connection must be dropped; see error()).
  status next(reply& out);
  std::string_view error() const;
  // Forgets buffered bytes and any error, for a new connection.
  void reset();

 private:
  redisReader* reader_ = nullptr;
  // The reply under construction: hiredis builds the tree in place (privdata), so a
  // reply costs no allocation beyond its own strings and arrays.
  reply root_;
};

}  // namespace sluice::redis
