// Compiled route patterns and first-match-wins lookup (SPEC 3 "Route match").
// Built once per configuration snapshot; immutable and thread-safe afterwards.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/path.hpp"
#include "config/route_match.hpp"

namespace sluice::limit {

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
