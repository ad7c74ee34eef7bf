#include "limit/route_matcher.hpp"

#include <algorithm>
#include <cstddef>

#include "limit/path.hpp"

// Matching rules that the header leaves open, chosen here:
// - A trailing slash is not significant on either side: "/users" and "/users/" are
//   the same pattern and both match the paths "/users" and "/users/". Frameworks
//   commonly route both to one handler, so a strict rule would let a client dodge a
//   limit by adding a slash.
// - "/" matches only "/" (and "//" etc. which normalization already folds).
// - Patterns are normalized by normalize_path with the request paths' options
//   ("%7e" -> "~"; with case_insensitive "/Auth" -> "/auth"; with strip_matrix_params
//   "/a;v=1" -> "/a"), so a pattern written either way matches the normalized path.
// - Dot segments, empty segments ("//"), '?', '#', whitespace, control characters and
//   every spelling normalize_path rejects in a request (%2F, %5C, '\\', %00, an edge
//   %20, %3B, "..;x") are rejected in patterns: they could never match.

namespace sluice::limit {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// RFC 9110 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string quoted(std::string_view s) {
  std::string out = "'";
  out.append(s);
  out += '\'';
  return out;
}

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

std::string check_methods(std::string_view list, std::vector<std::string>& methods) {
  while (true) {
    const auto comma = list.find(',');
    const std::string_view method = trim(list.substr(0, comma));
    if (method.empty()) return "empty method in method list";
    if (method == "*") return "'*' is not a method; omit the methods to match any";
    std::string upper;
    upper.reserve(method.size());
    for (char c : method) {
      if (!is_tchar(c)) return "invalid method " + quoted(method);
      upper += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    }
    if (std::find(methods.begin(), methods.end(), upper) != methods.end()) {
      return "duplicate method " + quoted(upper);
    }
    methods.push_back(std::move(upper));
    if (comma == std::string_view::npos) return {};
    list.remove_prefix(comma + 1);
  }
}

std::string check_pattern(std::string_view pattern) {
  if (pattern.empty()) return "missing path pattern";
  if (pattern.front() != '/') return "path pattern must start with '/': " + quoted(pattern);
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const auto c = static_cast<unsigned char>(pattern[i]);
    if (c <= 0x20 || c == 0x7f) return "path pattern contains whitespace or a control character";
    if (c == '?' || c == '#') {
      return "path pattern must not contain '?' or '#' (the query string is not matched)";
    }
  }
  // The strictest reading: what it rejects, every `routing:` choice rejects.
  std::string normalized;
  if (const auto status = normalize_path(pattern, strict_path_options, normalized);
      status == path_status::malformed) {
    return "malformed percent-escape in path pattern " + quoted(pattern);
  } else if (status != path_status::ok) {
    return "path pattern " + quoted(pattern) +
           " never matches: a request path spelled so is rejected (" +
           std::string(describe(status)) + ")";
  }
  if (pattern.find("//") != std::string_view::npos) {
    return "empty segment ('//') in path pattern " + quoted(pattern);
  }
  std::string error;
  bool seen_rest = false;
  std::vector<std::string_view> names;
  for_each_pattern_segment(pattern, [&](std::string_view seg) {
    if (seen_rest) {
      error = "'**' is only allowed as the last segment";
      return false;
    }
    if (seg.front() == ';') {
      error = "segment " + quoted(seg) +
              " in path pattern is empty once matrix parameters are stripped";
      return false;
    }
    // Now normalize_path leaves "/" for exactly the dot segments ("." "%2e" ".."
    // "%2E."; it rejected "..;x" above).
    std::string alone = "/";
    alone.append(seg);
    if (normalize_path(alone, strict_path_options, normalized) == path_status::ok &&
        normalized == "/") {
      error = "dot segment " + quoted(seg) + " in path pattern never matches a normalized path";
      return false;
    }
    if (seg == "**") {
      seen_rest = true;
      return true;
    }
    if (seg == "*") return true;
    if (seg.front() == '{' && seg.back() == '}' && seg.size() >= 2) {
      const std::string_view name = seg.substr(1, seg.size() - 2);
      if (name.empty()) {
        error = "empty placeholder name '{}'";
        return false;
      }
      for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
          error = "invalid placeholder name " + quoted(seg) + " (letters, digits, '_', '-')";
          return false;
        }
      }
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        error = "duplicate placeholder " + quoted(seg);
        return false;
      }
      names.push_back(name);
      return true;
    }
    if (seg.find_first_of("{}") != std::string_view::npos) {
      error = "a placeholder must be a whole segment: " + quoted(seg);
      return false;
    }
    if (seg.find('*') != std::string_view::npos) {
      error = seg.find("**") != std::string_view::npos
                  ? "'**' must be a whole segment: " + quoted(seg)
                  : "'*' must be a whole segment: " + quoted(seg);
      return false;
    }
    return true;
  });
  return error;
}

}  // namespace

parsed_match parse_route_match(std::string_view text) {
  parsed_match result;
  text = trim(text);
  if (text.empty()) {
    result.error = "empty match";
    return result;
  }
  route_match m;
  // Methods are tokens, which never contain '/', so the pattern starts at the first '/'.
  const auto slash = text.find('/');
  const std::string_view head = text.substr(0, slash);
  const std::string_view pattern = slash == std::string_view::npos ? "" : text.substr(slash);
  if (slash == std::string_view::npos) {
    result.error = "missing path pattern (it starts with '/')";
    return result;
  }
  if (!head.empty()) {
    if (!is_space(head.back())) {
      result.error = "expected whitespace between the methods and the path pattern";
      return result;
    }
    if (auto error = check_methods(trim(head), m.methods); !error.empty()) {
      result.error = std::move(error);
      return result;
    }
  }
  if (auto error = check_pattern(pattern); !error.empty()) {
    result.error = std::move(error);
    return result;
  }
  m.pattern = std::string(pattern);
  result.match = std::move(m);
  return result;
}

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
