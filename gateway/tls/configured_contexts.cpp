#include "tls/configured_contexts.hpp"

namespace sluice::tls {

configured_contexts load_configured_contexts(const config::server_config& server,
                                             std::chrono::system_clock::time_point now) {
  configured_contexts out;
  for (std::size_t i = 0; i < server.listen.size(); ++i) {
    const auto& tls = server.listen[i].tls;
    if (!tls) {
      out.listeners.emplace_back();
      continue;
    }
    auto loaded = server_context::load(*tls, now);
    if (!loaded.error.empty()) {
      out.errors.push_back(
          {tls->where, "listen[" + std::to_string(i) + "].tls", std::move(loaded.error)});
    }
    out.listeners.push_back(std::move(loaded.context));
  }
  if (const auto& tls = server.upstream.tls) {
    auto loaded = client_context::load(
        *tls, tls->server_name.empty() ? server.upstream.address.host : tls->server_name, now);
    if (!loaded.error.empty()) out.errors.push_back({tls->where, "upstream.tls", loaded.error});
    out.upstream = std::move(loaded.context);
  }
  return out;
}

}  // namespace sluice::tls
