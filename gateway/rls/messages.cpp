#include "rls/messages.hpp"

#include <algorithm>

namespace sluice::rls {
namespace {

constexpr std::string_view storage_unavailable_body =
    R"({"error":{"code":"storage_unavailable","message":"Rate-limit storage unavailable"}})";

pb::RateLimitResponse::Code code_of(limit::rls_code code) {
  switch (code) {
    case limit::rls_code::ok:
      return pb::RateLimitResponse::OK;
    case limit::rls_code::over_limit:
      return pb::RateLimitResponse::OVER_LIMIT;
    case limit::rls_code::unknown:
      break;
  }
  return pb::RateLimitResponse::UNKNOWN;
}

void write_status(const limit::rls_status& s, pb::RateLimitResponse::DescriptorStatus& out) {
  out.set_code(code_of(s.code));
  out.set_limit_remaining(s.limit_remaining);
  if (!s.current_limit) return;
  auto& limit = *out.mutable_current_limit();
  limit.set_requests_per_unit(s.current_limit->requests_per_unit);
  // rls_unit carries the proto's numbers (rls_schema.hpp).
  limit.set_unit(static_cast<pb::RateLimitResponse::RateLimit::Unit>(s.current_limit->unit));
  limit.set_name(std::string(s.current_limit->name));
  auto& reset = *out.mutable_duration_until_reset();
  reset.set_seconds(s.duration_until_reset / limit::micros_per_second);
  reset.set_nanos(static_cast<std::int32_t>(s.duration_until_reset % limit::micros_per_second) *
                  1000);
}

}  // namespace

void read_request(const pb::RateLimitRequest& in, limit::rls_request& out) {
  out.domain = in.domain();
  out.hits_addend = in.hits_addend();
  const int descriptors =
      std::min(in.descriptors_size(), static_cast<int>(limit::max_rls_descriptors) + 1);
  out.descriptors.resize(static_cast<std::size_t>(descriptors));
  for (int i = 0; i < descriptors; ++i) {
    const auto& d = in.descriptors(i);
    auto& o = out.descriptors[static_cast<std::size_t>(i)];
    o.entries.clear();
    const int entries = std::min(d.entries_size(), static_cast<int>(limit::max_rls_entries) + 1);
    for (int j = 0; j < entries; ++j)
      o.entries.push_back({d.entries(j).key(), d.entries(j).value()});
    o.limit.reset();
    if (d.has_limit()) {
      o.limit = limit::rls_limit_override{d.limit().requests_per_unit(),
                                          static_cast<int>(d.limit().unit())};
    }
    o.hits_addend.reset();
    if (d.has_hits_addend()) o.hits_addend = d.hits_addend().value();
  }
}

void write_response(const limit::rls_evaluation& ev, storage_answer storage, limit::micros now,
                    const config::headers_config& headers, limit::header_list& fields,
                    pb::RateLimitResponse& out) {
  out.Clear();
  switch (storage) {
    case storage_answer::unchecked:
      out.set_overall_code(pb::RateLimitResponse::OK);
      for (std::size_t i = 0; i < ev.plan.size(); ++i) {
        out.add_statuses()->set_code(pb::RateLimitResponse::OK);
      }
      return;
    case storage_answer::unavailable:
      out.set_overall_code(pb::RateLimitResponse::OVER_LIMIT);
      for (const auto& p : ev.plan) {
        out.add_statuses()->set_code(p.check >= 0 ? pb::RateLimitResponse::OVER_LIMIT
                                                  : pb::RateLimitResponse::OK);
      }
      out.set_raw_body(std::string(storage_unavailable_body));
      return;
    case storage_answer::decided:
      break;
  }
  out.set_overall_code(code_of(ev.overall));
  for (const auto& s : ev.statuses) write_status(s, *out.add_statuses());
  fields.clear();
  limit::append_rls_headers(ev, now, headers, fields);
  for (const auto& f : fields) {
    auto& h = *out.add_response_headers_to_add();
    h.set_key(std::string(f.name));
    h.set_value(std::string(f.value));
  }
  if (ev.overall == limit::rls_code::over_limit)
    out.set_raw_body(limit::rls_rejection_body(ev, now));
}

}  // namespace sluice::rls
