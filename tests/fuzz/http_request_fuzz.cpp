// Fuzzes request framing as a client connection reads it: Beast's request parser
// configured as the session configures it (header_limit = max_header_bytes,
// body_limit = max_body_bytes, a buffer_body read into a small buffer, the bytes
// buffered ahead of the parser capped at max_header_bytes), fed through feed_parser
// (gateway/http/message_reader.hpp), then Sluice's own checks on the head
// (check_request_head, to_origin_form: gateway/http/request_head.hpp), for every
// pipelined request of the connection until one fails, closes or is refused.
// Socket reads are simulated: the same loop as read_message_head and read_body_piece
// over bytes that arrive in pieces.
//
// The input is the client's byte stream; the pieces it arrives in, the body buffer
// size and the limits (defaults, small ones, max_header_bytes over 64 KiB) are drawn
// from it. Properties:
// - no exception escapes (feed_parser is noexcept; the checks and to_origin_form
//   must not throw either);
// - the requests parse to the same results (heads, verdicts, body bytes, where the
//   connection ended and whether in an error) whether the stream arrives whole, byte by
//   byte, or in random pieces (which error may differ: see ending_only);
// - an accepted head is framed one way: chunked exactly when Transfer-Encoding is
//   there (and then it is "chunked"), otherwise Content-Length bytes of body or none;
//   a completed body has exactly Content-Length bytes;
// - the head Sluice forwards (write_upstream_request_head, gateway/http/forwarding.hpp)
//   parses back whole to the same method and target in HTTP/1.1, with exactly one Host,
//   exactly the framing the session read the body by, no hop-by-hop field (but for a
//   WebSocket handshake, net::is_websocket_upgrade: its one Upgrade: websocket and
//   Sluice's Connection: Upgrade), exactly one X-RateLimit-Degraded (Sluice's) when
//   degraded and none otherwise, and the client's other fields in their order (Sluice
//   adds only the fields it writes itself).
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/defaults.hpp"
#include "fuzz_support.hpp"
#include "http/forwarding.hpp"
#include "http/message_reader.hpp"
#include "http/request_head.hpp"
#include "util/ascii.hpp"

