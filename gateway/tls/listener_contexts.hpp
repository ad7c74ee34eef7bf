// The TLS contexts of config.yaml's `listen` entries, loaded from their files: at start,
// at every reload (a certificate that cannot be loaded fails the reload, so the old one
// stays in use), and by `--check-config`. Stateless function; thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "config/loader.hpp"
#include "tls/server_context.hpp"

namespace sluice::tls {

struct listener_contexts {
  // One per `listen` entry, in order; null for a plain HTTP entry.
  std::vector<std::shared_ptr<const server_context>> contexts;
  // "config.yaml:4:7: listen[1].tls: certs/api.pem: certificate expired on ..."
  std::vector<config::config_error> errors;
};

listener_contexts load_listener_contexts(
    const config::server_config& server,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace sluice::tls
