#include "http/forwarding.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <string>

namespace sluice::net {
namespace {

constexpr std::string_view via_token = "1.1 sluice";
constexpr std::string_view xff_name = "X-Forwarded-For";

void append_via(http::fields& fields) {
  auto it = fields.find(http::field::via);
  if (it == fields.end()) {
    fields.set(http::field::via, via_token);
    return;
  }
  std::string via(it->value());
  via += ", ";
  via += via_token;
  fields.set(http::field::via, via);
}

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

}  // namespace

void strip_hop_by_hop(http::fields& fields, std::span<const std::string_view> kept) {
  // Fields named by Connection are hop-by-hop too. The names are views into the
  // Connection lines, so those lines are erased last.
  boost::container::small_vector<beast::string_view, 8> named;
  auto range = fields.equal_range(http::field::connection);
  for (auto it = range.first; it != range.second; ++it) {
    for (auto token : http::token_list{it->value()}) {
      const auto f = http::string_to_field(token);
      if (f == http::field::content_length || f == http::field::host) continue;
      if (std::any_of(kept.begin(), kept.end(), [&](std::string_view k) {
            return !k.empty() && beast::iequals(token, beast::string_view(k.data(), k.size()));
          })) {
        continue;
      }
      named.push_back(token);
    }
  }
  // One walk over the fields rather than one lookup and erase per hop-by-hop name.
  for (auto it = fields.begin(); it != fields.end();) {
    const http::field f = it->name();
    bool drop = false;
    if (f != http::field::connection) {
      drop = is_hop_by_hop(f) || std::any_of(named.begin(), named.end(), [&](auto name) {
               return beast::iequals(name, it->name_string());
             });
    }
    it = drop ? fields.erase(it) : std::next(it);
  }
  fields.erase(http::field::connection);
}

void set_body_framing(http::fields& fields, body_framing framing, std::uint64_t length) {
  fields.erase(http::field::content_length);
  fields.erase(http::field::transfer_encoding);
  if (framing == body_framing::length) {
    fields.set(http::field::content_length, std::to_string(length));
  } else if (framing == body_framing::chunked) {
    fields.set(http::field::transfer_encoding, "chunked");
  }
}

void prepare_upstream_request(http::request_header<>& req, const forwarded_context& ctx) {
  strip_hop_by_hop(req, ctx.kept);
  req.erase(http::field::expect);

  // Every X-Forwarded-For line, in order, then the peer.
  std::string xff;
  auto range = req.equal_range(xff_name);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->value().empty()) continue;
    if (!xff.empty()) xff += ", ";
    xff.append(it->value().data(), it->value().size());
  }
  if (!xff.empty()) xff += ", ";
  xff += ctx.peer_ip;
  req.set(xff_name, xff);

  if (!ctx.peer_trusted || req.find("X-Forwarded-Proto") == req.end()) {
    req.set("X-Forwarded-Proto", "http");
  }
  auto host = req.find(http::field::host);
  if (host == req.end()) {
    req.set(http::field::host, ctx.upstream_host);
  } else if (!ctx.peer_trusted || req.find("X-Forwarded-Host") == req.end()) {
    req.set("X-Forwarded-Host", host->value());
  }
  append_via(req);

  req.version(11);
}

void prepare_client_response(http::response_header<>& res) {
  strip_hop_by_hop(res);
  append_via(res);
}

}  // namespace sluice::net
