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

// Bounds on one reply (its arrays and strings together), far above what Sluice asks
// for: the largest reply is HGETALL of a runtime-entries hash (two elements per
// entry, tens of bytes each); a decision (FCALL or EVALSHA) answers 2 integers plus 7
// per limit; CLUSTER SLOTS a few elements per shard; AUTH/SELECT/PING a status. A reply announcing or sending more is a
// protocol error (the connection is dropped), before anything is allocated for it:
// `*888888882\r\n` or `$2000000000\r\n` cost at most these bounds, never what
// they announce.
struct reply_limits {
  // Array elements of one reply, nested arrays included (512 Ki runtime entries).
  std::size_t elements = std::size_t{1} << 20;
  // Wire bytes of one reply: what is buffered for an incomplete one plus what was
  // already parsed into it (a bulk string is buffered whole before it is parsed).
  std::size_t bytes = std::size_t{64} << 20;
};

namespace detail {
// What hiredis' callbacks build into (the reader's privdata). Owned by reply_parser.
struct reply_build {
  reply root;
  std::size_t elements = 0;  // array elements announced so far by the current reply
  std::size_t max_elements = 0;
  bool too_many = false;  // the current reply announced more than max_elements
};
}  // namespace detail

// Parses the reply stream of one connection. Owned by that connection; not
// thread-safe. Bytes are fed as they arrive; complete replies come out in order.
// Memory stays within `limits`: an array grows as its elements arrive, not to the
// count it announces, and the bytes of an incomplete reply are capped.
class reply_parser {
 public:
  enum class status { incomplete, ready, protocol_error };

  explicit reply_parser(reply_limits limits = {});
  ~reply_parser();
  reply_parser(const reply_parser&) = delete;
  reply_parser& operator=(const reply_parser&) = delete;

  // Copies `size` bytes into the parser; false when it is in the error state. Call
  // next() until it is not `ready` after each feed: the byte bound is checked there.
  bool feed(const char* data, std::size_t size);
  // The next complete reply into `out` (ready), none yet (incomplete), or a broken
  // stream (protocol_error: not RESP2, or beyond `limits`; the connection must be
  // dropped; see error()).
  status next(reply& out);
  std::string_view error() const;
  // Forgets buffered bytes and any error, for a new connection.
  void reset();

 private:
  status fail(std::string message);
  std::size_t unparsed() const;  // bytes fed but not yet consumed by hiredis

  reply_limits limits_;
  redisReader* reader_ = nullptr;
  // The reply under construction: hiredis builds the tree in place (privdata), so a
  // reply costs no allocation beyond its own strings and arrays.
  detail::reply_build build_;
  std::uint64_t fed_ = 0;          // bytes fed since reset()
  std::uint64_t reply_start_ = 0;  // offset in the fed stream where the current reply began
  std::string error_;              // a bound was exceeded (hiredis' own errors live in reader_)
};

}  // namespace sluice::redis
