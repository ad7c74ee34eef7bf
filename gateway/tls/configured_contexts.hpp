// The TLS contexts a configuration names, loaded from their files: one per TLS `listen`
// entry, and the HTTPS upstream's. Loaded at start, at every reload (a file that cannot
// be used fails the reload, so the old contexts stay in use), and by --check-config.
// Stateless function; thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "config/loader.hpp"
#include "tls/client_context.hpp"
#include "tls/server_context.hpp"

namespace sluice::tls {

struct configured_contexts {
  // One per `listen` entry, in order; null for a plain HTTP entry.
  std::vector<std::shared_ptr<const server_context>> listeners;
  std::shared_ptr<const client_context> upstream;  // null for an http:// upstream
  // "config.yaml:4:7: listen[1].tls: certs/api.pem: certificate expired on ..."
  std::vector<config::config_error> errors;
};

configured_contexts load_configured_contexts(
    const config::server_config& server,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace sluice::tls
