// Request-path normalization for route matching and the `path` key part (SPEC 3),
// and the spellings of a path that Sluice rejects because upstreams disagree on them.
// Pure functions; thread-safe. In config because the loader checks route patterns with
// it (config/route_match.hpp) and path_options is the policies' `routing:` block; the
// namespace is sluice::limit, the engine's, which normalizes every request path with it.
#pragma once

#include <string>
#include <string_view>

#include "config/defaults.hpp"

namespace sluice::limit {

// Why a request target cannot be routed (each is a 400; see describe()).
enum class path_status : unsigned char {
  ok,
  malformed,          // does not start with '/', a malformed escape ("%4", "%zz"), a raw space
  fragment,           // '#' anywhere in the target: clients never send a fragment
  control_character,  // raw or encoded (%00-%1F, %7F)
  backslash,          // raw '\' or %5C: some servers read it as '/'
  encoded_slash,      // %2F without allow_encoded_slash: some servers decode it, some do not
  edge_whitespace,    // %20 at the start or end of a segment: some servers trim it
  encoded_semicolon,  // %3B: some servers decode it before cutting ";params", some after
  dot_params,         // "..;x", ".;x", or ";x" before a "..": a dot segment, or nothing,
                      // to servers that cut ";params", and a name to Sluice without stripping
};

// The 400 body text for a rejected target (a static string; "" for ok).
std::string_view describe(path_status status);

// The policy files' `routing:` block: how request paths (and route patterns) are read.
struct path_options {
  // ASCII letters fold to lower case (outside percent-escapes), in paths and patterns.
  bool case_insensitive = config::defaults::routing_case_insensitive;
  // ";params" is cut from every segment ("/a;x=1/b;y" -> "/a/b"), as Tomcat, Jetty and
  // Spring do before routing ("..;" is rejected whatever the options).
  bool strip_matrix_params = config::defaults::routing_strip_matrix_params;
  // %2F is a segment separator instead of a 400.
  bool allow_encoded_slash = config::defaults::routing_allow_encoded_slash;
  friend bool operator==(const path_options&, const path_options&) = default;
};

// The strictest reading: no folding, %2F rejected. What it rejects, every option
// rejects (the options never change whether a path is accepted).
inline constexpr path_options strict_path_options{false, false, false};

// Splits an origin-form request target at its first '?' into the raw path and the
// query (without '?'). A '#' anywhere is path_status::fragment.
path_status split_target(std::string_view target, std::string_view& path, std::string_view& query);

// Normalizes the path of a request target (the part before '?'):
// - rejects what upstreams read differently (see path_status), whatever the options,
//   matrix parameters included, so the options change the result but never whether a
//   path is accepted (that includes ";params" that would change which segments a dot
//   segment removes: "..;x", ".;x", and ";x" before a "..");
// - decodes percent-encoded unreserved characters (ALPHA DIGIT - . _ ~); other escapes
//   keep their encoding with upper-case hex;
// - with allow_encoded_slash, %2F separates segments like '/';
// - strips matrix parameters and folds case as `options` say;
// - removes dot segments (RFC 3986 5.2.4) and collapses repeated slashes.
// Writes the result into `out` (a reused buffer; cleared on failure). Idempotent:
// normalizing the result with the same options gives the result.
path_status normalize_path(std::string_view raw, const path_options& options, std::string& out);

// Replaces ID-like segments of a normalized path with "{id}" so that the `path` key
// part has bounded cardinality: all-digit segments, UUIDs, and long hex or mixed
// letter+digit tokens (16+ characters). "/users/123/orders/9f8e..." ->
// "/users/{id}/orders/{id}".
void collapse_ids(std::string_view normalized, std::string& out);

}  // namespace sluice::limit
