// The admin listener's HTTP plumbing (admin.listen): refuses peers outside
// admin.allow at accept, reads small bounded requests, hands them to a handler,
// writes the answer. Which endpoints exist and who may call them is the handler's
// business (admin::admin_api). Runs on the gateway's control thread, away from proxy
// traffic.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "net/asio.hpp"
#include "util/ip_address.hpp"

namespace sluice::admin {

struct admin_request {
  std::string_view method;
  std::string_view target;  // path[?query]
  std::string_view body;
  std::string_view authorization;  // the raw Authorization header, if any
  ip_address peer;
};

struct admin_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A coroutine: some answers need a storage round trip (peek at a Redis key).
using admin_handler = std::function<net::awaitable<admin_response>(admin_request)>;

// Whether a peer may use the admin listener at all (admin.allow, read at accept).
using admin_peer_check = std::function<bool(const ip_address&)>;

// Serves one admin connection (keep-alive) until the peer leaves or goes idle.
// A peer `allowed` refuses gets a 403 at once; nothing it sends is parsed. Bad
// requests get 400/413/431 and a close; nothing thrown while reading, handling or
// writing leaves the connection (a 500 instead).
void start_admin_session(net::tcp::socket socket, const admin_handler& handler,
                         const admin_peer_check& allowed);

}  // namespace sluice::admin
