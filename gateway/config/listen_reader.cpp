// Pass 1 for config.yaml's `listen` (SPEC 2, SPEC 15 TLS termination): one entry, or a
// list whose entries are addresses (plain HTTP) or maps with TLS:
//   listen:
//     - 0.0.0.0:8080
//     - { address: 0.0.0.0:8443, tls: { cert: certs/api.pem, key: certs/api.key } }
//     - { address: "[::]:8443", tls: { certificates: [ { cert: a.pem, key: a.key } ],
//                                      client_ca: ca.pem } }
// `cert`/`key` is shorthand for a one-entry `certificates`. File paths are resolved
// against the config file's directory (as `policies` is); what the files hold is checked
// when the gateway loads them (tls/configured_contexts.hpp), at `tls`'s position.
#include "config/loader_internal.hpp"

namespace sluice::config::detail {
namespace {

// `cert` and `key`, both required, from a `tls` map or a `certificates` entry.
std::optional<tls_certificate_files> read_certificate(const map_reader& m, error_sink& sink) {
  tls_certificate_files files;
  bool ok = true;
  for (auto [name, out] : {std::pair{"cert", &files.cert}, std::pair{"key", &files.key}}) {
    if (auto* v = m.get(name)) {
      auto file = read_file_path(*v, m.path(name), sink);
      if (file) *out = std::move(*file);
      ok = ok && file.has_value();
    } else {
      sink.add(
          m.node(), m.path(),
          std::string("missing required key '") + name + "' (a certificate needs cert and key)");
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return files;
}

std::optional<listen_tls> read_tls(const yaml_node& node, const std::string& path,
                                   error_sink& sink) {
  map_reader m(node, path, sink, {"cert", "key", "certificates", "client_ca"});
  if (!m.ok()) return std::nullopt;
  const std::size_t errors_before = sink.count();
  listen_tls tls;
  tls.where = sink.where(node);
  if (auto* list = m.get("certificates")) {
    if (m.get("cert") != nullptr || m.get("key") != nullptr) {
      sink.add(node, path, "give either cert and key or certificates, not both");
    } else if (auto items = read_list(*list, m.path("certificates"), sink, false)) {
      if (items->empty())
        sink.add(*list, m.path("certificates"), "must name at least one certificate");
      for (const auto& item : *items) {
        map_reader c(*item.node, item.path, sink, {"cert", "key"});
        if (!c.ok()) continue;
        if (auto files = read_certificate(c, sink)) tls.certificates.push_back(std::move(*files));
      }
    }
  } else if (m.get("cert") != nullptr || m.get("key") != nullptr) {
    if (auto files = read_certificate(m, sink)) tls.certificates.push_back(std::move(*files));
  } else {
    sink.add(node, path, "missing a certificate (cert and key, or certificates)");
  }
  if (auto* v = m.get("client_ca")) {
    if (auto file = read_file_path(*v, m.path("client_ca"), sink)) tls.client_ca = std::move(*file);
  }
  if (sink.count() != errors_before) return std::nullopt;
  return tls;
}

std::optional<listen_address> read_entry(const yaml_node& node, const std::string& path,
                                         error_sink& sink) {
  if (node.type != yaml_node::kind::map) {
    auto address = read_host_port(node, path, sink);
    if (!address) return std::nullopt;
    return listen_address{std::move(*address), std::nullopt};
  }
  map_reader m(node, path, sink, {"address", "tls"});
  if (!m.ok()) return std::nullopt;
  std::optional<host_port> address;
  if (auto* v = m.get("address")) {
    address = read_host_port(*v, m.path("address"), sink);
  } else {
    sink.add(node, path, "missing required key 'address' (e.g. address: 0.0.0.0:8443)");
  }
  std::optional<listen_tls> tls;
  bool tls_ok = true;
  if (auto* v = m.get("tls")) {
    tls = read_tls(*v, m.path("tls"), sink);
    tls_ok = tls.has_value();
  }
  if (!address || !tls_ok) return std::nullopt;
  return listen_address{std::move(*address), std::move(tls)};
}

}  // namespace

void read_listen(const yaml_node& node, error_sink& sink, std::vector<listen_address>& out) {
  if (node.type == yaml_node::kind::map) {  // one entry with TLS, not in a list
    if (auto entry = read_entry(node, "listen", sink)) out = {std::move(*entry)};
    return;
  }
  auto items = read_list(node, "listen", sink, true);
  if (!items) return;
  if (items->empty()) {
    sink.add(node, "listen", "must name at least one address");
    return;
  }
  std::vector<listen_address> entries;
  bool ok = true;
  for (const auto& item : *items) {
    auto entry = read_entry(*item.node, item.path, sink);
    if (entry) entries.push_back(std::move(*entry));
    ok = ok && entry.has_value();
  }
  if (ok) out = std::move(entries);
}

}  // namespace sluice::config::detail
