// Fuzzes the RESP2 reply parser (gateway/redis/reply.hpp) as the Redis client drives
// it: bytes fed as they arrive, next() called until it is not `ready` after each feed.
//
// The input is the byte stream of one connection; the split points and the parser's
// limits (small ones too, so the bounds are exercised) are drawn from it. Properties:
// - the same replies come out, followed by the same end state (incomplete or a
//   protocol error), whether the stream is fed whole, byte by byte, or in random pieces;
// - after a protocol error the parser stays in it (feed is false, next says so) and
//   error() explains it; reset() makes it parse the stream again from scratch;
// - a reply written back in RESP2 parses to the same reply.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "redis/reply.hpp"

namespace {

using sluice::redis::reply;
using sluice::redis::reply_limits;
using sluice::redis::reply_parser;

struct outcome {
  std::vector<reply> replies;
  reply_parser::status end = reply_parser::status::incomplete;
};

std::string describe(const reply& r) {
  switch (r.type) {
    case reply::kind::status:
      return "+" + r.text;
    case reply::kind::error:
      return "-" + r.text;
    case reply::kind::integer:
      return ":" + std::to_string(r.integer);
    case reply::kind::string:
      return "$" + r.text;
    case reply::kind::nil:
      return "nil";
    case reply::kind::array: {
      std::string s = "[";
      for (const auto& e : r.elements) s += describe(e) + ",";
      return s + "]";
    }
  }
  return "?";
}

std::string describe(const outcome& o) {
  std::string s;
  for (const auto& r : o.replies) s += describe(r) + " ";
  return s + "end " + std::to_string(static_cast<int>(o.end));
}

// Drains ready replies; true while the stream is still good.
bool drain(reply_parser& p, outcome& o) {
  for (;;) {
    reply r;
    const auto st = p.next(r);
    if (st == reply_parser::status::ready) {
      o.replies.push_back(std::move(r));
      continue;
    }
    o.end = st;
    if (st == reply_parser::status::protocol_error) {
      FUZZ_CHECK(!p.error().empty(), describe(o));
      return false;
    }
    return true;
  }
}

// Feeds `stream` in pieces of the lengths `piece(remaining)` returns.
template <class Piece>
outcome parse(reply_parser& p, std::string_view stream, Piece piece) {
  outcome o;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t n = std::min(piece(stream.size() - pos), stream.size() - pos);
    if (!p.feed(stream.data() + pos, n)) {
      FUZZ_CHECK(o.end == reply_parser::status::protocol_error, describe(o));
      return o;
    }
    pos += n;
    if (!drain(p, o)) break;
  }
  if (stream.empty()) drain(p, o);
  if (o.end == reply_parser::status::protocol_error) {
    // The error state sticks.
    reply r;
    FUZZ_CHECK(p.next(r) == reply_parser::status::protocol_error, describe(o));
    FUZZ_CHECK(!p.feed("+OK\r\n", 5), describe(o));
  }
  return o;
}

void encode(const reply& r, std::string& out) {
  switch (r.type) {
    case reply::kind::status:
      out += "+" + r.text + "\r\n";
      return;
    case reply::kind::error:
      out += "-" + r.text + "\r\n";
      return;
    case reply::kind::integer:
      out += ":" + std::to_string(r.integer) + "\r\n";
      return;
    case reply::kind::string:
      out += "$" + std::to_string(r.text.size()) + "\r\n" + r.text + "\r\n";
      return;
    case reply::kind::nil:
      out += "$-1\r\n";
      return;
    case reply::kind::array:
      out += "*" + std::to_string(r.elements.size()) + "\r\n";
      for (const auto& e : r.elements) encode(e, out);
      return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return -1;
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  sluice::fuzz::split_points rng(data, size);

  reply_limits limits;
  const std::uint64_t pick = rng.next();
  if ((pick & 3) == 1) limits.elements = 4 + (pick >> 8) % 60;
  if ((pick & 12) == 4) limits.bytes = 16 + (pick >> 16) % 4096;

  reply_parser whole_parser(limits);
  const outcome whole = parse(whole_parser, stream, [](std::size_t rest) { return rest; });

  reply_parser bytes_parser(limits);
  const outcome by_byte =
      size <= 4096 ? parse(bytes_parser, stream, [](std::size_t) { return std::size_t{1}; })
                   : whole;
  FUZZ_CHECK(describe(by_byte) == describe(whole),
             "whole: " + describe(whole) + "\nbyte by byte: " + describe(by_byte));

  reply_parser pieces_parser(limits);
  const outcome in_pieces =
      parse(pieces_parser, stream, [&](std::size_t rest) { return rng.piece(rest); });
  FUZZ_CHECK(describe(in_pieces) == describe(whole),
             "whole: " + describe(whole) + "\nin pieces: " + describe(in_pieces));

  // A reset parser is a new one.
  whole_parser.reset();
  const outcome again = parse(whole_parser, stream, [](std::size_t rest) { return rest; });
  FUZZ_CHECK(describe(again) == describe(whole),
             "first: " + describe(whole) + "\nafter reset: " + describe(again));

  // Written back, every reply parses to itself.
  std::string encoded;
  for (const auto& r : whole.replies) encode(r, encoded);
  reply_parser round_trip;
  const outcome back = parse(round_trip, encoded, [](std::size_t rest) { return rest; });
  FUZZ_CHECK(back.end == reply_parser::status::incomplete && back.replies == whole.replies,
             "parsed: " + describe(whole) + "\nre-encoded: " + describe(back));
  return 0;
}
