// Fuzzes path normalization (gateway/config/path.hpp), route patterns and matching
// (gateway/config/route_match.hpp, gateway/limit/route_matcher.hpp) and the routing half of
// limit::prepare against a fixed policy (tests/fuzz/fixtures/routes, loaded once with
// config::load_config and compiled once per combination of the `routing:` options).
//
// Input: byte 0 picks the routing options (bits 0-2) and the method (bits 3-5); the
// rest is the request target (path[?query]). Properties:
// - whether a path is accepted does not depend on the options;
// - normalize_path is idempotent, and its output has no empty or dot segment, only
//   upper-case escapes of reserved characters, and nothing the options remove;
// - collapse_ids is idempotent and keeps the number of segments;
// - prepare() refuses exactly the targets split_target/normalize_path refuse, and
//   otherwise routes as policy::route_path does;
// - another spelling of a normalized path (unreserved characters percent-encoded, hex in
//   lower case, "//", "/./", "/x/../" inserted: choices drawn from the input) normalizes
//   to the same path or is refused; when it normalizes equal, prepare() gives the same
//   outcome, route, cost and limit keys as the normalized path itself;
// - a `limits: off` route is reached only if the spelling without case folding and
//   matrix-parameter stripping reaches one too;
// - what an upstream sees (every escape decoded once; optionally ";params" cut and case
//   folded, as some servers do) reaches a `limits: off` route whenever Sluice bypassed
//   limits, and, with every option off, the very route Sluice chose;
// - the target parsed as a route pattern ("GET <path>") matches its own instantiation
//   ({name} and * filled in, ** as nothing or two segments) under every option set.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"
#include "config/path.hpp"
#include "fuzz_support.hpp"
#include "limit/engine.hpp"
#include "limit/policy.hpp"
#include "limit/route_matcher.hpp"
#include "util/percent.hpp"

