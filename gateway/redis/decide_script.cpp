#include "redis/decide_script.hpp"

#include <stdexcept>
#include <string_view>

#include "redis/lua_sources.hpp"

namespace sluice::redis {
namespace {

// Each file defines one local table the later ones use: the order matters.
constexpr std::string_view script_files[] = {
    "decision.lua",       "bucket.lua",      "fixed_window.lua",
    "sliding_window.lua", "sliding_log.lua", "decide.lua",
};

std::string assemble() {
  std::string script;
  for (std::string_view name : script_files) {
    const std::string_view source = lua_source(name);
    // A missing file is a build mistake (cmake/embed_lua.cmake); fail at startup.
    if (source.empty()) throw std::logic_error("decide script: no embedded " + std::string(name));
    script.append("-- ---- ").append(name).append(" ----\n");
    script.append(source);
    if (script.back() != '\n') script.push_back('\n');
  }
  return script;
}

bool is_flag(std::int64_t v) {
  return v == 0 || v == 1;
}

}  // namespace

const std::string& decide_script() {
  static const std::string script = assemble();
  return script;
}

void append_decide_args(std::span<const script_limit> limits, bool peek,
                        std::vector<std::string>& out) {
  out.push_back(std::to_string(limits.size()));
  for (const script_limit& l : limits) out.push_back(l.key);
  out.emplace_back(peek ? "1" : "0");
  for (const script_limit& l : limits) {
    const limit::limit_params& p = *l.params;
    out.push_back(std::to_string(static_cast<int>(p.algo)));
    out.push_back(std::to_string(p.count));
    out.push_back(std::to_string(p.period));
    out.push_back(std::to_string(p.burst));
    out.push_back(std::to_string(p.max_delay));
    out.push_back(std::to_string(p.interval_num));
    out.push_back(std::to_string(p.interval_den));
    out.push_back(std::to_string(peek ? 0 : l.cost));
    out.emplace_back(l.shadow ? "1" : "0");
  }
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
