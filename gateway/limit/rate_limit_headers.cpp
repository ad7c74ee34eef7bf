#include "limit/rate_limit_headers.hpp"

#include <array>

#include "util/json_text.hpp"

namespace sluice::limit {
namespace {

// "00" "01" ... "99": two digits per division.
constexpr std::array<char, 200> digit_pairs = [] {
  std::array<char, 200> t{};
  for (int i = 0; i < 100; ++i) {
    t[2 * i] = static_cast<char>('0' + i / 10);
    t[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return t;
}();

// By hand, two digits at a time: libstdc++ 12's std::to_chars builds its digit-pair
// table on the stack at every call, and this runs a dozen times per limited request.
void append_int(std::string& out, std::int64_t v) {
  char buf[20];
  char* const end = buf + sizeof(buf);
  char* p = end;
  std::uint64_t u =
      v < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  while (u >= 100) {
    const auto pair = static_cast<std::size_t>(u % 100) * 2;
    u /= 100;
    p -= 2;
    p[0] = digit_pairs[pair];
    p[1] = digit_pairs[pair + 1];
  }
  if (u >= 10) {
    p -= 2;
    p[0] = digit_pairs[u * 2];
    p[1] = digit_pairs[u * 2 + 1];
  } else {
    *--p = static_cast<char>('0' + u);
  }
  if (v < 0) *--p = '-';
  out.append(p, static_cast<std::size_t>(end - p));
}

void set_int(std::string& out, std::int64_t v) {
  out.clear();
  append_int(out, v);
}

// The instant a limit is fully replenished, in whole epoch seconds (rounded up).
std::int64_t reset_epoch_seconds(const evaluation& ev, const decision& d) {
  return ceil_seconds(ev.now + d.reset);
}

// RateLimit-Policy: every enforced limit that applied, in configuration order.
void append_policy(const evaluation& ev, bool named, std::string& out) {
  out.clear();
  for (const auto& a : ev.applied) {
    if (a.shadow) continue;
    if (!out.empty()) out += ", ";
    if (named) {
      append_json_string(out, ev.limit_of(a).name);  // an sf-string: same escaping
      out += ";q=";
    }
    append_int(out, a.params->capacity());
    out += ";w=";
    append_int(out, a.params->policy_window_seconds());
  }
}

}  // namespace

std::string& header_list::add(std::string_view name) {
  if (size_ == fields_.size()) fields_.emplace_back();
  header_field& f = fields_[size_++];
  f.name = name;
  f.value.clear();
  return f.value;
}

std::int64_t retry_after_seconds(const evaluation& ev) {
  if (ev.denying < 0) return 1;
  return ceil_seconds_min1(ev.applied[ev.denying].result.retry_after);
}

void append_rate_limit_headers(const evaluation& ev, const config::headers_config& cfg,
                               header_list& out) {
  if (ev.reported < 0) return;
  const applied_limit& top = ev.applied[ev.reported];
  const decision& d = top.result;
  const std::string& name = ev.limit_of(top).name;

  if (cfg.legacy) {
    set_int(out.add("X-RateLimit-Limit"), d.limit);
    set_int(out.add("X-RateLimit-Remaining"), d.remaining);
    set_int(out.add("X-RateLimit-Reset"), cfg.legacy_reset == config::legacy_reset_format::epoch
                                              ? reset_epoch_seconds(ev, d)
                                              : ceil_seconds(d.reset));
    set_int(out.add("X-RateLimit-Used"), d.limit - d.remaining);
    out.add("X-RateLimit-Scope") = name;
  }

  switch (cfg.standard) {
    case config::standard_headers::draft6:
      set_int(out.add("RateLimit-Limit"), d.limit);
      set_int(out.add("RateLimit-Remaining"), d.remaining);
      set_int(out.add("RateLimit-Reset"), ceil_seconds(d.reset));
      append_policy(ev, false, out.add("RateLimit-Policy"));
      break;
    case config::standard_headers::draft7: {
      std::string& v = out.add("RateLimit");
      v = "limit=";
      append_int(v, d.limit);
      v += ", remaining=";
      append_int(v, d.remaining);
      v += ", reset=";
      append_int(v, ceil_seconds(d.reset));
      append_policy(ev, false, out.add("RateLimit-Policy"));
      break;
    }
    case config::standard_headers::draft10: {
      append_policy(ev, true, out.add("RateLimit-Policy"));
      std::string& v = out.add("RateLimit");
      for (const auto& a : ev.applied) {
        if (a.shadow) continue;
        if (!v.empty()) v += ", ";
        append_json_string(v, ev.limit_of(a).name);
        v += ";r=";
        append_int(v, a.result.remaining);
        v += ";t=";
        append_int(v, ceil_seconds(a.result.reset));
      }
      break;
    }
    case config::standard_headers::off:
      break;
  }

  if (ev.result == outcome::limited && cfg.retry_after) {
    set_int(out.add("Retry-After"), retry_after_seconds(ev));
  }
}

std::string rejection_body(const evaluation& ev) {
  const applied_limit* top = ev.denying >= 0 ? &ev.applied[ev.denying] : nullptr;
  const std::string_view name = top != nullptr ? std::string_view(ev.limit_of(*top).name) : "";
  const std::int64_t wait = retry_after_seconds(ev);

  // One buffer, written front to back: the message's fixed parts need no JSON escaping,
  // so only the limit name is escaped where it appears.
  std::string body;
  body.reserve(192 + 2 * name.size());
  body = R"({"error":{"code":"rate_limit_exceeded","message":")";
  if (top != nullptr && top->result.cost_exceeds_limit) {
    body += "Request cost ";
    append_int(body, ev.checks[ev.denying].cost);
    body += " exceeds the capacity of limit '";
    append_json_chars(body, name);
    body += "' (";
    append_int(body, top->result.limit);
    body += "); it can never pass.";
  } else {
    body += "Rate limit exceeded for '";
    append_json_chars(body, name);
    body += "'. Retry after ";
    append_int(body, wait);
    body += wait == 1 ? " second." : " seconds.";
  }
  body += R"(","limit":)";
  append_json_string(body, name);
  body += R"(,"retry_after":)";
  append_int(body, wait);
  body += R"(,"reset":)";
  append_int(body, top != nullptr ? reset_epoch_seconds(ev, top->result) : ceil_seconds(ev.now));
  body += "}}";
  return body;
}

}  // namespace sluice::limit
