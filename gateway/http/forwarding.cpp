#include "http/forwarding.hpp"

#include <string>
#include <vector>

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

}  // namespace

void strip_hop_by_hop(http::fields& fields) {
  // Fields named by Connection are hop-by-hop too. Collect their names before
  // erasing: the field after the Connection lines ends the equal_range, and
  // erasing it while walking the range never reaches the end.
  std::vector<std::string> named;
  auto range = fields.equal_range(http::field::connection);
  for (auto it = range.first; it != range.second; ++it) {
    for (auto token : http::token_list{it->value()}) named.emplace_back(token);
  }
  for (const auto& name : named) fields.erase(name);
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::transfer_encoding);
  fields.erase(http::field::upgrade);
  fields.erase(http::field::proxy_connection);
}

void prepare_upstream_request(http::request_header<>& req, const forwarded_context& ctx) {
  strip_hop_by_hop(req);
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
