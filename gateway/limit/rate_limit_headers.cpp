#include "limit/rate_limit_headers.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "util/json_text.hpp"

namespace sluice::limit {
namespace {

// The proxy's evaluation and the rate limit service's answer, as the header formats read
// them: the limit the headers describe (`reported`), every enforced limit that applied,
// whether the request is limited and how long to wait.
struct limit_view {
  std::string_view name = {};
  std::string_view name_json = {};  // escaped for a JSON string's inside; empty: escape `name`
  std::int64_t limit = 0;           // the reported decision's limit (the policy's quota for others)
  std::int64_t remaining = 0;
  micros reset = 0;  // until fully replenished
  std::int64_t window_seconds = 0;
};

struct proxy_answer {
  const evaluation& ev;
  bool has_reported() const { return ev.reported >= 0; }
  limit_view reported() const {
    const applied_limit& top = ev.applied[ev.reported];
    const compiled_limit& l = ev.limit_of(top);
    return {l.name, l.name_json, top.result.limit, top.result.remaining, top.result.reset, 0};
  }
  micros now() const { return ev.now; }
  template <class F>
  void for_each_enforced(F&& f) const {
    for (const auto& a : ev.applied) {
      if (a.shadow) continue;
      const compiled_limit& l = ev.limit_of(a);
      f(limit_view{l.name, l.name_json, a.params->capacity(), a.result.remaining, a.result.reset,
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
    return {.name = rls_scope(ev, i),
            .limit = params.capacity(),
            .remaining = s.limit_remaining,
            .reset = s.duration_until_reset,
            .window_seconds = params.policy_window_seconds()};
  }
};

// A limit's name escaped for the inside of a JSON string: escaped when the policy was
// loaded (a proxy limit's), else here (a rate limit service descriptor's).
void append_name_chars(text_buffer& out, const limit_view& l) {
  if (l.name_json.empty()) {
    append_json_chars(out, l.name);
  } else {
    out.append(l.name_json);
  }
}

// A limit's name as an sf-string (RFC 8941 3.3.3): JSON's escaping serves.
void append_quoted_name(text_buffer& out, const limit_view& l) {
  out.push_back('"');
  append_name_chars(out, l);
  out.push_back('"');
}

// RateLimit-Policy: every enforced limit that applied, in order.
template <class Answer>
void append_policy(const Answer& answer, bool named, header_list& out) {
  text_buffer& v = out.begin_value("RateLimit-Policy");
  bool first = true;
  answer.for_each_enforced([&](const limit_view& l) {
    if (!first) v.append(", ");
    first = false;
    if (named) {
      append_quoted_name(v, l);
      v.append(";q=");
    }
    v.append_decimal(l.limit);
    v.append(";w=");
    v.append_decimal(l.window_seconds);
  });
  out.end_value();
}

template <class Answer>
void append_headers(const Answer& answer, const config::headers_config& cfg, header_list& out) {
  if (!answer.has_reported()) return;
  const limit_view d = answer.reported();

  if (cfg.legacy) {
    out.add_decimal("X-RateLimit-Limit", d.limit);
    out.add_decimal("X-RateLimit-Remaining", d.remaining);
    out.add_decimal("X-RateLimit-Reset", cfg.legacy_reset == config::legacy_reset_format::epoch
                                             ? ceil_seconds(answer.now() + d.reset)
                                             : ceil_seconds(d.reset));
    out.add_decimal("X-RateLimit-Used", d.limit - d.remaining);
    out.add("X-RateLimit-Scope", d.name);
  }

  switch (cfg.standard) {
    case config::standard_headers::draft6:
      out.add_decimal("RateLimit-Limit", d.limit);
      out.add_decimal("RateLimit-Remaining", d.remaining);
      out.add_decimal("RateLimit-Reset", ceil_seconds(d.reset));
      append_policy(answer, false, out);
      break;
    case config::standard_headers::draft7: {
      text_buffer& v = out.begin_value("RateLimit");
      v.append("limit=");
      v.append_decimal(d.limit);
      v.append(", remaining=");
      v.append_decimal(d.remaining);
      v.append(", reset=");
      v.append_decimal(ceil_seconds(d.reset));
      out.end_value();
      append_policy(answer, false, out);
      break;
    }
    case config::standard_headers::draft10: {
      append_policy(answer, true, out);
      text_buffer& v = out.begin_value("RateLimit");
      bool first = true;
      answer.for_each_enforced([&](const limit_view& l) {
        if (!first) v.append(", ");
        first = false;
        append_quoted_name(v, l);
        v.append(";r=");
        v.append_decimal(l.remaining);
        v.append(";t=");
        v.append_decimal(ceil_seconds(l.reset));
      });
      out.end_value();
      break;
    }
    case config::standard_headers::off:
      break;
  }

  if (answer.limited() && cfg.retry_after) out.add_decimal("Retry-After", answer.retry_after());
}

// The 429 JSON body: the limit that denied (`l`, nullptr for none), `reset` in epoch
// seconds. Written front to back: the message's fixed parts need no JSON escaping, and
// a proxy limit's name was escaped when the policy was loaded.
void append_rejection_json(text_buffer& body, const limit_view* l, std::int64_t wait,
                           std::int64_t reset,
                           std::optional<std::pair<std::int64_t, std::int64_t>> cost_over_limit,
                           std::optional<std::int64_t> in_flight_max = std::nullopt) {
  const auto append_name = [&] {
    if (l != nullptr) append_name_chars(body, *l);
  };
  body.append(R"({"error":{"code":"rate_limit_exceeded","message":")");
  if (cost_over_limit) {
    body.append("Request cost ");
    body.append_decimal(cost_over_limit->first);
    body.append(" exceeds the capacity of limit '");
    append_name();
    body.append("' (");
    body.append_decimal(cost_over_limit->second);
    body.append("); it can never pass.");
  } else if (in_flight_max) {
    body.append("Too many requests in flight for '");
    append_name();
    body.append("' (at most ");
    body.append_decimal(*in_flight_max);
    body.append(" at once). Retry after ");
    body.append_decimal(wait);
    body.append(wait == 1 ? " second." : " seconds.");
  } else {
    body.append("Rate limit exceeded for '");
    append_name();
    body.append("'. Retry after ");
    body.append_decimal(wait);
    body.append(wait == 1 ? " second" : " seconds");
    // A quota per calendar week or month may keep a client out for days: say so in
    // words a person reading the message does not have to work out.
    constexpr std::int64_t day = 86400;
    if (wait >= day) {
      const std::int64_t days = (wait + day / 2) / day;
      body.append(" (about ");
      body.append_decimal(days);
      body.append(days == 1 ? " day, when the quota period ends)"
                            : " days, when the quota period ends)");
    }
    body.push_back('.');
  }
  body.append(R"(","limit":")");
  append_name();
  body.append(R"(","retry_after":)");
  body.append_decimal(wait);
  body.append(R"(,"reset":)");
  body.append_decimal(reset);
  body.append("}}");
}

}  // namespace

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
    out.add("X-Should-Retry", "false");
  }
}

void append_rejection_body(const evaluation& ev, text_buffer& out) {
  const applied_limit* top = ev.denying >= 0 ? &ev.applied[ev.denying] : nullptr;
  std::optional<limit_view> denied;
  std::optional<std::pair<std::int64_t, std::int64_t>> over;
  std::optional<std::int64_t> in_flight_max;
  if (top != nullptr) {
    const compiled_limit& l = ev.limit_of(*top);
    denied = limit_view{l.name, l.name_json, top->result.limit, 0, 0, 0};
    if (top->result.cost_exceeds_limit) {
      over.emplace(ev.checks[ev.denying].cost, top->result.limit);
    } else if (holds_in_flight(top->params->algo)) {
      in_flight_max = top->result.limit;
    }
  }
  append_rejection_json(
      out, denied ? &*denied : nullptr, retry_after_seconds(ev),
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
  text_buffer body;
  if (ev.reported < 0) {
    append_rejection_json(body, nullptr, 1, ceil_seconds(now), std::nullopt);
  } else {
    const limit_view top = answer.reported();
    const auto& plan = ev.plan[static_cast<std::size_t>(ev.reported)];
    std::optional<std::pair<std::int64_t, std::int64_t>> over;
    if (ev.decisions[plan.check].cost_exceeds_limit) over.emplace(plan.hits, top.limit);
    append_rejection_json(body, &top, answer.retry_after(), ceil_seconds(now + top.reset), over);
  }
  return std::string(body.view());
}

}  // namespace sluice::limit
