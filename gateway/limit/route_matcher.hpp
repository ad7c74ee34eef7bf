// Compiled route patterns and first-match-wins lookup (SPEC 3 "Route match").
// Built once per configuration snapshot; immutable and thread-safe afterwards.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "limit/path.hpp"

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

class route_matcher {
 public:
  // Special members are defined in the .cpp, where `compiled` is complete.
  route_matcher();
  ~route_matcher();
  route_matcher(const route_matcher&);
  route_matcher(route_matcher&&) noexcept;
  route_matcher& operator=(const route_matcher&);
  route_matcher& operator=(route_matcher&&) noexcept;
  // `routes` must have been accepted by parse_route_match. Their patterns are
  // normalized with `options`, which must be the ones request paths are normalized with.
  route_matcher(const std::vector<route_match>& routes, const path_options& options);

  // Index of the first route matching (method, path normalized with the options), or -1.
  int match(std::string_view method, std::string_view normalized_path) const;

 private:
  struct compiled;
  std::vector<compiled> routes_;
};

}  // namespace sluice::limit
