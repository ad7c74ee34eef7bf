// envoyproxy/ratelimit's YAML (src/config/config_impl.go is the reference for what is
// valid and what it means), read with Sluice's position-aware readers. Stricter where
// the reference is loose in ways that hide mistakes: keys are checked per level (the
// reference accepts any of its keys anywhere), a non-string key, a wrong type or a
// nesting deeper than max_rls_depth is an error.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <unordered_map>

#include "config/loader_internal.hpp"
#include "config/rls_loader.hpp"

namespace sluice::config {

const char* rls_unit_name(rls_unit unit) {
  switch (unit) {
    case rls_unit::second:
      return "second";
    case rls_unit::minute:
      return "minute";
    case rls_unit::hour:
      return "hour";
    case rls_unit::day:
      return "day";
    case rls_unit::week:
      return "week";
    case rls_unit::month:
      return "month";
    case rls_unit::year:
      return "year";
  }
  return "second";
}

std::int64_t rls_unit_seconds(rls_unit unit) {
  constexpr std::int64_t day = 86'400;
  switch (unit) {
    case rls_unit::second:
      return 1;
    case rls_unit::minute:
      return 60;
    case rls_unit::hour:
      return 3'600;
    case rls_unit::day:
      return day;
    case rls_unit::week:
      return 7 * day;
    case rls_unit::month:
      return 30 * day;
    case rls_unit::year:
      return 365 * day;
  }
  return 1;
}

namespace {

namespace fs = std::filesystem;
using detail::error_sink;
using detail::map_reader;

// Descriptor levels below a domain. Envoy's descriptors are a few levels deep; the bound
// keeps a hostile file from recursing the reader off its stack.
constexpr int max_rls_depth = 16;

constexpr rls_unit all_units[] = {rls_unit::second, rls_unit::minute, rls_unit::hour, rls_unit::day,
                                  rls_unit::week,   rls_unit::month,  rls_unit::year};

// Units are matched case-insensitively, as the reference upper-cases them.
std::optional<rls_unit> unit_named(std::string text) {
  text = detail::lower_ascii(std::move(text));
  for (rls_unit u : all_units) {
    if (text == rls_unit_name(u)) return u;
  }
  return std::nullopt;
}

// `sluice: {algorithm, burst, calendar}`: read after unit and requests_per_unit, which it
// checks against (the same rules as a policy's limit of N per unit).
void read_extension(const yaml_node& node, const std::string& path, error_sink& sink,
                    rls_rate_limit& out) {
  map_reader m(node, path, sink, {"algorithm", "burst", "calendar"});
  if (!m.ok()) return;
  if (const auto* n = m.get("algorithm")) {
    auto algo =
        detail::read_enum(*n, m.path("algorithm"), sink, detail::algorithm_names, "algorithm");
    if (!algo) return;
    out.algorithm = *algo;
  }
  if (const auto* n = m.get("burst")) {
    if (!limit::is_bucket(out.algorithm)) {
      sink.add(*n, m.path("burst"),
               "burst applies only to token_bucket and leaky_bucket (this limit is " +
                   std::string(limit::to_string(out.algorithm)) + ")");
      return;
    }
    auto v = detail::read_int(*n, m.path("burst"), sink, 1, limit::max_exact_integer);
    if (!v) return;
    out.burst = *v;
  }
  if (const auto* n = m.get("calendar")) {
    auto calendar = detail::read_calendar_def(*n, m.path("calendar"), sink, nullptr);
    if (!calendar) return;
    const bool calendar_unit =
        out.unit == rls_unit::day || out.unit == rls_unit::week || out.unit == rls_unit::month;
    if (out.algorithm != limit::algorithm::fixed_window || !calendar_unit) {
      sink.add(*n, m.path("calendar"),
               "calendar counts a quota per calendar day, week or month: it needs unit day, "
               "week or month and the fixed window (this limit is " +
                   std::string(rls_unit_name(out.unit)) + ", " +
                   std::string(limit::to_string(out.algorithm)) + ")");
      return;
    }
    if (calendar->anchor_set &&
        (out.unit == rls_unit::day || (out.unit == rls_unit::week && calendar->anchor_day > 7))) {
      sink.add(*n, m.path("calendar.anchor_day"),
               out.unit == rls_unit::day
                   ? "anchor_day applies to week and month units (a day starts at local midnight)"
                   : "for unit week, anchor_day is the weekday a week starts: 1 (Monday) to 7 "
                     "(Sunday)");
      return;
    }
    out.calendar = *calendar;
  }
  if (out.algorithm == limit::algorithm::fixed_window) return;
  if (out.requests_per_unit == 0) {
    sink.add(node, path,
             std::string(limit::to_string(out.algorithm)) +
                 " needs requests_per_unit >= 1 (only the reference's fixed window takes 0: "
                 "deny every hit)");
    return;
  }
  const rate r{out.requests_per_unit, rls_unit_seconds(out.unit) * limit::micros_per_second};
  if (auto problem = detail::numbers_problem(out.algorithm, r, out.burst, 0); !problem.empty()) {
    sink.add(node, path, problem);
  }
}

std::optional<rls_rate_limit> read_rate_limit(const yaml_node& node, const std::string& path,
                                              error_sink& sink) {
  const std::size_t errors_before = sink.count();
  map_reader m(node, path, sink,
               {"unit", "requests_per_unit", "unlimited", "name", "replaces", "sluice"});
  if (!m.ok()) return std::nullopt;
  rls_rate_limit out;
  if (const auto* n = m.get("unlimited")) {
    if (auto v = detail::read_bool(*n, m.path("unlimited"), sink)) out.unlimited = *v;
  }
  if (const auto* n = m.get("requests_per_unit")) {
    if (auto v = detail::read_int(*n, m.path("requests_per_unit"), sink, 0, UINT32_MAX)) {
      out.requests_per_unit = static_cast<std::uint32_t>(*v);
    }
  }
  const yaml_node* unit = m.get("unit");
  if (out.unlimited && unit != nullptr) {
    sink.add(*unit, m.path("unit"), "should not specify rate limit unit when unlimited");
  } else if (!out.unlimited && unit == nullptr) {
    sink.add(node, path,
             "a rate limit needs a unit (second, minute, hour, day, week, month or year) "
             "unless it is unlimited");
  } else if (unit != nullptr) {
    if (auto text = detail::read_string(*unit, m.path("unit"), sink)) {
      if (auto u = unit_named(*text)) {
        out.unit = *u;
      } else {
        sink.add(*unit, m.path("unit"),
                 "invalid rate limit unit '" + *text +
                     "' (expected second, minute, hour, day, week, month or year)");
      }
    }
  }
  if (const auto* n = m.get("name")) {
    if (auto v = detail::read_string(*n, m.path("name"), sink)) out.name = *v;
  }
  if (const auto* n = m.get("replaces")) {
    if (auto items = detail::read_list(*n, m.path("replaces"), sink, false)) {
      for (const auto& item : *items) {
        map_reader r(*item.node, item.path, sink, {"name"});
        if (!r.ok()) continue;
        const yaml_node* name = r.get("name");
        std::optional<std::string> text;
        if (name != nullptr) text = detail::read_string(*name, r.path("name"), sink);
        if (name != nullptr && !text) continue;
        if (!text || text->empty()) {
          sink.add(name != nullptr ? *name : *item.node, r.path("name"),
                   "should not have an empty replaces entry");
        } else if (*text == out.name) {
          sink.add(*name, r.path("name"), "replaces should not contain name of same descriptor");
        } else {
          out.replaces.push_back(*text);
        }
      }
    }
  }
  if (const auto* n = m.get("sluice")) {
    if (out.unlimited) {
      sink.add(*n, m.path("sluice"), "an unlimited rate limit takes no algorithm or burst");
    } else {
      read_extension(*n, m.path("sluice"), sink, out);
    }
  }
  if (sink.count() != errors_before) return std::nullopt;
  return out;
}

void read_descriptors(const yaml_node& node, const std::string& path, const std::string& parent_key,
                      int depth, error_sink& sink, std::vector<rls_descriptor>& out) {
  if (depth > max_rls_depth) {
    sink.add(node, path,
             "descriptors nested deeper than " + std::to_string(max_rls_depth) + " levels");
    return;
  }
  auto items = detail::read_list(node, path, sink, false);
  if (!items) return;
  std::unordered_map<std::string, std::size_t> composites;  // key[_value] -> index in out
  for (const auto& item : *items) {
    map_reader m(*item.node, item.path, sink,
                 {"key", "value", "rate_limit", "descriptors", "shadow_mode", "detailed_metric"});
    if (!m.ok()) continue;
    rls_descriptor d;
    const yaml_node* key = m.get("key");
    std::optional<std::string> key_text;
    if (key != nullptr) key_text = detail::read_string(*key, m.path("key"), sink);
    if (key != nullptr && !key_text) continue;
    if (!key_text || key_text->empty()) {
      sink.add(key != nullptr ? *key : *item.node, m.path("key"), "descriptor has empty key");
      continue;
    }
    d.key = *key_text;
    d.where = sink.where(*key);
    if (const auto* n = m.get("value")) {
      if (auto v = detail::read_string(*n, m.path("value"), sink)) d.value = *v;
    }
    const std::string composite = d.key + (d.value.empty() ? "" : "_" + d.value);
    d.full_key = parent_key + composite;
    if (!composites.emplace(composite, out.size()).second) {
      sink.add(*key, m.path("key"), "duplicate descriptor composite key '" + d.full_key + "'");
      continue;
    }
    if (const auto* n = m.get("rate_limit")) {
      d.rate_limit = read_rate_limit(*n, m.path("rate_limit"), sink);
    }
    if (const auto* n = m.get("shadow_mode")) {
      if (auto v = detail::read_bool(*n, m.path("shadow_mode"), sink)) d.shadow_mode = *v;
    }
    if (const auto* n = m.get("detailed_metric")) {
      if (auto v = detail::read_bool(*n, m.path("detailed_metric"), sink)) d.detailed_metric = *v;
    }
    if (const auto* n = m.get("descriptors")) {
      read_descriptors(*n, m.path("descriptors"), d.full_key + ".", depth + 1, sink, d.descriptors);
    }
    out.push_back(std::move(d));
  }
}

}  // namespace

void read_rls_document(const yaml_node& root, const std::string& file,
                       std::vector<config_error>& errors, rls_config& out) {
  error_sink sink(file, errors);
  map_reader m(root, "", sink, {"domain", "descriptors"});
  if (!m.ok()) return;
  rls_domain domain;
  domain.file = file;
  const yaml_node* name = m.get("domain");
  if (name != nullptr) {
    if (auto v = detail::read_string(*name, "domain", sink)) domain.domain = *v;
  }
  if (domain.domain.empty()) {
    sink.add(name != nullptr ? *name : root, "domain", "config file cannot have empty domain");
    return;
  }
  for (const auto& other : out.domains) {
    if (other.domain == domain.domain) {
      sink.add(*name, "domain",
               "duplicate domain '" + domain.domain + "' (also in " + other.file + ")");
      return;
    }
  }
  if (const auto* n = m.get("descriptors")) {
    read_descriptors(*n, "descriptors", domain.domain + ".", 1, sink, domain.descriptors);
  }
  out.domains.push_back(std::move(domain));
}

rls_load_result load_rls_config(const std::string& directory, const env_lookup& env) {
  rls_load_result result;
  std::error_code ec;
  const fs::path dir(directory);
  if (!fs::is_directory(fs::status(dir, ec))) {
    result.errors.push_back({{directory, 0, 0}, "", "not a directory"});
    return result;
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto ext = entry.path().extension();
    if ((ext == ".yaml" || ext == ".yml") && !name.starts_with(".") && !entry.is_directory()) {
      names.push_back(name);
    }
  }
  if (ec) {
    result.errors.push_back({{directory, 0, 0}, "", "cannot list directory: " + ec.message()});
    return result;
  }
  std::sort(names.begin(), names.end());
  rls_config config;
  for (const auto& name : names) {
    const std::string file = (dir / name).lexically_normal().string();
    if (auto root = detail::parse_file(file, env, result.errors)) {
      read_rls_document(*root, file, result.errors, config);
    }
  }
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

}  // namespace sluice::config
