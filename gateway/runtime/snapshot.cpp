#include "runtime/snapshot.hpp"

#include <chrono>
#include <stdexcept>

namespace sluice::app {
namespace {

std::vector<std::string> route_names(const limit::policy& p) {
  std::vector<std::string> out;
  for (const auto& r : p.routes()) out.push_back(r.name);
  return out;
}

std::vector<std::string> limit_names(const limit::policy& p) {
  std::vector<std::string> out;
  for (const auto& l : p.limits()) out.push_back(l.name);
  return out;
}

std::vector<std::string> tier_names(const limit::policy& p) {
  return {p.tier_names().begin(), p.tier_names().end()};
}

}  // namespace

snapshot::snapshot(config::loaded_config cfg, std::uint64_t hash_seed, admin::metrics& m,
                   net::upstream_target upstream_target,
                   std::vector<std::shared_ptr<const tls::server_context>> tls)
    : config(std::move(cfg)),
      policy(config, hash_seed),
      upstream(std::move(upstream_target)),
      upstream_host(config.server.upstream.address.to_string()),
      metrics(m, route_names(policy), limit_names(policy), tier_names(policy)),
      trusted_proxies(config.server.identity.trusted_proxies),
      loaded_at(std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count()),
      tls_contexts(std::move(tls)),
      rls(config.rls ? std::make_shared<const limit::rls_policy>(*config.rls, hash_seed)
                     : nullptr) {}

const std::shared_ptr<const tls::server_context>& snapshot::tls_context(
    std::size_t listener) const {
  static const std::shared_ptr<const tls::server_context> none;
  return listener < tls_contexts.size() ? tls_contexts[listener] : none;
}

namespace {

std::string joined(const std::vector<config::config_error>& errors) {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "\n") + e.to_string();
  return out;
}

}  // namespace

snapshot_error::snapshot_error(std::vector<config::config_error> e)
    : std::runtime_error(joined(e)), errors(std::move(e)) {}

std::shared_ptr<const snapshot> build_snapshot(config::loaded_config cfg, std::uint64_t hash_seed,
                                               admin::metrics& m, std::uint64_t generation) {
  auto tls = tls::load_configured_contexts(cfg.server);
  if (!tls.errors.empty()) throw snapshot_error(std::move(tls.errors));
  const auto& address = cfg.server.upstream.address;
  net::asio::io_context io;
  net::tcp::resolver resolver(io);
  net::error_code ec;
  auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("upstream " + cfg.server.upstream.url +
                             ": cannot resolve host: " + ec.message());
  }
  net::upstream_target target;
  for (const auto& entry : results) target.endpoints.push_back(entry.endpoint());
  target.generation = generation;
  target.connect_timeout = cfg.server.upstream.connect_timeout;
  target.tls = std::move(tls.upstream);
  return std::make_shared<const snapshot>(std::move(cfg), hash_seed, m, std::move(target),
                                          std::move(tls.listeners));
}

void count_local_denial(const snapshot_holder& snapshots, const limit::evaluation& ev) {
  const int denying = limit::denying_limit(ev);
  auto snap = snapshots.get();
  // The snapshot is held, so its policy cannot share an address with ev's unless
  // it is ev's (a request that began before a reload is not counted by scope).
  if (denying >= 0 && snap && &snap->policy == ev.pol) {
    snap->metrics.local_denied(ev.applied[denying].limit);
  }
}

}  // namespace sluice::app
