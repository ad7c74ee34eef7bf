// Pass 1 for a limit's `tenant_rate:` (issue 14, per-tenant limits):
//   tenant_rate: { claim: rpm, max: 10000 }        # a claim of the verified JWT
//   tenant_rate: { header: X-Tenant-RPM, max: 10000 }  # from a trusted proxy only
//   tenant_rate: { max: 10000 }                     # runtime entries only (admin API)
// At most one of claim and header (runtime entries, PUT /admin/tenants/<limit>/<key>,
// set N for a key whatever the request carries); max is required (1 .. 2^53 - 1). Pass 2 checks the
// limit has a rate of its own (the period and the default) and the numbers up to max
// are exact for its algorithm; pass 2 of config.yaml that a claim has identity.jwt.
#include "config/loader_internal.hpp"

namespace sluice::config::detail {

void read_tenant_rate(const yaml_node& node, const std::string& path, error_sink& sink,
                      limit_def& limit, limit_info& info) {
  map_reader m(node, path, sink, {"claim", "header", "max"});
  if (!m.ok()) return;
  const std::size_t errors_before = sink.count();
  tenant_rate_def tenant;
  tenant.where = sink.where(node);
  const yaml_node* claim = m.get("claim");
  const yaml_node* header = m.get("header");
  if (claim != nullptr && header != nullptr) {
    sink.add(node, path,
             "takes at most one of 'claim' (a claim of the verified JWT) and 'header' (from a "
             "trusted proxy); runtime entries of the admin API apply to either");
  }
  if (claim != nullptr) {
    if (auto name = read_claim_name(*claim, m.path("claim"), sink)) tenant.claim = *name;
  }
  if (header != nullptr) {
    if (auto text = read_string(*header, m.path("header"), sink)) {
      if (!is_http_token(*text)) {
        sink.add(*header, m.path("header"), "invalid header name '" + *text + "'");
      }
      tenant.header = lower_ascii(std::move(*text));
    }
  }
  if (auto* v = m.get("max")) {
    if (auto n = read_int(*v, m.path("max"), sink, 1, limit::max_exact_integer)) tenant.max = *n;
  } else {
    sink.add(node, path, "missing required key 'max' (the largest number a tenant may get)");
  }
  if (sink.count() != errors_before) return;
  limit.tenant_rate = tenant;
  info.tenant_rate_at = tenant.where;
}

}  // namespace sluice::config::detail
