#include "limit/rate_limit_headers.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

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

// The proxy's evaluation and the rate limit service's answer, as the header formats read
// them: the limit the headers describe (`reported`), every enforced limit that applied,
// whether the request is limited and how long to wait.
struct limit_view {
  std::string_view name;
  std::int64_t limit = 0;  // the reported decision's limit (the policy's quota for others)
  std::int64_t remaining = 0;
  micros reset = 0;  // until fully replenished
  std::int64_t window_seconds = 0;
};

struct proxy_answer {
  const evaluation& ev;
  bool has_reported() const { return ev.reported >= 0; }
  limit_view reported() const {
    const applied_limit& top = ev.applied[ev.reported];
    return {ev.limit_of(top).name, top.result.limit, top.result.remaining, top.result.reset, 0};
  }
  micros now() const { return ev.now; }
  template <class F>
  void for_each_enforced(F&& f) const {
    for (const auto& a : ev.applied) {
      if (a.shadow) continue;
      f(limit_view{ev.limit_of(a).name, a.params->capacity(), a.result.remaining, a.result.reset,
                   a.params->policy_window_seconds()});
    }
  }
  bool limited() const { return ev.result == outcome::limited; }
  std::int64_t retry_after() const { return retry_after_seconds(ev); }
};

struct rls_answer {
  const rls_evaluation& ev;
  micros clock;
  bool has_reported() const { return ev.reported >= 0; }
  limit_view reported() const { return view_of(static_cast<std::size_t>(ev.reported)); }
  micros now() const { return clock; }
  template <class F>
  void for_each_enforced(F&& f) const {
    for (std::size_t i = 0; i < ev.statuses.size(); ++i) {
      if (!ev.statuses[i].current_limit || ev.checks[ev.plan[i].check].shadow) continue;
      f(view_of(i));
    }
  }
  bool limited() const { return ev.overall == rls_code::over_limit; }
  // The longest wait of the descriptors over their limit: a window's end, or when a
  // bucket (the `sluice:` extension) has room again, which comes before it is full.
  std::int64_t retry_after() const {
    micros wait = 0;
    for (std::size_t i = 0; i < ev.statuses.size(); ++i) {
      if (ev.statuses[i].code != rls_code::over_limit) continue;
      wait = std::max(wait, ev.decisions[ev.plan[i].check].retry_after);
    }
    return ceil_seconds_min1(wait);
  }
  limit_view view_of(std::size_t i) const {
    const auto& s = ev.statuses[i];
    const auto& params = *ev.checks[ev.plan[i].check].params;
    return {rls_scope(ev, i), params.capacity(), s.limit_remaining, s.duration_until_reset,
            params.policy_window_seconds()};
  }
};

// RateLimit-Policy: every enforced limit that applied, in order.
template <class Answer>
void append_policy(const Answer& answer, bool named, std::string& out) {
  out.clear();
  answer.for_each_enforced([&](const limit_view& l) {
    if (!out.empty()) out += ", ";
    if (named) {
      append_json_string(out, l.name);  // an sf-string: same escaping
      out += ";q=";
    }
    append_int(out, l.limit);
    out += ";w=";
    append_int(out, l.window_seconds);
  });
}

template <class Answer>
void append_headers(const Answer& answer, const config::headers_config& cfg, header_list& out) {
  if (!answer.has_reported()) return;
  const limit_view d = answer.reported();

  if (cfg.legacy) {
    set_int(out.add("X-RateLimit-Limit"), d.limit);
    set_int(out.add("X-RateLimit-Remaining"), d.remaining);
    set_int(out.add("X-RateLimit-Reset"), cfg.legacy_reset == config::legacy_reset_format::epoch
                                              ? ceil_seconds(answer.now() + d.reset)
                                              : ceil_seconds(d.reset));
    set_int(out.add("X-RateLimit-Used"), d.limit - d.remaining);
    out.add("X-RateLimit-Scope") = d.name;
  }

  switch (cfg.standard) {
    case config::standard_headers::draft6:
      set_int(out.add("RateLimit-Limit"), d.limit);
      set_int(out.add("RateLimit-Remaining"), d.remaining);
      set_int(out.add("RateLimit-Reset"), ceil_seconds(d.reset));
      append_policy(answer, false, out.add("RateLimit-Policy"));
      break;
    case config::standard_headers::draft7: {
      std::string& v = out.add("RateLimit");
      v = "limit=";
      append_int(v, d.limit);
      v += ", remaining=";
      append_int(v, d.remaining);
      v += ", reset=";
      append_int(v, ceil_seconds(d.reset));
      append_policy(answer, false, out.add("RateLimit-Policy"));
      break;
    }
    case config::standard_headers::draft10: {
      append_policy(answer, true, out.add("RateLimit-Policy"));
      std::string& v = out.add("RateLimit");
      answer.for_each_enforced([&](const limit_view& l) {
        if (!v.empty()) v += ", ";
        append_json_string(v, l.name);
        v += ";r=";
        append_int(v, l.remaining);
        v += ";t=";
        append_int(v, ceil_seconds(l.reset));
      });
      break;
    }
    case config::standard_headers::off:
      break;
  }

  if (answer.limited() && cfg.retry_after) set_int(out.add("Retry-After"), answer.retry_after());
}

