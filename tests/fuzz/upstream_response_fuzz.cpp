// Fuzzes the upstream's response as the session reads it: Sluice's response_parser
// (gateway/http/response_head.hpp: Beast's tokenizer, its own field list) configured as
// read_response_head configures it (header_limit = upstream_max_header_bytes, no body
// limit), fed through feed_parser in pieces as read_message_head and read_body_piece
// feed it, the body through a small buffer; then the head Sluice writes for the client
// (write_client_response_head, gateway/http/forwarding.hpp).
//
// The input is the upstream's byte stream; the pieces it arrives in and the body buffer
// size are drawn from it. Properties:
// - no exception escapes;
// - response_parser reads what Beast's own http::response_parser (basic_fields) reads
//   from the same pieces: the same ending (error or not, header and message done), the
//   same status, version, reason phrase, fields (name as sent, its code, value, in
//   order, trailers after the head's; basic_fields moves a line up behind the last of
//   its name, response_parser keeps the order they came in), keep-alive and body bytes;
// - the session's first read of a response head (parse_first_head_read, the bytes of
//   the first piece) ends as read_message_head's first turn does on the same bytes: the
//   same result, head bytes counted and bytes left in the buffer;
// - for a head the session relays (transfer_coding_ok), the client's head parses back
//   whole with the same status, exactly the framing field Sluice chose (Content-Length
//   when the upstream gave one, else chunked), no field the upstream's Connection lines
//   name and no other hop-by-hop field, Sluice's Via last among the Vias, the rate-limit
//   headers once each, and the upstream's other fields in their order.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/defaults.hpp"
#include "fuzz_support.hpp"
#include "http/forwarding.hpp"
#include "http/message_reader.hpp"
#include "http/request_head.hpp"
#include "http/response_head.hpp"
#include "util/ascii.hpp"

