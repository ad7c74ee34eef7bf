// Pass 1 for a limit's `cost:` (issue 14, a cost from the response):
//   cost: { response_header: X-Usage-Tokens, reserve: 500, on_failure: 500 }
//   cost: { response_json: usage.total_tokens }      # a JSON body, or a stream's events
//   cost: { response_trailer: X-Usage-Tokens }       # a chunked response's trailer
// Exactly one source. reserve and on_failure in 0 .. 2^53 - 1 (pass 2 checks the
// reserve against the limit's capacity and the algorithm: token_bucket, fixed_window,
// or leaky_bucket without delay, the ones whose settle is exact).
#include "config/loader_internal.hpp"
#include "config/units.hpp"

namespace sluice::config::detail {

void read_response_cost(const yaml_node& node, const std::string& path, error_sink& sink,
                        limit_def& limit, limit_info& info) {
  map_reader m(node, path, sink,
               {"response_header", "response_json", "response_trailer", "reserve", "on_failure"});
  if (!m.ok()) return;
  const std::size_t errors_before = sink.count();
  response_cost_def cost;
  cost.where = sink.where(node);
  const yaml_node* header = m.get("response_header");
  const yaml_node* json = m.get("response_json");
  const yaml_node* trailer = m.get("response_trailer");
  if ((header != nullptr) + (json != nullptr) + (trailer != nullptr) != 1) {
    sink.add(node, path,
             "needs exactly one of 'response_header', 'response_json' and 'response_trailer' "
             "(where the upstream's answer says what the request cost)");
  }
  for (auto [field, source] : {std::pair{header, response_cost_source::header},
                               std::pair{trailer, response_cost_source::trailer}}) {
    if (field == nullptr) continue;
    const std::string name =
        source == response_cost_source::header ? "response_header" : "response_trailer";
    if (auto text = read_string(*field, m.path(name), sink)) {
      if (!is_http_token(*text)) {
        sink.add(*field, m.path(name), "invalid header name '" + *text + "'");
      }
      cost.source = source;
      cost.name = lower_ascii(std::move(*text));
    }
  }
  if (json != nullptr) {
    if (auto text = read_string(*json, m.path("response_json"), sink)) {
      if (auto segments = units::parse_field_path(*text)) {
        cost.source = response_cost_source::json;
        cost.path = std::move(*segments);
      } else {
        sink.add(*json, m.path("response_json"),
                 "expected a field path such as usage.total_tokens (1 to 8 names of letters, "
                 "digits, '_' and '-', joined by '.'), got '" +
                     *text + "'");
      }
    }
  }
  if (auto* v = m.get("reserve")) {
    if (auto n = read_int(*v, m.path("reserve"), sink, 0, limit::max_exact_integer)) {
      cost.reserve = *n;
    }
  }
  if (auto* v = m.get("on_failure")) {
    if (auto n = read_int(*v, m.path("on_failure"), sink, 0, limit::max_exact_integer)) {
      cost.on_failure = *n;
    }
  }
  if (sink.count() != errors_before) return;
  limit.response_cost = std::move(cost);
  info.response_cost_at = limit.response_cost->where;
}

}  // namespace sluice::config::detail