// The 429 JSON body: `name` the limit that denied ("" for none), `reset` in epoch seconds.
// One buffer, written front to back: the message's fixed parts need no JSON escaping,
// so only the limit name is escaped where it appears.
std::string rejection_json(std::string_view name, std::int64_t wait, std::int64_t reset,
                           std::optional<std::pair<std::int64_t, std::int64_t>> cost_over_limit,
                           std::optional<std::int64_t> in_flight_max = std::nullopt) {
  std::string body;
  body.reserve(192 + 2 * name.size());
  body = R"({"error":{"code":"rate_limit_exceeded","message":")";
  if (cost_over_limit) {
    body += "Request cost ";
    append_int(body, cost_over_limit->first);
    body += " exceeds the capacity of limit '";
    append_json_chars(body, name);
    body += "' (";
    append_int(body, cost_over_limit->second);
    body += "); it can never pass.";
  } else if (in_flight_max) {
    body += "Too many requests in flight for '";
    append_json_chars(body, name);
    body += "' (at most ";
    append_int(body, *in_flight_max);
    body += " at once). Retry after ";
    append_int(body, wait);
    body += wait == 1 ? " second." : " seconds.";
  } else {
    body += "Rate limit exceeded for '";
    append_json_chars(body, name);
    body += "'. Retry after ";
    append_int(body, wait);
    body += wait == 1 ? " second" : " seconds";
    // A quota per calendar week or month may keep a client out for days: say so in
    // words a person reading the message does not have to work out.
    constexpr std::int64_t day = 86400;
    if (wait >= day) {
      const std::int64_t days = (wait + day / 2) / day;
      body += " (about ";
      append_int(body, days);
      body +=
          days == 1 ? " day, when the quota period ends)" : " days, when the quota period ends)";
    }
    body += '.';
  }
  body += R"(","limit":)";
  append_json_string(body, name);
  body += R"(,"retry_after":)";
  append_int(body, wait);
  body += R"(,"reset":)";
  append_int(body, reset);
  body += "}}";
  return body;
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
  append_headers(proxy_answer{ev}, cfg, out);
  // Denied by a quota per calendar period: retrying before Retry-After is pointless, and
  // the SDKs generated by Stainless (OpenAI's, Anthropic's) read this header and stop
  // retrying, where they would otherwise ignore a Retry-After above a minute and back off.
  if (ev.result == outcome::limited && cfg.retry_after && ev.denying >= 0 &&
      ev.applied[ev.denying].params->calendar != calendar_unit::none) {
    out.add("X-Should-Retry") = "false";
  }
}

std::string rejection_body(const evaluation& ev) {
  const applied_limit* top = ev.denying >= 0 ? &ev.applied[ev.denying] : nullptr;
  const std::string_view name = top != nullptr ? std::string_view(ev.limit_of(*top).name) : "";
  std::optional<std::pair<std::int64_t, std::int64_t>> over;
  std::optional<std::int64_t> in_flight_max;
  if (top != nullptr && top->result.cost_exceeds_limit) {
    over.emplace(ev.checks[ev.denying].cost, top->result.limit);
  } else if (top != nullptr && holds_in_flight(top->params->algo)) {
    in_flight_max = top->result.limit;
  }
  return rejection_json(
      name, retry_after_seconds(ev),
      top != nullptr ? ceil_seconds(ev.now + top->result.reset) : ceil_seconds(ev.now), over,
      in_flight_max);
}

std::string_view rls_scope(const rls_evaluation& ev, std::size_t i) {
  const auto& limit = ev.statuses[i].current_limit;
  if (limit && !limit->name.empty()) return limit->name;
  if (ev.found[i] != nullptr) return ev.found[i]->full_key;
  return {};
}

void append_rls_headers(const rls_evaluation& ev, micros now, const config::headers_config& cfg,
                        header_list& out) {
  append_headers(rls_answer{ev, now}, cfg, out);
}

std::string rls_rejection_body(const rls_evaluation& ev, micros now) {
  const rls_answer answer{ev, now};
  if (ev.reported < 0) return rejection_json("", 1, ceil_seconds(now), std::nullopt);
  const limit_view top = answer.reported();
  const auto& plan = ev.plan[static_cast<std::size_t>(ev.reported)];
  std::optional<std::pair<std::int64_t, std::int64_t>> over;
  if (ev.decisions[plan.check].cost_exceeds_limit) over.emplace(plan.hits, top.limit);
  return rejection_json(top.name, answer.retry_after(), ceil_seconds(now + top.reset), over);
}

}  // namespace sluice::limit
