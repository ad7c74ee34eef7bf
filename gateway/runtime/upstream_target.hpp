// Where the upstream is, as resolved for one configuration snapshot (runtime/snapshot.hpp
// resolves it; http/upstream_pool.hpp connects to it). Namespace sluice::net, the HTTP
// layer's, which reads it. A plain value; thread-safe to read.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/asio.hpp"
#include "tls/client_context.hpp"

namespace sluice::net {

struct upstream_target {
  std::vector<tcp::endpoint> endpoints;
  std::uint64_t generation = 0;  // connections to an older target are not reused
  std::chrono::milliseconds connect_timeout{};
  // An https:// upstream: what its connections verify and present; null for http://.
  std::shared_ptr<const tls::client_context> tls;
};

}  // namespace sluice::net
