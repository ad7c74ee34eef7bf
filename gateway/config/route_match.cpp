#include "config/route_match.hpp"

#include <algorithm>
#include <cstddef>

#include "config/path.hpp"

// Route patterns are checked with normalize_path's strictest options: dot segments,
// empty segments ("//"), '?', '#', whitespace, control characters and every spelling
// normalize_path rejects in a request (%2F, %5C, '\\', %00, an edge %20, %3B, "..;x")
// are rejected in patterns: they could never match (limit/route_matcher.cpp says how
// an accepted pattern matches).

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

}  // namespace sluice::limit
