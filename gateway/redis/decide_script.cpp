#include "redis/decide_script.hpp"

#include <boost/uuid/detail/sha1.hpp>

#include <charconv>
#include <cstdio>
#include <stdexcept>

#include "redis/lua_sources.hpp"

namespace sluice::redis {
namespace {

// Each file defines locals the later ones use: the order matters.
constexpr std::string_view code_files[] = {
    "decision.lua",    "bucket.lua",      "fixed_window.lua", "sliding_window.lua",
    "sliding_log.lua", "concurrency.lua", "decide.lua",
};

// Where the library's name goes in register.lua (and the shebang line).
constexpr std::string_view name_placeholder = "@LIBRARY@";

void append_file(std::string& out, std::string_view name) {
  const std::string_view source = lua_source(name);
  // A missing file is a build mistake (cmake/embed_files.cmake); fail at startup.
  if (source.empty()) throw std::logic_error("decide code: no embedded " + std::string(name));
  out.append("-- ---- ").append(name).append(" ----\n");
  out.append(source);
  if (out.back() != '\n') out.push_back('\n');
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

decision_code assemble() {
  std::string body;
  for (std::string_view name : code_files) append_file(body, name);

  decision_code code;
  std::string library = "#!lua name=" + std::string(name_placeholder) + "\n" + body;
  append_file(library, "register.lua");
  code.library_name = "sluice_" + sha1_hex(library).substr(0, 8);
  code.library = replace_all(std::move(library), name_placeholder, code.library_name);
  code.decide_function = code.library_name + "_decide";
  code.peek_function = code.library_name + "_peek";
  code.refund_function = code.library_name + "_refund";

  code.decide_script = body + "return decide(KEYS, ARGV, false)\n";
  code.peek_script = body + "return decide(KEYS, ARGV, true)\n";
  code.refund_script = body + "return refund(KEYS, ARGV)\n";
  code.decide_sha = sha1_hex(code.decide_script);
  code.peek_sha = sha1_hex(code.peek_script);
  code.refund_sha = sha1_hex(code.refund_script);
  return code;
}

bool is_flag(std::int64_t v) {
  return v == 0 || v == 1;
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

// A limit's cost argument: the cost, or for a concurrency limit "<cost> <lease id>".
std::string cost_arg(const script_limit& l, bool peek) {
  std::string text = std::to_string(peek ? 0 : l.cost);
  if (!peek && limit::holds_in_flight(l.params->algo)) text.append(" ").append(l.hold);
  return text;
}

}  // namespace

std::string sha1_hex(std::string_view text) {
  boost::uuids::detail::sha1 sha;
  sha.process_bytes(text.data(), text.size());
  boost::uuids::detail::sha1::digest_type digest;
  sha.get_digest(digest);
  char hex[41];
  for (int i = 0; i < 5; ++i) std::snprintf(hex + 8 * i, 9, "%08x", digest[i]);
  return std::string(hex, 40);
}

const decision_code& decide_code() {
  static const decision_code code = assemble();
  return code;
}

decide_head decide_head_of(decide_via via, bool peek) {
  const decision_code& code = decide_code();
  if (via == decide_via::function) {
    return peek ? decide_head{"FCALL_RO", code.peek_function}
                : decide_head{"FCALL", code.decide_function};
  }
  return decide_head{"EVALSHA", peek ? code.peek_sha : code.decide_sha};
}

decide_head refund_head_of(decide_via via) {
  const decision_code& code = decide_code();
  if (via == decide_via::function) return decide_head{"FCALL", code.refund_function};
  return decide_head{"EVALSHA", code.refund_sha};
}

std::string_view script_of(std::string_view sha) {
  const decision_code& code = decide_code();
  if (sha == code.decide_sha) return code.decide_script;
  if (sha == code.peek_sha) return code.peek_script;
  if (sha == code.refund_sha) return code.refund_script;
  return {};
}

std::string limit_spec(const limit::limit_params& p, bool shadow) {
  std::string spec;
  spec.reserve(64);
  append_int(spec, static_cast<int>(p.algo));
  for (std::int64_t v : {p.count, p.period, p.burst, p.max_delay, p.interval_num, p.interval_den}) {
    spec.push_back(' ');
    append_int(spec, v);
  }
  spec.append(shadow ? " 1 " : " 0 ");
  append_int(spec, p.origin);
  return spec;
}

void append_decide_args(std::span<const script_limit> limits, bool peek,
                        std::vector<std::string>& out) {
  out.push_back(std::to_string(limits.size()));
  for (const script_limit& l : limits) out.push_back(l.key);
  for (const script_limit& l : limits) {
    out.push_back(limit_spec(*l.params, l.shadow));
    out.push_back(cost_arg(l, peek));
  }
}

std::size_t append_refund_args(std::span<const script_limit> limits,
                               std::span<const limit::decision> decisions, limit::micros charged_at,
                               std::vector<std::string>& out) {
  // A refund settles each charge to 0.
  std::vector<settle_limit> charged;
  for (std::size_t i = 0; i < limits.size(); ++i) {
    const script_limit& l = limits[i];
    if (i < decisions.size() && decisions[i].allowed && l.cost > 0) {
      charged.push_back({l.key, l.params, l.cost, 0, l.shadow, l.hold});
    }
  }
  return append_settle_args(charged, charged_at, out);
}

std::size_t append_settle_args(std::span<const settle_limit> limits, limit::micros charged_at,
                               std::vector<std::string>& out) {
  const auto included = [](const settle_limit& l) {
    return l.reserved != l.actual || limit::holds_in_flight(l.params->algo);
  };
  std::size_t n = 0;
  for (const settle_limit& l : limits) n += included(l) ? 1 : 0;
  if (n == 0) return 0;
  out.push_back(std::to_string(n));
  for (const settle_limit& l : limits) {
    if (included(l)) out.push_back(l.key);
  }
  for (const settle_limit& l : limits) {
    if (!included(l)) continue;
    out.push_back(limit_spec(*l.params, l.shadow));
    // "<reserved> <lease id>", "<reserved> <actual>", or for a refund (actual 0) "<reserved>".
    std::string cost;
    append_int(cost, l.reserved);
    if (limit::holds_in_flight(l.params->algo)) {
      cost.append(" ").append(l.hold);
    } else if (l.actual != 0) {
      cost.push_back(' ');
      append_int(cost, l.actual);
    }
    out.push_back(std::move(cost));
  }
  out.push_back(std::to_string(charged_at));
  return n;
}

void append_topup_args(std::span<const std::int64_t> topups, std::optional<limit::micros> now,
                       std::vector<std::string>& out) {
  out.push_back(now ? std::to_string(*now) : std::string());
  std::string text;
  for (std::int64_t t : topups) {
    if (!text.empty()) text.push_back(' ');
    append_int(text, t < 0 ? 0 : t);
  }
  out.push_back(std::move(text));
}

std::optional<bool> parse_decide_reply_with_grants(std::span<const std::int64_t> values,
                                                   std::span<limit::decision> out,
                                                   std::span<std::int64_t> grants) {
  const std::size_t n = out.size();
  if (grants.size() != n || values.size() != decide_reply_header + decide_reply_fields * n + n) {
    return std::nullopt;
  }
  auto admitted = parse_decide_reply(values.first(values.size() - n), out);
  if (!admitted) return std::nullopt;
  const std::int64_t* g = values.data() + (values.size() - n);
  for (std::size_t i = 0; i < n; ++i) {
    if (g[i] < 0 || (g[i] > 0 && (!*admitted || !out[i].allowed))) return std::nullopt;
    grants[i] = g[i];
  }
  return admitted;
}

std::optional<bool> parse_decide_reply(std::span<const std::int64_t> values,
                                       std::span<limit::decision> out) {
  if (values.size() != decide_reply_header + decide_reply_fields * out.size()) return std::nullopt;
  if (!is_flag(values[0])) return std::nullopt;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::int64_t* v = values.data() + decide_reply_header + decide_reply_fields * i;
    if (!is_flag(v[0]) || !is_flag(v[1])) return std::nullopt;
    out[i] = limit::decision{
        .allowed = v[0] == 1,
        .cost_exceeds_limit = v[1] == 1,
        .limit = v[2],
        .remaining = v[3],
        .reset = v[4],
        .retry_after = v[5],
        .delay = v[6],
    };
  }
  return values[0] == 1;
}

}  // namespace sluice::redis
