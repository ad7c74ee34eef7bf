#include "limit/route_matcher.hpp"

#include <algorithm>
#include <cstddef>

#include "config/path.hpp"

// Matching rules that the header leaves open, chosen here:
// - A trailing slash is not significant on either side: "/users" and "/users/" are
//   the same pattern and both match the paths "/users" and "/users/". Frameworks
//   commonly route both to one handler, so a strict rule would let a client dodge a
//   limit by adding a slash.
// - "/" matches only "/" (and "//" etc. which normalization already folds).
// - Patterns are normalized by normalize_path with the request paths' options
//   ("%7e" -> "~"; with case_insensitive "/Auth" -> "/auth"; with strip_matrix_params
//   "/a;v=1" -> "/a"), so a pattern written either way matches the normalized path.
// - Which patterns are accepted: config/route_match.cpp.

namespace sluice::limit {

// One precompiled route: literal segments already percent-normalized so match()
// only compares bytes.
struct route_matcher::compiled {
  enum class kind : unsigned char { literal, one };
  struct segment {
    kind k;
    std::string literal;
  };
  std::vector<std::string> methods;
  std::vector<segment> segments;
  bool rest = false;  // pattern ends in "**"
};

route_matcher::route_matcher() = default;
route_matcher::~route_matcher() = default;
route_matcher::route_matcher(const route_matcher&) = default;
route_matcher::route_matcher(route_matcher&&) noexcept = default;
route_matcher& route_matcher::operator=(const route_matcher&) = default;
route_matcher& route_matcher::operator=(route_matcher&&) noexcept = default;

route_matcher::route_matcher(const std::vector<route_match>& routes, const path_options& options) {
  routes_.reserve(routes.size());
  std::string normalized;
  for (const auto& r : routes) {
    compiled c;
    c.methods = r.methods;
    // Accepted by parse_route_match, so accepted under any options; the raw pattern
    // (which then never matches) is only a guard against a caller that skipped it.
    if (normalize_path(r.pattern, options, normalized) != path_status::ok) normalized = r.pattern;
    for_each_pattern_segment(normalized, [&](std::string_view seg) {
      if (seg == "**") {
        c.rest = true;
      } else if (seg == "*" || (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}')) {
        c.segments.push_back({compiled::kind::one, {}});
      } else {
        c.segments.push_back({compiled::kind::literal, std::string(seg)});
      }
      return true;
    });
    routes_.push_back(std::move(c));
  }
}

namespace {

// Walks the segments of a normalized path without allocating; one trailing slash is
// ignored (see the file comment).
class path_segments {
 public:
  explicit path_segments(std::string_view path) : rest_(path) {
    if (!rest_.empty() && rest_.front() == '/') rest_.remove_prefix(1);
    if (!rest_.empty() && rest_.back() == '/') rest_.remove_suffix(1);
    done_ = rest_.empty();
  }
  bool next(std::string_view& seg) {
    if (done_) return false;
    const auto slash = rest_.find('/');
    seg = rest_.substr(0, slash);
    if (slash == std::string_view::npos) {
      done_ = true;
    } else {
      rest_.remove_prefix(slash + 1);
    }
    return true;
  }

 private:
  std::string_view rest_;
  bool done_ = false;
};

}  // namespace

int route_matcher::match(std::string_view method, std::string_view normalized_path) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const compiled& r = routes_[i];
    if (!r.methods.empty() &&
        std::find(r.methods.begin(), r.methods.end(), method) == r.methods.end()) {
      continue;
    }
    path_segments path(normalized_path);
    std::string_view seg;
    bool ok = true;
    for (const auto& want : r.segments) {
      if (!path.next(seg) || seg.empty() ||
          (want.k == compiled::kind::literal && seg != want.literal)) {
        ok = false;
        break;
      }
    }
    // Without "**" the path must have no segments left.
    if (ok && (r.rest || !path.next(seg))) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace sluice::limit
