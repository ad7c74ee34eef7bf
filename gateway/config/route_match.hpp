// The grammar of a route's `match:` (SPEC 3 "Route match"): methods and a path
// pattern, parsed and checked when the policies load. limit/route_matcher.hpp compiles
// accepted patterns and matches request paths against them. Pure functions;
// thread-safe. Namespace sluice::limit, with the matcher (README folder map).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::limit {

// A route's `match` split into its parts: "GET,HEAD /users/{id}" ->
// methods {"GET","HEAD"}, pattern "/users/{id}".
struct route_match {
  std::vector<std::string> methods;  // upper case; empty = any method
  std::string pattern;
};

// Parses a `match` string: optional comma-separated methods (HTTP tokens, folded
// to upper case), whitespace, then a path pattern. Segments of the pattern are
// literals, `{name}` or `*` (exactly one non-empty segment), or a final `**` (any
// rest, including nothing). A pattern no request path could match under any
// `routing:` options (a dot segment, "%2F", "%5C", ...) is invalid. Returns the error
// message (without position) when invalid, e.g. "'**' is only allowed as the last
// segment".
struct parsed_match {
  std::optional<route_match> match;
  std::string error;
};
parsed_match parse_route_match(std::string_view text);

// Splits a pattern after its leading '/' into segments, ignoring one trailing slash.
// Calls `fn(segment)`; stops at the first `fn` returning false.
template <typename Fn>
bool for_each_pattern_segment(std::string_view pattern, Fn&& fn) {
  std::string_view rest = pattern.substr(1);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty()) return true;
  while (true) {
    const auto slash = rest.find('/');
    if (!fn(rest.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

}  // namespace sluice::limit