namespace {

namespace net = sluice::net;
namespace http = net::http;
using net::error_code;

struct settings {
  std::size_t max_header_bytes = sluice::config::defaults::max_header_bytes;
  std::uint64_t max_body_bytes = sluice::config::defaults::max_body_bytes;
  std::size_t body_buffer = 4096;
};

// The client's bytes, delivered in pieces as read_some would return them.
class socket_bytes {
 public:
  socket_bytes(std::string_view data, std::vector<std::size_t> pieces)
      : data_(data), pieces_(std::move(pieces)) {}
  // Appends what one read returns (at most `room`); false at EOF.
  bool read(std::string& buffer, std::size_t room) {
    if (pos_ >= data_.size()) return false;
    std::size_t n = data_.size() - pos_;
    if (next_ < pieces_.size()) n = std::min(n, pieces_[next_++]);
    n = std::min({n, room, net::read_chunk_size});
    buffer.append(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }

 private:
  std::string_view data_;
  std::vector<std::size_t> pieces_;  // empty: everything at once (up to room)
  std::size_t next_ = 0;
  std::size_t pos_ = 0;
};

using parser_type = net::request_parser;

// Feeds buffered bytes; returns feed_parser's error code.
error_code feed(parser_type& parser, std::string& buffer, std::size_t& consumed) {
  error_code ec;
  const std::size_t used = net::feed_parser(parser, net::asio::buffer(buffer), ec);
  FUZZ_CHECK(used <= buffer.size(), buffer);
  buffer.erase(0, used);
  consumed += used;
  return ec;
}

// read_message_head without a socket (the head bound is feed_head's).
error_code read_head(socket_bytes& socket, std::string& buffer, std::size_t max_buffer,
                     parser_type& parser) {
  std::size_t head_bytes = 0;
  for (;;) {
    if (!buffer.empty()) {
      error_code ec;
      const std::size_t before = head_bytes;
      const std::size_t used =
          net::feed_head(parser, net::asio::buffer(buffer), max_buffer, head_bytes, ec);
      FUZZ_CHECK(used <= buffer.size() && head_bytes == before + used, buffer);
      buffer.erase(0, used);
      if (ec == http::error::header_limit) return ec;
      if (parser.is_header_done()) {
        FUZZ_CHECK(head_bytes <= max_buffer, "a head of " + std::to_string(head_bytes) +
                                                 " bytes was accepted with max_header_bytes " +
                                                 std::to_string(max_buffer));
        return {};
      }
      if (ec && ec != http::error::need_more) return ec;
    }
    const bool started = parser.got_some() || !buffer.empty();
    const std::size_t room = max_buffer - std::min(buffer.size(), max_buffer);
    if (room == 0) return http::error::header_limit;
    if (!socket.read(buffer, room)) {
      return started ? http::error::partial_message : http::error::end_of_stream;
    }
  }
}

// read_body_piece without a socket.
error_code read_body_piece(socket_bytes& socket, std::string& buffer, std::size_t max_buffer,
                           parser_type& parser) {
  const auto& body = parser.get().body();
  const std::size_t capacity = body.size;
  for (;;) {
    if (parser.is_done()) return {};
    if (!buffer.empty()) {
      const std::size_t before = buffer.size();
      std::size_t consumed = 0;
      const error_code ec = feed(parser, buffer, consumed);
      if (ec == http::error::need_buffer) return {};
      if (ec && ec != http::error::need_more) return ec;
      if (parser.is_done() || body.size != capacity) return {};
      if (!ec && buffer.size() != before) continue;
    }
    const std::size_t room = max_buffer - std::min(buffer.size(), max_buffer);
    if (room == 0) return http::error::header_limit;
    if (!socket.read(buffer, room)) {
      error_code eof_ec;
      parser.put_eof(eof_ec);
      return eof_ec;
    }
  }
}

std::string as_string(net::beast::string_view s) {
  return std::string(s.data(), s.size());
}

std::string head_summary(const net::request_head& req) {
  std::string s = as_string(req.method_string()) + " " + as_string(req.target()) + " " +
                  std::to_string(req.version());
  for (const auto& f : req) s += "\n" + as_string(f.name_string()) + ": " + as_string(f.value());
  return s;
}

bool written_by_sluice(const net::head_fields::value_type& f) {
  for (std::string_view name :
       {"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via", "Host", "Content-Length",
        "Transfer-Encoding", "X-RateLimit-Degraded"}) {
    if (sluice::iequals(f.name_string(), name)) {
      return true;
    }
  }
  return false;
}

// The forwarded head, framed as the session frames it, parses back as promised.
void check_forwarded_head(const parser_type& parser) {
  const auto& req = parser.get();
  net::body_frame body;
  if (parser.chunked()) {
    body.framing = net::body_framing::chunked;
  } else if (auto length = parser.content_length()) {
    body = {net::body_framing::length, *length};
  }
  // Every other head is forwarded as degraded by a soft limit (limit/soft_limit.hpp).
  const std::string_view degraded = req.target().size() % 2 == 0 ? "" : "per-ip, global";
  // As the session decides it: a handshake without a body keeps its Upgrade.
  const bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
  const bool upgrade = net::is_websocket_upgrade(req, has_body);
  net::wire_buffer written;
  if (!net::write_upstream_request_head(
          written, req, {"192.0.2.1", false, "upstream:80", {}, body, degraded, upgrade})) {
    return;  // a joined field over 64 KiB: the session answers 431
  }
  const std::string wire(written.view());
  net::request_parser again;
  again.header_limit(static_cast<std::uint32_t>(wire.size() + 1));
  error_code ec;
  const std::size_t used = net::feed_parser(again, net::asio::buffer(wire), ec);
  FUZZ_CHECK(again.is_header_done() && used == wire.size(),
             "forwarded head does not parse (" + ec.message() + "): " + wire);
  const auto& sent = again.get();
  const std::string context = "client:\n" + head_summary(req) + "\nsent:\n" + wire;
  FUZZ_CHECK(sent.method_string() == req.method_string() && sent.target() == req.target() &&
                 sent.version() == 11,
             context);
  FUZZ_CHECK(sent.count(http::field::host) == 1, context);
  // X-RateLimit-Degraded: Sluice's own, once, or none; never the client's.
  FUZZ_CHECK(sent.count("X-RateLimit-Degraded") == (degraded.empty() ? 0u : 1u), context);
  FUZZ_CHECK(degraded.empty() || sent["X-RateLimit-Degraded"] == degraded, context);
  FUZZ_CHECK(
      again.chunked() == parser.chunked() && again.content_length() == parser.content_length() &&
          sent.count(http::field::content_length) + sent.count(http::field::transfer_encoding) ==
              (body.framing == net::body_framing::none ? 0u : 1u),
      context);
  for (auto f : {http::field::keep_alive, http::field::te, http::field::trailer,
                 http::field::proxy_connection, http::field::expect}) {
    FUZZ_CHECK(sent.count(f) == 0, context);
  }
  if (upgrade) {
    FUZZ_CHECK(sent.count(http::field::upgrade) == 1 &&
                   sluice::iequals(sent[http::field::upgrade], "websocket") &&
                   sent.count(http::field::connection) == 1 &&
                   sent[http::field::connection] == "Upgrade",
               context);
  } else {
    FUZZ_CHECK(sent.count(http::field::upgrade) == 0 && sent.count(http::field::connection) == 0,
               context);
  }
  // The client's other fields, in order: a subsequence of what it sent.
  auto from = req.begin();
  for (const auto& f : sent) {
    if (written_by_sluice(f) || f.name() == http::field::connection) continue;
    while (from != req.end() &&
           !(from->name_string() == f.name_string() && from->value() == f.value())) {
      ++from;
    }
    FUZZ_CHECK(from != req.end(), context);
    ++from;
  }
}

// Reads every request of one connection; returns what happened, as text.
std::string read_connection(std::string_view data, std::vector<std::size_t> pieces,
                            const settings& s) {
  socket_bytes socket(data, std::move(pieces));
  std::string buffer, out;
  std::vector<char> body_buffer(s.body_buffer);
  for (int message = 0; message < 64; ++message) {
    parser_type parser;
    parser.header_limit(static_cast<std::uint32_t>(s.max_header_bytes));
    parser.body_limit(s.max_body_bytes);
    error_code ec = read_head(socket, buffer, s.max_header_bytes, parser);
    if (ec) return out + "head error: " + ec.message() + "\n";
    auto& req = parser.get();
    out += "head: " + head_summary(req) + "\n";
    net::head_summary summary;
    const auto problem = net::check_request_head(req, &summary);
    // What the checks' one pass over the fields tells the session is what Beast's own
    // lookups say, and asking for it changes no verdict.
    FUZZ_CHECK(summary.keep_alive == req.keep_alive(), head_summary(req));
    FUZZ_CHECK(
        summary.expects_continue == sluice::iequals(req[http::field::expect], "100-continue"),
        head_summary(req));
    const auto plain = net::check_request_head(req);
    FUZZ_CHECK(
        plain.has_value() == problem.has_value() && (!plain || plain->message == problem->message),
        head_summary(req));
    if (problem) return out + "refused: " + std::string(problem->message) + "\n";

    // Framing: one reading only.
    const bool has_te = req.find(http::field::transfer_encoding) != req.end();
    FUZZ_CHECK(parser.chunked() == has_te, head_summary(req));
    if (has_te) FUZZ_CHECK(net::transfer_coding_ok(req), head_summary(req));
    const auto length = parser.content_length();
    if (parser.chunked()) FUZZ_CHECK(!length, head_summary(req));

    try {
      net::to_origin_form(req);
    } catch (const std::length_error& e) {
      FUZZ_CHECK(false, head_summary(req) + "\nto_origin_form threw " + e.what());
    }
    out += "origin-form: " + as_string(req.target()) + " host " +
           as_string(req[http::field::host]) + "\n";
    check_forwarded_head(parser);

    std::string body;
    while (!parser.is_done()) {
      req.body().data = body_buffer.data();
      req.body().size = body_buffer.size();
      req.body().more = true;
      ec = read_body_piece(socket, buffer, s.max_header_bytes, parser);
      const std::size_t got = body_buffer.size() - req.body().size;
      body.append(body_buffer.data(), got);
      if (ec) break;
      FUZZ_CHECK(got != 0 || parser.is_done(), head_summary(req) + "\nbody so far: " + body);
    }
    out += "body: " + body + "\n";
    if (ec) return out + "body error: " + ec.message() + "\n";
    if (length) FUZZ_CHECK(body.size() == *length, head_summary(req) + "\nbody: " + body);
    if (!parser.chunked() && !length) FUZZ_CHECK(body.empty(), head_summary(req));
    if (!parser.keep_alive()) return out + "close\n";
  }
  return out + "message cap\n";
}

// How a connection went, without the error codes' names: Beast finds some syntax errors
// in a head (a bare LF, a bad version) only when the head's first bytes and its end are
// in one put() call, so the same bytes in pieces wait for the end of the head and end
// in header_limit or partial_message instead. Either way the connection ends there
// and nothing of that message was forwarded; what matters is where and how far.
std::string ending_only(std::string_view out) {
  std::string s;
  while (!out.empty()) {
    const auto eol = out.find('\n');
    std::string_view line = out.substr(0, eol);
    for (std::string_view kind : {"head error: ", "body error: "}) {
      if (line.starts_with(kind)) line = kind.substr(0, kind.size() - 2);
    }
    s.append(line);
    s += '\n';
    if (eol == std::string_view::npos) break;
    out.remove_prefix(eol + 1);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return -1;
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  sluice::fuzz::split_points rng(data, size);

  settings s;
  const std::uint64_t pick = rng.next();
  if ((pick & 3) == 1) s.max_header_bytes = 1024;             // the smallest allowed
  if ((pick & 3) == 2) s.max_header_bytes = 128 * 1024;       // fields past Beast's 64 KiB
  if ((pick & 12) == 4) s.max_body_bytes = (pick >> 8) % 64;  // a tiny body limit
  s.body_buffer = 1 + (pick >> 16) % 64;
  if ((pick & 48) == 16) s.body_buffer = 64 * 1024;

  const std::string whole = read_connection(stream, {}, s);
  if (size <= 2048) {
    const std::string by_byte = read_connection(stream, std::vector<std::size_t>(size, 1), s);
    FUZZ_CHECK(ending_only(by_byte) == ending_only(whole),
               "whole:\n" + whole + "\nbyte by byte:\n" + by_byte);
  }
  std::vector<std::size_t> pieces;
  for (std::size_t total = 0; total < size;) {
    pieces.push_back(rng.piece(size - total));
    total += pieces.back();
  }
  const std::string in_pieces = read_connection(stream, pieces, s);
  FUZZ_CHECK(ending_only(in_pieces) == ending_only(whole),
             "whole:\n" + whole + "\nin pieces:\n" + in_pieces);
  return 0;
}