namespace {

namespace net = sluice::net;
namespace http = net::http;
namespace beast = net::beast;
using net::error_code;

struct reading {
  std::string ending;  // error (if any), header done, message done
  int status = 0;
  unsigned version = 0;
  std::string reason;
  std::string fields;  // "code|name|value\n" per field
  bool keep_alive = false;
  std::string body;
};

bool iequals(std::string_view a, std::string_view b) {
  return sluice::iequals(a, b);  // not beast::iequals: see util/ascii.hpp
}

// Fields in the order Beast's basic_fields holds them: a line goes after the last line
// of its name (response_parser keeps the order they came in).
std::vector<net::head_field> beast_order(std::span<const net::head_field> fields) {
  std::vector<net::head_field> grouped;
  for (const auto& f : fields) {
    auto after = grouped.end();
    for (auto it = grouped.begin(); it != grouped.end(); ++it) {
      if (iequals(it->name_text, f.name_text)) after = it + 1;
    }
    grouped.insert(after, f);
  }
  return grouped;
}

std::string summary(const reading& r) {
  return r.ending + "\nstatus " + std::to_string(r.status) + " version " +
         std::to_string(r.version) + " reason " + r.reason + "\n" + r.fields + "keep-alive " +
         (r.keep_alive ? "yes" : "no") + "\nbody " + r.body;
}

// Feeds `bytes` in `pieces` (the rest in one), as the session's readers do.
template <class Parser, class Body>
void feed(Parser& p, Body& body, std::string_view bytes, const std::vector<std::size_t>& pieces,
          std::size_t body_buffer, reading& out) {
  p.header_limit(static_cast<std::uint32_t>(sluice::config::defaults::upstream_max_header_bytes));
  p.body_limit(boost::none);
  std::vector<char> buffer(body_buffer);
  std::string pending;
  std::size_t at = 0, next_piece = 0;
  error_code ec;
  for (;;) {
    if (p.is_done()) break;
    if (at < bytes.size()) {
      const std::size_t n = next_piece < pieces.size()
                                ? std::min(pieces[next_piece++], bytes.size() - at)
                                : bytes.size() - at;
      pending.append(bytes.substr(at, n));
      at += n;
    }
    body.data = buffer.data();
    body.size = buffer.size();
    ec = {};
    const std::size_t used = net::feed_parser(p, net::asio::buffer(pending), ec);
    pending.erase(0, used);
    out.body.append(buffer.data(), buffer.size() - body.size);
    if (ec == http::error::need_buffer) continue;
    if (ec && ec != http::error::need_more) break;
    if (at < bytes.size()) continue;
    if (used != 0 && !ec) continue;  // a chunk-size line: parse what follows it
    // The upstream closed: before the end of the head, read_message_head answers
    // without the parser (end_of_stream, partial_message); in the body, put_eof.
    ec = {};
    if (p.is_header_done()) {
      p.put_eof(ec);
    } else {
      ec = p.got_some() ? http::error::partial_message : http::error::end_of_stream;
    }
    break;
  }
  out.ending = (ec ? ec.message() : std::string("ok")) + (p.is_header_done() ? " head" : "") +
               (p.is_done() ? " done" : "");
  if (p.is_header_done()) out.keep_alive = p.keep_alive();
}

reading with_beast(std::string_view bytes, const std::vector<std::size_t>& pieces,
                   std::size_t body_buffer) {
  http::response_parser<http::buffer_body> p;
  reading out;
  feed(p, p.get().body(), bytes, pieces, body_buffer, out);
  if (p.is_header_done()) {
    out.status = p.get().result_int();
    out.version = p.get().version();
    out.reason = std::string(p.get().reason());
    for (const auto& f : p.get()) {
      out.fields += std::to_string(static_cast<int>(f.name())) + "|" +
                    std::string(f.name_string()) + "|" + std::string(f.value()) + "\n";
    }
  }
  return out;
}

// Also checks the client's head for a response the session would relay.
reading with_sluice(std::string_view bytes, const std::vector<std::size_t>& pieces,
                    std::size_t body_buffer) {
  net::head_arena arena;
  std::optional<net::response_parser> holder;
  auto& p = net::emplace_parser(holder, arena);
  reading out;
  feed(p, p.body(), bytes, pieces, body_buffer, out);
  if (!p.is_header_done()) return out;
  out.status = p.status();
  out.version = p.version();
  out.reason = std::string(p.reason());
  for (const auto& f : beast_order(p.fields())) {
    out.fields += std::to_string(static_cast<int>(f.name)) + "|" + std::string(f.name_text) + "|" +
                  std::string(f.value) + "\n";
  }
  return out;
}

// parse_first_head_read on the first `piece` bytes (none: the upstream closed) against
// read_message_head's first turn, written out.
void check_first_read(std::string_view bytes, std::size_t piece) {
  constexpr auto max_head =
      static_cast<std::size_t>(sluice::config::defaults::upstream_max_header_bytes);
  auto configured = [](std::optional<net::response_parser>& holder, net::head_arena& arena) {
    auto& p = net::emplace_parser(holder, arena);
    p.header_limit(static_cast<std::uint32_t>(max_head));
    p.body_limit(boost::none);
    return &p;
  };
  net::head_arena arena;
  std::optional<net::response_parser> holder;
  auto* p = configured(holder, arena);
  beast::flat_buffer buffer(max_head);
  const auto into = net::first_head_buffer(buffer);
  const std::size_t n = std::min({piece, bytes.size(), into.size()});
  std::memcpy(into.data(), bytes.data(), n);
  const error_code read_ec = n == 0 ? error_code(net::asio::error::eof) : error_code{};
  std::size_t head_bytes = 0;
  const error_code ec = net::parse_first_head_read(buffer, *p, read_ec, n, max_head, head_bytes);

  net::head_arena model_arena;
  std::optional<net::response_parser> model_holder;
  auto* model = configured(model_holder, model_arena);
  std::size_t model_head_bytes = 0;
  std::size_t used = 0;
  error_code expected = http::error::end_of_stream;
  if (n != 0) {
    error_code fed;
    used =
        net::feed_head(*model, net::asio::buffer(bytes.data(), n), max_head, model_head_bytes, fed);
    if (fed == http::error::header_limit || (fed && fed != http::error::need_more)) {
      expected = fed;
    } else {
      expected = model->is_header_done() ? error_code{} : error_code{http::error::need_more};
    }
  }
  FUZZ_CHECK(ec == expected, ec.message() + " where read_message_head: " + expected.message());
  FUZZ_CHECK(head_bytes == model_head_bytes, "head bytes counted differently");
  FUZZ_CHECK(buffer.size() == n - used, "bytes left in the buffer differ");
  FUZZ_CHECK(p->is_header_done() == model->is_header_done(), "head done differs");
  if (p->is_header_done()) FUZZ_CHECK(p->status() == model->status(), "status differs");
}

// The client's head for the upstream's `head` bytes (parsed whole), checked.
void check_client_head(std::string_view head) {
  net::head_arena arena;
  std::optional<net::response_parser> holder;
  auto& p = net::emplace_parser(holder, arena);
  p.header_limit(static_cast<std::uint32_t>(sluice::config::defaults::upstream_max_header_bytes));
  p.body_limit(boost::none);  // as the session reads a response: any Content-Length
  p.eager(false);
  error_code ec;
  net::feed_parser(p, net::asio::buffer(head), ec);
  if (!p.is_header_done() || (ec && ec != http::error::need_more)) return;
  if (!net::transfer_coding_ok(p.fields()) || p.status() < 200) return;

  const auto length = p.content_length();
  const net::body_frame frame = length ? net::body_frame{net::body_framing::length, *length}
                                       : net::body_frame{net::body_framing::chunked, 0};
  sluice::limit::header_list rate;
  rate.add("X-RateLimit-Limit", "10");
  rate.add("RateLimit-Policy", "10;w=60");
  net::wire_buffer out;
  net::write_client_response_head(
      out, p, {.version = 11, .body = frame, .rate_headers = &rate, .keep_alive = true});
  const std::string written(out.view());

  http::response_parser<http::empty_body> back;
  back.eager(false);
  back.header_limit(1024 * 1024);
  back.body_limit(boost::none);
  error_code bec;
  const std::size_t used = back.put(net::asio::buffer(written), bec);
  FUZZ_CHECK(!bec && back.is_header_done() && used == written.size(),
             bec.message() + " in:\n" + written);
  FUZZ_CHECK(static_cast<int>(back.get().result_int()) == p.status(), written);

  // The names the upstream's Connection lines list: hop-by-hop, never relayed.
  std::vector<std::string> named;
  for (const auto& f : p.fields()) {
    if (f.name != http::field::connection) continue;
    for (auto token : http::token_list{f.value}) named.emplace_back(token);
  }
  auto is_named = [&](std::string_view name) {
    for (const auto& n : named) {
      if (iequals(n, name) && !iequals(n, "content-length") && !iequals(n, "host")) return true;
    }
    return false;
  };

  // The upstream's relayed fields, in order, then what Sluice writes itself. The
  // hop-by-hop names (RFC 9110 7.6.1) are written out here, not taken from
  // forwarding.cpp: this is the oracle for that code.
  std::vector<std::string> expected;
  std::string vias;
  for (const auto& f : p.fields()) {
    switch (f.name) {
      case http::field::connection:
      case http::field::keep_alive:
      case http::field::te:
      case http::field::trailer:
      case http::field::transfer_encoding:
      case http::field::upgrade:
      case http::field::proxy_connection:
      case http::field::content_length:
        continue;
      default:
        break;
    }
    if (is_named(f.name_text)) continue;
    if (f.name == http::field::via) {
      if (!f.value.empty()) vias += std::string(f.value) + ", ";
      continue;
    }
    if (iequals(f.name_text, "X-RateLimit-Limit") || iequals(f.name_text, "RateLimit-Policy")) {
      continue;
    }
    expected.push_back(std::string(f.name_text) + ": " + std::string(f.value));
  }
  if (vias.size() + 10 <= net::max_field_value_bytes)
    expected.push_back("Via: " + vias + "1.1 sluice");
  expected.push_back(length ? "Content-Length: " + std::to_string(*length)
                            : std::string("Transfer-Encoding: chunked"));
  expected.push_back("X-RateLimit-Limit: 10");
  expected.push_back("RateLimit-Policy: 10;w=60");

  // Beast's parser reads the written head back in its order (beast_order).
  std::vector<net::head_field> lines;
  for (const auto& e : expected) {
    const auto colon = e.find(": ");
    lines.push_back({http::field::unknown, std::string_view(e).substr(0, colon),
                     std::string_view(e).substr(colon + 2)});
  }
  std::vector<std::string> in_beasts_order;
  for (const auto& f : beast_order(lines)) {
    in_beasts_order.push_back(std::string(f.name_text) + ": " + std::string(f.value));
  }
  std::vector<std::string> got;
  for (const auto& f : back.get()) {
    got.push_back(std::string(f.name_string()) + ": " + std::string(f.value()));
  }
  FUZZ_CHECK(got == in_beasts_order, "written:\n" + written + "\nupstream:\n" + std::string(head));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return -1;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  sluice::fuzz::split_points rng(data, size);
  const std::size_t body_buffer = 1 + rng.next() % 64;

  std::vector<std::size_t> pieces;
  for (std::size_t total = 0; total < size;) {
    pieces.push_back(rng.piece(size - total));
    total += pieces.back();
  }
  for (const auto& split : {std::vector<std::size_t>{}, pieces}) {
    const reading mine = with_sluice(bytes, split, body_buffer);
    const reading beasts = with_beast(bytes, split, body_buffer);
    FUZZ_CHECK(summary(mine) == summary(beasts),
               "response_parser:\n" + summary(mine) + "\nBeast's parser:\n" + summary(beasts));
  }
  check_first_read(bytes, pieces.empty() ? 0 : pieces.front());
  check_first_read(bytes, size);
  check_client_head(bytes);
  return 0;
}
