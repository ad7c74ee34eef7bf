#include "http/forwarding.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <iterator>

#include "http/wire.hpp"
#include "util/ascii.hpp"

namespace sluice::net {
namespace {

constexpr std::string_view via_token = "1.1 sluice";
// Soft limits (limit/soft_limit.hpp): set by Sluice for the upstream, never by a client.
constexpr std::string_view degraded_field = "X-RateLimit-Degraded";

// The hop-by-hop fields every message loses (RFC 9110 7.6.1), besides those its
// Connection lines name.
bool is_hop_by_hop(http::field f) {
  switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::proxy_connection:
      return true;
    default:
      return false;
  }
}

// The fields a message's Connection lines name (hop-by-hop too), except those that
// must reach the next hop whatever Connection says. Views into the message.
class connection_named {
 public:
  // (A scan: a head has few fields, and Beast's index costs more to search.)
  connection_named(const head_fields& fields, std::span<const std::string_view> kept) {
    for (const auto& f : fields) {
      if (f.name() == http::field::connection) add(f.value(), kept);
    }
  }
  explicit connection_named(std::span<const head_field> fields) {
    for (const auto& f : fields) {
      if (f.name == http::field::connection) add(f.value, {});
    }
  }
  bool contains(beast::string_view name) const {
    return std::any_of(names_.begin(), names_.end(),
                       [&](beast::string_view n) { return iequals(n, name); });
  }

 private:
  void add(beast::string_view line, std::span<const std::string_view> kept) {
    for (auto token : http::token_list{line}) {
      const auto f = http::string_to_field(token);
      if (f == http::field::content_length || f == http::field::host) continue;
      if (std::any_of(kept.begin(), kept.end(),
                      [&](std::string_view k) { return !k.empty() && iequals(token, k); })) {
        continue;
      }
      names_.push_back(token);
    }
  }

  boost::container::small_vector<beast::string_view, 8> names_;
};

// A field the next hop never receives as sent: hop-by-hop, or the framing (Sluice
// writes its own).
bool dropped_on_every_hop(http::field name, beast::string_view name_string,
                          const connection_named& conn) {
  if (is_hop_by_hop(name) || name == http::field::content_length) return true;
  return conn.contains(name_string);
}

// Every line of a list-valued field joined with ", ", then `last`: "a, b, last".
class joined_field {
 public:
  void add(beast::string_view value) {
    if (value.empty()) return;
    parts_.push_back(as_std(value));
    size_ += value.size() + 2;
  }
  // False when the joined value would exceed max_field_value_bytes.
  bool append_to(wire_buffer& out, std::string_view name, std::string_view last) const {
    if (size_ + last.size() > max_field_value_bytes) return false;
    char* p = out.extend(name.size() + 2 + size_ + last.size() + 2);
    p = std::copy(name.begin(), name.end(), p);
    *p++ = ':';
    *p++ = ' ';
    for (auto part : parts_) {
      p = std::copy(part.begin(), part.end(), p);
      *p++ = ',';
      *p++ = ' ';
    }
    p = std::copy(last.begin(), last.end(), p);
    *p++ = '\r';
    *p = '\n';
    return true;
  }

 private:
  boost::container::small_vector<std::string_view, 4> parts_;
  std::size_t size_ = 0;
};

void append_framing(wire_buffer& out, const body_frame& body) {
  if (body.framing == body_framing::length) {
    append_number_field(out, "Content-Length", body.length);
  } else if (body.framing == body_framing::chunked) {
    append_field(out, "Transfer-Encoding", "chunked");
  }
}

bool is_one_of(beast::string_view name, const limit::header_list* list) {
  return list != nullptr && list->has(as_std(name));
}

}  // namespace

