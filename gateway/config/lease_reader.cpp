// Pass 1 for a limit's `lease:` (issue 15, local quota leases; store/lease_table.hpp):
//   lease: { max_tokens: 10, max_age: 250ms }
// Both keys are required. max_tokens in 1..1e6 (pass 2 checks it is below the limit's
// capacity), max_age in (0, 10s]. Only algorithms whose lease and refund are exact:
// token_bucket, fixed_window, and leaky_bucket without `delay`.
#include "config/defaults.hpp"
#include "config/loader_internal.hpp"

namespace sluice::config::detail {

void read_lease(const yaml_node& node, const std::string& path, error_sink& sink, limit_def& limit,
                limit_info& info) {
  map_reader m(node, path, sink, {"max_tokens", "max_age"});
  if (!m.ok()) return;
  const std::size_t errors_before = sink.count();
  lease_def lease;
  lease.where = sink.where(node);
  std::optional<source_location> tokens_at;
  if (auto* v = m.get("max_tokens")) {
    tokens_at = sink.where(*v);
    if (auto n = read_int(*v, m.path("max_tokens"), sink, 1, defaults::lease_max_tokens)) {
      lease.max_tokens = *n;
    }
  } else {
    sink.add(node, path, "missing required key 'max_tokens' (e.g. max_tokens: 10)");
  }
  if (auto* v = m.get("max_age")) {
    if (auto d = read_bounded_duration(*v, m.path("max_age"), sink, defaults::lease_max_age)) {
      lease.max_age = *d;
    }
  } else {
    sink.add(node, path, "missing required key 'max_age' (e.g. max_age: 250ms)");
  }
  switch (limit.algo) {
    case limit::algorithm::token_bucket:
    case limit::algorithm::fixed_window:
      break;
    case limit::algorithm::leaky_bucket:
      if (limit.delay > 0) {
        sink.add(node, path,
                 "a lease cannot serve a leaky_bucket with delay (a leased unit is spent "
                 "without being held); remove 'delay' or the lease");
      }
      break;
    case limit::algorithm::sliding_window:
    case limit::algorithm::sliding_log:
    case limit::algorithm::concurrency:  // never here: its `lease` is a duration
      sink.add(node, path,
               "lease applies only to token_bucket, fixed_window and leaky_bucket without "
               "delay (this limit uses " +
                   std::string(limit::to_string(limit.algo)) +
                   ", whose unspent units cannot be given back exactly)");
      break;
  }
  if (sink.count() != errors_before) return;
  limit.lease = lease;
  info.lease_at = tokens_at;
}

}  // namespace sluice::config::detail
