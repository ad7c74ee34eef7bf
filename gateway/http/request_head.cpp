#include "http/request_head.hpp"

#include <algorithm>
#include <array>
#include <iterator>

#include "util/ascii.hpp"

namespace sluice::net {
namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// host = IP-literal / IPv4address / reg-name, then an optional ":" port (RFC 3986 3.2.2):
// unreserved, pct-encoded, sub-delims, ':' and the brackets of an IPv6 literal. A table:
// every request's Host is checked byte by byte.
constexpr std::array<bool, 256> host_chars = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }
  for (unsigned char c : std::string_view("-._~%!$&'()*+,;=:[]")) t[c] = true;
  return t;
}();

bool is_host_char(char c) {
  return host_chars[static_cast<unsigned char>(c)];
}

// A DNS name is at most 253 bytes; with brackets and a port any real host fits far below
// this. (Beast cannot hold a field value over 65,535 bytes: Host is set from an
// absolute-form target's authority.)
constexpr std::size_t max_host_bytes = 1024;

bool valid_host(std::string_view host) {
  if (host.size() > max_host_bytes) return false;
  for (char c : host) {
    if (!is_host_char(c)) return false;
  }
  return true;
}

// The framing fields a CGI-style upstream (HTTP_CONTENT_LENGTH, ...) would also read
// when spelled with '_'.
bool spells_framing_field_with_underscore(std::string_view name) {
  if (name.find('_') == std::string_view::npos) return false;
  static constexpr std::array<std::string_view, 3> framing = {"content-length", "transfer-encoding",
                                                              "host"};
  for (auto f : framing) {
    if (f.size() != name.size()) continue;
    std::size_t i = 0;
    while (i < f.size() && (name[i] == '_' ? '-' : ascii_lower(name[i])) == f[i]) ++i;
    if (i == f.size()) return true;
  }
  return false;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The host[:port] of an absolute-form target: "http://user@host:8080/p" -> "host:8080"
// (userinfo is not part of Host, and is never forwarded).
std::string_view authority_of(std::string_view target) {
  const auto start = target.find("//") + 2;
  auto authority = target.substr(start, target.find_first_of("/?#", start) - start);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  return authority;
}

// `lines` Transfer-Encoding lines, the first of them `first`.
bool exactly_chunked(std::size_t lines, std::string_view first) {
  return lines == 0 || (lines == 1 && iequals(trim_ows(first), "chunked"));
}

}  // namespace

bool transfer_coding_ok(const head_fields& fields) {
  auto range = fields.equal_range(http::field::transfer_encoding);
  if (range.first == range.second) return true;
  return exactly_chunked(static_cast<std::size_t>(std::distance(range.first, range.second)),
                         as_std(range.first->value()));
}

bool transfer_coding_ok(std::span<const head_field> fields) {
  std::size_t lines = 0;
  std::string_view first;
  for (const auto& f : fields) {
    if (f.name != http::field::transfer_encoding) continue;
    if (lines++ == 0) first = f.value;
  }
  return exactly_chunked(lines, first);
}

std::optional<head_problem> check_request_head(const request_message& req, head_summary* summary) {
  // One pass over the fields finds what the checks and the session need; each would
  // otherwise be a search in Beast's index.
  int hosts = 0;
  std::string_view host;
  bool has_te = false;
  bool underscored = false;
  bool has_connection = false;
  std::optional<std::string_view> expect;  // the first line's, as req[field::expect] gives it
  for (const auto& f : req) {
    switch (f.name()) {
      case http::field::host:
        ++hosts;
        host = as_std(f.value());
        break;
      case http::field::transfer_encoding:
        has_te = true;
        break;
      case http::field::connection:
        has_connection = true;
        break;
      case http::field::expect:
        if (!expect) expect = as_std(f.value());
        break;
      case http::field::unknown:
        underscored = underscored || spells_framing_field_with_underscore(as_std(f.name_string()));
        break;
      default:
        break;
    }
  }
  if (summary != nullptr) {
    // Beast reads Connection's tokens; without the field, a version's default is all
    // there is (persistent from HTTP/1.1), and Beast's lookup is spared.
    summary->keep_alive = has_connection ? req.keep_alive() : req.version() >= 11;
    summary->expects_continue = expect && iequals(*expect, "100-continue");
  }

  if (has_te && req.version() < 11) {
    return head_problem{gateway_error::bad_request, "Transfer-Encoding in an HTTP/1.0 request"};
  }
  if (has_te && !transfer_coding_ok(req)) {
    return head_problem{gateway_error::bad_request, "Unsupported Transfer-Encoding"};
  }
  if (underscored) {
    return head_problem{gateway_error::bad_request,
                        "Header field name with '_' in place of '-' of a framing field"};
  }
  if (hosts > 1) return head_problem{gateway_error::bad_request, "Duplicate Host header"};
  if (hosts == 0 && req.version() >= 11) {
    return head_problem{gateway_error::bad_request, "Missing Host header"};
  }
  if (!valid_host(host)) return head_problem{gateway_error::bad_request, "Malformed Host header"};

  if (req.method() == http::verb::connect) {
    return head_problem{gateway_error::bad_request, "CONNECT is not supported"};
  }
  const auto target = as_std(req.target());
  const bool origin_form = target.starts_with('/');
  const bool absolute_form =
      starts_with_nocase(target, "http://") || starts_with_nocase(target, "https://");
  if (!origin_form && !absolute_form && target != "*") {
    return head_problem{gateway_error::bad_request, "Malformed request target"};
  }
  if (absolute_form) {
    const auto authority = authority_of(target);
    if (authority.empty() || !valid_host(authority)) {
      return head_problem{gateway_error::bad_request, "Malformed request target"};
    }
  }
  return std::nullopt;
}

void to_origin_form(request_head& req) {
  const auto target = as_std(req.target());
  if (target.starts_with('/') || target == "*") return;
  const auto path_start =
      std::min(target.size(), target.find_first_of("/?#", target.find("//") + 2));
  const auto authority = authority_of(target);
  std::string origin(path_start < target.size() && target[path_start] == '/'
                         ? std::string(target.substr(path_start))
                         : "/" + std::string(target.substr(path_start)));
  req.set(http::field::host, authority);
  req.target(origin);
}

}  // namespace sluice::net
