// Request-path normalization for route matching and the `path` key part (SPEC 3).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sluice::limit {

// Normalizes the path of a request target (the part before '?'; the caller strips
// the query): percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are
// decoded, other percent-escapes keep their encoding with upper-case hex, dot
// segments are removed (RFC 3986 5.2.4) and repeated slashes collapse to one.
// Writes the result into `out` (a reused buffer). Returns false for a path that
// does not start with '/' or holds a malformed escape ("%4", "%zz").
bool normalize_path(std::string_view raw, std::string& out);

// Replaces ID-like segments of a normalized path with "{id}" so that the `path`
// key part has bounded cardinality: all-digit segments, UUIDs, and long hex or
// mixed letter+digit tokens (16+ characters). "/users/123/orders/9f8e..." ->
// "/users/{id}/orders/{id}".
void collapse_ids(std::string_view normalized, std::string& out);

}  // namespace sluice::limit