namespace {

using namespace sluice;
using limit::path_options;
using limit::path_status;

constexpr std::string_view methods[] = {"GET",    "POST",  "HEAD",    "PUT",
                                        "DELETE", "PATCH", "OPTIONS", "get"};
constexpr int option_sets = 8;

path_options options_of(int bits) {
  return path_options{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
}
// The same options without folding (case, matrix parameters).
int unfolded_bits(int bits) {
  return bits & 4;
}

// One compiled policy per option set, from one fixture.
const std::vector<std::unique_ptr<limit::policy>>& policies() {
  static const auto made = [] {
    const std::string path =
        std::string(SLUICE_SOURCE_DIR) + "/tests/fuzz/fixtures/routes/config.yaml";
    auto loaded = config::load_config(path);
    if (!loaded.ok()) {
      for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      std::abort();
    }
    std::vector<std::unique_ptr<limit::policy>> out;
    for (int bits = 0; bits < option_sets; ++bits) {
      config::loaded_config cfg = *loaded.config;
      cfg.policy.routing = options_of(bits);
      out.push_back(std::make_unique<limit::policy>(cfg, 42));
    }
    return out;
  }();
  return made;
}

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::vector<std::string_view> segments_of(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty()) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

void check_normalized_shape(std::string_view norm, const path_options& o, std::string_view raw) {
  FUZZ_CHECK(!norm.empty() && norm.front() == '/', raw);
  FUZZ_CHECK(norm.find("//") == std::string_view::npos, raw);
  const std::string_view body = norm.back() == '/' ? norm.substr(0, norm.size() - 1) : norm;
  for (std::string_view seg : segments_of(body)) {
    FUZZ_CHECK(!seg.empty() && seg != "." && seg != "..", raw);
  }
  if (o.strip_matrix_params) FUZZ_CHECK(norm.find(';') == std::string_view::npos, raw);
  for (std::size_t i = 0; i < norm.size(); ++i) {
    if (norm[i] != '%') {
      if (o.case_insensitive) FUZZ_CHECK(!(norm[i] >= 'A' && norm[i] <= 'Z'), raw);
      continue;
    }
    FUZZ_CHECK(i + 2 < norm.size(), raw);
    const int hi = hex_value(norm[i + 1]), lo = hex_value(norm[i + 2]);
    FUZZ_CHECK(hi >= 0 && lo >= 0, raw);
    FUZZ_CHECK(!(norm[i + 1] >= 'a' && norm[i + 1] <= 'f'), raw);
    FUZZ_CHECK(!(norm[i + 2] >= 'a' && norm[i + 2] <= 'f'), raw);
    const char decoded = static_cast<char>(hi * 16 + lo);
    FUZZ_CHECK(!is_unreserved(decoded) && decoded != '/' && decoded != '\\', raw);
    i += 2;
  }
}

// Appends `text` with some unreserved characters percent-encoded and the hex of
// existing escapes sometimes in lower case.
void respell(std::string_view text, fuzz::split_points& rng, std::string& out) {
  constexpr char upper[] = "0123456789ABCDEF";
  constexpr char lower[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const std::uint64_t r = rng.next();
    if (c == '%' && i + 2 < text.size()) {
      out += '%';
      for (int k = 1; k <= 2; ++k) {
        const char h = text[i + k];
        out += (r & k) != 0 && h >= 'A' && h <= 'F' ? static_cast<char>(h - 'A' + 'a') : h;
      }
      i += 2;
    } else if (is_unreserved(c) && (r & 7) == 0) {
      const auto b = static_cast<unsigned char>(c);
      const char* digits = (r & 8) != 0 ? lower : upper;
      out += '%';
      out += digits[b >> 4];
      out += digits[b & 0xf];
    } else {
      out += c;
    }
  }
}

// Another spelling of the normalized path `norm`.
std::string other_spelling(std::string_view norm, fuzz::split_points& rng) {
  static constexpr std::string_view detours[] = {"x", "a.b", "~", "%41", "..."};
  const bool trailing = norm.size() > 1 && norm.back() == '/';
  const std::vector<std::string_view> segs =
      segments_of(trailing ? norm.substr(0, norm.size() - 1) : norm);
  std::string out;
  const auto noise = [&] {
    const std::uint64_t r = rng.next();
    switch (r % 8) {
      case 0:
        out += '/';  // "//" collapses
        break;
      case 1:
        out += '/';
        respell(".", rng, out);  // "/./" or "/%2E/"
        break;
      case 2:
        out += '/';
        out += detours[(r >> 3) % std::size(detours)];
        out += '/';
        respell("..", rng, out);
        break;
      default:
        break;
    }
  };
  for (std::string_view seg : segs) {
    noise();
    out += '/';
    respell(seg, rng, out);
  }
  // Noise after the last segment leaves a trailing slash: only where there is one.
  if (segs.empty() || trailing) {
    noise();
    out += '/';
  }
  return out;
}

// Everything that matters about a prepared request, as text for comparisons.
std::string summary(const limit::evaluation& ev) {
  std::string s = "outcome " + std::to_string(static_cast<int>(ev.result));
  if (ev.result == limit::outcome::bad_request) return s + " " + std::string(ev.problem);
  s += " route " + std::to_string(ev.route) + " cost " + std::to_string(ev.cost);
  for (const auto& a : ev.applied) {
    s += " [" + std::to_string(a.limit) + " " + std::string(ev.key_of(a)) + "]";
  }
  return s;
}

void prepare(const limit::policy& pol, std::string_view method, std::string_view target,
             limit::evaluation& ev) {
  limit::request_facts facts;
  facts.method = method;
  facts.target = target;
  facts.client_ip = ip_address::from_v4(0xc000020a);  // 192.0.2.10
  limit::prepare(pol, facts, nullptr, 0, ev);
}

int route_of(const limit::policy& pol, std::string_view method, std::string_view raw_path) {
  static std::string path, scratch;
  int route = -1;
  if (pol.route_path(method, raw_path, path, scratch, route) != path_status::ok) return -1;
  return route;
}

// What an upstream that decodes every escape once (and optionally cuts ";params" and
// folds case) routes on, spelled so that the strict normalization reads it as such.
std::optional<std::string> upstream_view(std::string_view raw_path, bool strip, bool fold) {
  std::string decoded;
  bool in_params = false;
  for (std::size_t i = 0; i < raw_path.size(); ++i) {
    char c = raw_path[i];
    if (c == '%' && i + 2 < raw_path.size() && hex_value(raw_path[i + 1]) >= 0 &&
        hex_value(raw_path[i + 2]) >= 0) {
      c = static_cast<char>(hex_value(raw_path[i + 1]) * 16 + hex_value(raw_path[i + 2]));
      i += 2;
    }
    if (c == '/') in_params = false;
    if (strip && c == ';') in_params = true;
    if (in_params) continue;
    if (fold && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '%') {
      decoded += "%25";  // decoded once: a literal '%' stays literal
    } else {             // a ';' left is data: the strict normalization keeps it
      decoded += c;
    }
  }
  std::string out;
  if (limit::normalize_path(decoded, limit::strict_path_options, out) != path_status::ok) {
    return std::nullopt;
  }
  return out;
}

void check_pattern(std::string_view method, std::string_view path, fuzz::split_points& rng) {
  const auto parsed = limit::parse_route_match(std::string(method) + " " + std::string(path));
  if (!parsed.match) {
    FUZZ_CHECK(!parsed.error.empty(), path);
    return;
  }
  FUZZ_CHECK(parsed.error.empty(), path);
  std::string instance;
  for (std::string_view seg : segments_of(parsed.match->pattern)) {
    if (seg.empty()) continue;  // the trailing slash
    if (seg == "**") {
      if (rng.next() & 1) instance += "/r1/r2";
      continue;
    }
    instance += '/';
    const bool placeholder = seg == "*" || (seg.front() == '{' && seg.back() == '}');
    instance += placeholder ? std::string_view("v") : seg;
  }
  if (instance.empty()) instance = "/";
  const std::string m = parsed.match->methods.empty() ? "GET" : parsed.match->methods.front();
  for (int bits = 0; bits < option_sets; ++bits) {
    const path_options o = options_of(bits);
    const limit::route_matcher matcher({*parsed.match}, o);
    std::string norm;
    const path_status st = limit::normalize_path(instance, o, norm);
    FUZZ_CHECK(st == path_status::ok,
               parsed.match->pattern + " -> " + instance + ": " + std::string(limit::describe(st)));
    FUZZ_CHECK(matcher.match(m, norm) == 0,
               parsed.match->pattern + " -> " + norm + " options " + std::to_string(bits));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return -1;
  const auto& pols = policies();
  fuzz::split_points rng(data, size);
  const int bits = data[0] & 7;
  const path_options opts = options_of(bits);
  const limit::policy& pol = *pols[bits];
  const std::string_view method = methods[(data[0] >> 3) % std::size(methods)];
  const std::string_view target(reinterpret_cast<const char*>(data) + 1, size - 1);

  static limit::evaluation ev, norm_ev, alt_ev;
  prepare(pol, method, target, ev);

  std::string_view raw_path, query;
  const path_status split = limit::split_target(target, raw_path, query);
  if (split != path_status::ok) {
    FUZZ_CHECK(ev.result == limit::outcome::bad_request && ev.problem == limit::describe(split),
               target);
    return 0;
  }
  check_pattern(method, raw_path, rng);

  // Acceptance does not depend on the folding options; allow_encoded_slash accepts
  // what the others refuse as encoded_slash, and nothing else. Each normalization is
  // idempotent.
  static std::string norms[option_sets], again, collapsed, collapsed_again, alt_norm;
  path_status st[option_sets];
  for (int b = 0; b < option_sets; ++b) {
    st[b] = limit::normalize_path(raw_path, options_of(b), norms[b]);
    if (st[b] != path_status::ok) continue;
    check_normalized_shape(norms[b], options_of(b), raw_path);
    FUZZ_CHECK(limit::normalize_path(norms[b], options_of(b), again) == path_status::ok &&
                   again == norms[b],
               norms[b] + " -> " + again + " options " + std::to_string(b));
  }
  for (int b = 0; b < option_sets; ++b) {
    FUZZ_CHECK(st[b] == st[b & 4], std::string(raw_path) + ": options " + std::to_string(b) +
                                       " say " + std::string(limit::describe(st[b])) +
                                       ", without folding " +
                                       std::string(limit::describe(st[b & 4])));
  }
  const bool strict_ok = st[0] == path_status::ok, lenient_ok = st[4] == path_status::ok;
  FUZZ_CHECK(lenient_ok == (strict_ok || (st[0] == path_status::encoded_slash && lenient_ok)),
             std::string(raw_path) + ": allow_encoded_slash says " +
                 std::string(limit::describe(st[4])) + ", strict says " +
                 std::string(limit::describe(st[0])));
  const path_status status = st[bits];
  if (status != path_status::ok) {
    FUZZ_CHECK(ev.result == limit::outcome::bad_request && ev.problem == limit::describe(status),
               target);
    return 0;
  }
  const std::string& norm = norms[bits];

  limit::collapse_ids(norm, collapsed);
  limit::collapse_ids(collapsed, collapsed_again);
  FUZZ_CHECK(collapsed_again == collapsed, collapsed + " -> " + collapsed_again);
  FUZZ_CHECK(segments_of(collapsed).size() == segments_of(norm).size(), norm + " -> " + collapsed);

  // Identity problems (a repeated api_key parameter) are 400s of their own.
  if (ev.result == limit::outcome::bad_request) return 0;
  FUZZ_CHECK(ev.path == norm, target);
  FUZZ_CHECK(ev.route == route_of(pol, method, raw_path), target);

  const bool bypassed = pol.route(ev.route).bypass;
  if (bypassed) {
    const limit::policy& unfolded = *pols[unfolded_bits(bits)];
    const int r = route_of(unfolded, method, raw_path);
    FUZZ_CHECK(r >= 0 && unfolded.route(r).bypass,
               std::string(target) + " bypasses limits only through folding");
  }

  // Spellings of the normalized path route the same.
  const std::string query_suffix =
      target.find('?') == std::string_view::npos ? std::string() : "?" + std::string(query);
  prepare(pol, method, norm + query_suffix, norm_ev);
  const std::string alt = other_spelling(norm, rng);
  if (limit::normalize_path(alt, opts, alt_norm) == path_status::ok) {
    FUZZ_CHECK(alt_norm == norm, "raw " + std::string(raw_path) + " norm " + norm + " alt " + alt +
                                     " -> " + alt_norm);
    prepare(pol, method, alt + query_suffix, alt_ev);
    FUZZ_CHECK(summary(alt_ev) == summary(norm_ev),
               "norm " + norm + ": " + summary(norm_ev) + "; alt " + alt + ": " + summary(alt_ev));
  }

  // What upstreams see.
  const limit::policy& strict = *pols[0];
  for (int model = 0; model < 4; ++model) {
    const auto view = upstream_view(raw_path, (model & 1) != 0, (model & 2) != 0);
    if (!view) continue;
    const int upstream_route = route_of(strict, method, *view);
    const std::string detail = std::string(target) + " (options " + std::to_string(bits) +
                               ") routes to " + pol.route(ev.route).name + "; upstream model " +
                               std::to_string(model) + " sees " + *view + " -> " +
                               strict.route(upstream_route).name;
    if (bypassed) FUZZ_CHECK(strict.route(upstream_route).bypass, detail);
    if (bits == 0 && model == 0) FUZZ_CHECK(upstream_route == ev.route, detail);
  }
  return 0;
}
