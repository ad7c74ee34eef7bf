#include "tls/listener_contexts.hpp"

namespace sluice::tls {

listener_contexts load_listener_contexts(const config::server_config& server,
                                         std::chrono::system_clock::time_point now) {
  listener_contexts out;
  for (std::size_t i = 0; i < server.listen.size(); ++i) {
    const auto& tls = server.listen[i].tls;
    if (!tls) {
      out.contexts.emplace_back();
      continue;
    }
    auto loaded = server_context::load(*tls, now);
    if (!loaded.error.empty()) {
      out.errors.push_back(
          {tls->where, "listen[" + std::to_string(i) + "].tls", std::move(loaded.error)});
    }
    out.contexts.push_back(std::move(loaded.context));
  }
  return out;
}

}  // namespace sluice::tls