bool write_upstream_request_head(wire_buffer& out, const request_head& req,
                                 const upstream_request_context& ctx) {
  const connection_named conn(req, ctx.kept);
  // What the one pass over the fields learns for the fields written after them (a
  // lookup each in Beast's field index cost more than the pass): whether there is a
  // Host (and the first one's value), an X-Forwarded-Proto, an X-Forwarded-Host. A
  // trusted peer's own X-Forwarded-Proto and -Host stand (every line of them); anyone
  // else's are dropped, and Sluice writes its own.
  bool has_host = false, has_proto = false, has_forwarded_host = false;
  std::string_view host;
  joined_field forwarded_for, via;

  out.clear();
  append_request_line(out, as_std(req.method_string()), as_std(req.target()));
  for (const auto& f : req) {
    // Each name compared once: what it is serves the pass and the writing below.
    const bool unknown = f.name() == http::field::unknown;
    const bool is_proto = unknown && iequals(f.name_string(), "X-Forwarded-Proto");
    const bool is_forwarded_host = unknown && iequals(f.name_string(), "X-Forwarded-Host");
    has_proto = has_proto || is_proto;
    has_forwarded_host = has_forwarded_host || is_forwarded_host;
    if (f.name() == http::field::host && !has_host) {
      has_host = true;
      host = as_std(f.value());
    }
    if (ctx.upgrade && f.name() == http::field::upgrade) {
      append_field(out, as_std(f.name_string()), as_std(f.value()));
      continue;
    }
    if (dropped_on_every_hop(f.name(), f.name_string(), conn)) continue;
    switch (f.name()) {
      case http::field::expect:
        continue;
      case http::field::via:
        via.add(f.value());
        continue;
      case http::field::unknown:
        if (iequals(f.name_string(), "X-Forwarded-For")) {
          forwarded_for.add(f.value());
          continue;
        }
        if (!ctx.peer_trusted && (is_proto || is_forwarded_host)) continue;
        if (iequals(f.name_string(), degraded_field)) continue;  // only Sluice says so
        break;
      default:
        break;
    }
    append_field(out, as_std(f.name_string()), as_std(f.value()));
  }
  if (!forwarded_for.append_to(out, "X-Forwarded-For", ctx.peer_ip)) return false;
  if (!(ctx.peer_trusted && has_proto)) {
    append_field(out, "X-Forwarded-Proto", ctx.tls ? "https" : "http");
  }
  if (!has_host) {
    append_field(out, "Host", ctx.upstream_host);
  } else if (!(ctx.peer_trusted && has_forwarded_host)) {
    append_field(out, "X-Forwarded-Host", host);
  }
  if (!via.append_to(out, "Via", via_token)) return false;
  if (!ctx.degraded.empty()) append_field(out, degraded_field, ctx.degraded);
  if (ctx.upgrade) append_field(out, "Connection", "Upgrade");
  append_framing(out, ctx.body);
  out.append("\r\n");
  return true;
}

bool is_websocket_upgrade(const request_head& req, bool has_body) {
  if (has_body || req.version() != 11 || req.method() != http::verb::get) return false;
  auto upgrades = req.equal_range(http::field::upgrade);
  if (upgrades.first == upgrades.second || std::next(upgrades.first) != upgrades.second ||
      !iequals(upgrades.first->value(), "websocket")) {
    return false;
  }
  auto lines = req.equal_range(http::field::connection);
  for (auto it = lines.first; it != lines.second; ++it) {
    for (auto token : http::token_list{it->value()}) {
      if (iequals(token, "upgrade")) return true;
    }
  }
  return false;
}

void write_client_response_head(wire_buffer& out, const response_parser& res,
                                const client_response_context& ctx) {
  const connection_named conn(res.fields());
  joined_field via;

  out.clear();
  append_status_line(out, ctx.version, res.status(), res.reason());
  for (const auto& f : res.fields()) {
    if (ctx.upgrade && f.name == http::field::upgrade) {
      append_field(out, f.name_text, f.value);
      continue;
    }
    if (dropped_on_every_hop(f.name, f.name_text, conn)) continue;
    if (f.name == http::field::via) {
      via.add(f.value);
      continue;
    }
    if (is_one_of(f.name_text, ctx.rate_headers)) continue;
    append_field(out, f.name_text, f.value);
  }
  // Only a Via of nearly the upstream's whole head bound (upstream_max_header_bytes)
  // is too long to extend; it is left out rather than failing the response.
  via.append_to(out, "Via", via_token);
  append_framing(out, ctx.body);
  if (ctx.rate_headers != nullptr) out.append(ctx.rate_headers->wire());
  if (ctx.upgrade) {
    out.append("Connection: Upgrade\r\n");
  } else if (!ctx.keep_alive && ctx.version == 11) {
    out.append("Connection: close\r\n");
  } else if (ctx.keep_alive && ctx.version == 10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

}  // namespace sluice::net
