#include "config/path.hpp"

#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../util/allocation_counter.hpp"

using sluice::limit::collapse_ids;
using sluice::limit::describe;
using sluice::limit::normalize_path;
using sluice::limit::path_options;
using sluice::limit::path_status;
using sluice::limit::split_target;
using sluice::limit::strict_path_options;

namespace {

constexpr path_options folding{true, true, false};            // case + matrix parameters
constexpr path_options encoded_slash_ok{false, false, true};  // %2F separates

std::string normalized(std::string_view raw, const path_options& options = strict_path_options) {
  std::string out;
  const path_status status = normalize_path(raw, options, out);
  EXPECT_EQ(status, path_status::ok) << raw << ": " << describe(status);
  return out;
}

path_status status_of(std::string_view raw, const path_options& options = strict_path_options) {
  std::string out = "stale";
  const path_status status = normalize_path(raw, options, out);
  if (status != path_status::ok) {
    EXPECT_EQ(out, "") << raw;
  }
  return status;
}

struct normalize_case {
  std::string_view raw;
  std::string_view want;
};

class PathNormalize : public testing::TestWithParam<normalize_case> {};

TEST_P(PathNormalize, Normalizes) {
  const auto& c = GetParam();
  std::string out = "garbage from a previous request";
  ASSERT_EQ(normalize_path(c.raw, strict_path_options, out), path_status::ok) << c.raw;
  EXPECT_EQ(out, c.want) << c.raw;
}

INSTANTIATE_TEST_SUITE_P(
    Path, PathNormalize,
    testing::Values(
        // Unchanged.
        normalize_case{"/", "/"}, normalize_case{"/a", "/a"}, normalize_case{"/a/b/c", "/a/b/c"},
        normalize_case{"/users/123", "/users/123"},
        // Trailing slash kept (the route matcher ignores it).
        normalize_case{"/a/", "/a/"}, normalize_case{"/a/b/", "/a/b/"},
        // Dot segments (RFC 3986 5.2.4).
        normalize_case{"/a/./b/../c", "/a/c"}, normalize_case{"/./a", "/a"},
        normalize_case{"/a/.", "/a/"}, normalize_case{"/a/b/..", "/a/"},
        normalize_case{"/a/b/../..", "/"}, normalize_case{"/..", "/"},
        normalize_case{"/../..", "/"}, normalize_case{"/../a", "/a"}, normalize_case{"/.", "/"},
        normalize_case{"/a/../../b", "/b"}, normalize_case{"/a/b/./../c/./d", "/a/c/d"},
        // Not dot segments.
        normalize_case{"/...", "/..."}, normalize_case{"/a/..b", "/a/..b"},
        normalize_case{"/a/b..", "/a/b.."}, normalize_case{"/.a", "/.a"},
        normalize_case{"/.well-known/x", "/.well-known/x"},
        // Encoded dots decode first and are then removed as dot segments.
        normalize_case{"/a/%2e%2E/b", "/b"}, normalize_case{"/a/%2E/b", "/a/b"},
        normalize_case{"/a/.%2e/b", "/b"}, normalize_case{"/%2e%2e/admin", "/admin"},
        normalize_case{"/a/%2e%2e%2e", "/a/..."},
        // Repeated slashes collapse.
        normalize_case{"//", "/"}, normalize_case{"///", "/"}, normalize_case{"//a//b", "/a/b"},
        normalize_case{"/a///b//", "/a/b/"}, normalize_case{"/a/..//b", "/b"},
        normalize_case{"/a//..", "/"},
        // Unreserved escapes decode, others keep their encoding with upper-case hex.
        normalize_case{"/%41", "/A"}, normalize_case{"/%61%62c", "/abc"},
        normalize_case{"/%30%39", "/09"}, normalize_case{"/%2D%2e%5F%7e", "/-._~"},
        normalize_case{"/caf%c3%a9", "/caf%C3%A9"}, normalize_case{"/a%20x", "/a%20x"},
        normalize_case{"/%25", "/%25"}, normalize_case{"/%2525", "/%2525"},
        normalize_case{"/%252F", "/%252F"}, normalize_case{"/%255C", "/%255C"},
        normalize_case{"/%ff", "/%FF"}, normalize_case{"/a%253Bb", "/a%253Bb"},
        // Without stripping, ';' is an ordinary character.
        normalize_case{"/a;x/b;y", "/a;x/b;y"}, normalize_case{"/a/..x;/b", "/a/..x;/b"},
        normalize_case{"/a/x..;/b", "/a/x..;/b"}, normalize_case{"/a/...;x", "/a/...;x"},
        // A segment of only parameters is a segment, and a dot segment after it does not
        // climb over it (".." does: see the rejections).
        normalize_case{"/;jsessionid=1", "/;jsessionid=1"}, normalize_case{"/a/;x", "/a/;x"},
        normalize_case{"/a/;x/b", "/a/;x/b"}, normalize_case{"/a/;x/./b", "/a/;x/b"},
        normalize_case{"/a/../;x/b", "/;x/b"},
        // Case is kept.
        normalize_case{"/AUTH/Login", "/AUTH/Login"},
        // Raw bytes >= 0x80 pass through.
        normalize_case{"/caf\xc3\xa9", "/caf\xc3\xa9"},
        // Other characters pass through untouched.
        normalize_case{"/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="}));

struct reject_case {
  std::string_view raw;
  path_status want;
};

class PathNormalizeRejects : public testing::TestWithParam<reject_case> {};

// Rejected whatever the options: they change the result, never the acceptance.
TEST_P(PathNormalizeRejects, RejectsUnderEveryOption) {
  const auto& c = GetParam();
  for (int bits = 0; bits < 8; ++bits) {
    const path_options options{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
    if (c.want == path_status::encoded_slash && options.allow_encoded_slash) continue;
    EXPECT_EQ(status_of(c.raw, options), c.want) << c.raw << " options " << bits;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Path, PathNormalizeRejects,
    testing::Values(
        // Not a path, or a malformed escape.
        reject_case{"", path_status::malformed}, reject_case{"a", path_status::malformed},
        reject_case{"a/b", path_status::malformed}, reject_case{"*", path_status::malformed},
        reject_case{"?x", path_status::malformed},
        reject_case{"http://h/a", path_status::malformed},
        reject_case{"%2Fa", path_status::malformed}, reject_case{"/%", path_status::malformed},
        reject_case{"/%4", path_status::malformed}, reject_case{"/a%", path_status::malformed},
        reject_case{"/a%4", path_status::malformed}, reject_case{"/%zz", path_status::malformed},
        reject_case{"/%g1", path_status::malformed}, reject_case{"/%1g", path_status::malformed},
        reject_case{"/%%41", path_status::malformed},
        reject_case{"/a/%4/b", path_status::malformed},
        reject_case{"/ok/%2", path_status::malformed}, reject_case{"/%-1", path_status::malformed},
        reject_case{"/a b", path_status::malformed},
        reject_case{"/a;%zz", path_status::malformed},  // matrix parameters are checked too
        // A fragment.
        reject_case{"/auth/login#frag", path_status::fragment},
        reject_case{"/#", path_status::fragment},
        // Control characters, raw or encoded.
        reject_case{"/auth/login%00", path_status::control_character},
        reject_case{"/a%00b", path_status::control_character},
        reject_case{"/a%0d%0aX", path_status::control_character},
        reject_case{"/a%09", path_status::control_character},
        reject_case{"/a%1F", path_status::control_character},
        reject_case{"/a%7f", path_status::control_character},
        reject_case{"/a\x01", path_status::control_character},
        reject_case{"/a\x7f", path_status::control_character},
        reject_case{std::string_view("/a\0b", 4), path_status::control_character},
        reject_case{"/a;x=%00", path_status::control_character},
        // Backslash, raw or encoded.
        reject_case{"/auth/login\\", path_status::backslash},
        reject_case{"/auth\\login", path_status::backslash},
        reject_case{"/auth%5clogin", path_status::backslash},
        reject_case{"/auth%5Clogin", path_status::backslash},
        reject_case{"/static/..%5c..%5cauth/login", path_status::backslash},
        // Encoded slash (unless allow_encoded_slash).
        reject_case{"/auth/login%2f", path_status::encoded_slash},
        reject_case{"/auth%2flogin", path_status::encoded_slash},
        reject_case{"/auth%2Flogin", path_status::encoded_slash},
        reject_case{"/static/..%2fauth/login", path_status::encoded_slash},
        reject_case{"/a;x=%2F", path_status::encoded_slash},
        // Encoded space at the edge of a segment (or of its part before ';').
        reject_case{"/auth/login%20", path_status::edge_whitespace},
        reject_case{"/auth/%20login", path_status::edge_whitespace},
        reject_case{"/auth%20/login", path_status::edge_whitespace},
        reject_case{"/%20", path_status::edge_whitespace},
        reject_case{"/auth/login%20;x", path_status::edge_whitespace},
        reject_case{"/auth/login;x%20", path_status::edge_whitespace},
        // An encoded ';', in any case, anywhere (a double-encoded one is data: above).
        reject_case{"/a%3Bb", path_status::encoded_semicolon},
        reject_case{"/a%3bb", path_status::encoded_semicolon},
        reject_case{"/static/%3Bx/../auth/login", path_status::encoded_semicolon},
        reject_case{"/auth/login%3Bjsessionid=1", path_status::encoded_semicolon},
        reject_case{"/a;x=%3B", path_status::encoded_semicolon},
        reject_case{"/%3B", path_status::encoded_semicolon},
        // Parameters on a dot segment, or on an empty segment before a "..".
        reject_case{"/static/..;/auth/login", path_status::dot_params},
        reject_case{"/static/..;x=1/auth/login", path_status::dot_params},
        reject_case{"/static/%2e%2E;x/auth/login", path_status::dot_params},
        reject_case{"/static/.%2e;/auth/login", path_status::dot_params},
        reject_case{"/a/.;x/b", path_status::dot_params},
        reject_case{"/a/..;", path_status::dot_params},
        reject_case{"/..;/a", path_status::dot_params},
        reject_case{"/static/;x/../auth/login", path_status::dot_params},
        reject_case{"/static/;/../auth/login", path_status::dot_params},
        reject_case{"/;x/..", path_status::dot_params},
        reject_case{"/a/;x/b/c/../../../d", path_status::dot_params},
        reject_case{"/a/;x/%2e%2e/b", path_status::dot_params}));

TEST(PathNormalize, EachRejectionHasItsOwnMessage) {
  EXPECT_EQ(describe(path_status::ok), "");
  EXPECT_EQ(describe(path_status::malformed), "Malformed request path");
  EXPECT_EQ(describe(path_status::fragment), "Fragment (#) in request target");
  EXPECT_EQ(describe(path_status::control_character), "Control character in path");
  EXPECT_EQ(describe(path_status::backslash), "Backslash in path");
  EXPECT_EQ(describe(path_status::encoded_slash), "Encoded slash in path");
  EXPECT_EQ(describe(path_status::edge_whitespace), "Space at the start or end of a path segment");
  EXPECT_EQ(describe(path_status::encoded_semicolon), "Encoded semicolon in path");
  EXPECT_EQ(describe(path_status::dot_params), "Parameters (;) on a dot segment or before '..'");
}

TEST(PathNormalize, CaseInsensitiveFoldsAsciiLettersOutsideEscapes) {
  const path_options ci{true, false, false};
  EXPECT_EQ(normalized("/AUTH/LOGIN", ci), "/auth/login");
  EXPECT_EQ(normalized("/Auth/%4C%6fgin", ci), "/auth/login");          // decoded letters fold too
  EXPECT_EQ(normalized("/caf%C3%A9/%c3%89", ci), "/caf%C3%A9/%C3%89");  // hex stays upper
  EXPECT_EQ(normalized("/%7E/%40%3a", ci), "/~/%40%3A");
  EXPECT_EQ(normalized("/\xc3\x89X", ci), "/\xc3\x89x");  // non-ASCII is not folded
}

TEST(PathNormalize, StripMatrixParamsCutsEverySegmentAtItsFirstSemicolon) {
  const path_options strip{false, true, false};
  EXPECT_EQ(normalized("/auth/login;jsessionid=1", strip), "/auth/login");
  EXPECT_EQ(normalized("/auth;x/login", strip), "/auth/login");
  EXPECT_EQ(normalized("/a;x=1;y=2/b;c/", strip), "/a/b/");
  EXPECT_EQ(normalized("/a/;x/b", strip), "/a/b");  // emptied segment collapses
  EXPECT_EQ(normalized("/a/;x", strip), "/a/");
  EXPECT_EQ(normalized("/;x", strip), "/");
  EXPECT_EQ(normalized("/a/;x/./b", strip), "/a/b");
  // Tomcat's "..;" (a dot segment to Tomcat, a name to Go) and an encoded ';' (data to
  // Tomcat, parameters to a server that decodes first) are rejected, stripping or not.
  EXPECT_EQ(status_of("/static/..;/auth/login", strip), path_status::dot_params);
  EXPECT_EQ(status_of("/static/;x/../auth/login", strip), path_status::dot_params);
  EXPECT_EQ(status_of("/a%3Bx/b", strip), path_status::encoded_semicolon);
  // A double-encoded ';' is decoded once, to the data "%3B".
  EXPECT_EQ(normalized("/a%253Bx;y/b", strip), "/a%253Bx/b");
  // Upper case is kept when only stripping.
  EXPECT_EQ(normalized("/A;B", strip), "/A");
}

TEST(PathNormalize, AllowEncodedSlashMakesItASeparator) {
  EXPECT_EQ(normalized("/auth%2flogin", encoded_slash_ok), "/auth/login");
  EXPECT_EQ(normalized("/auth/login%2f", encoded_slash_ok), "/auth/login/");
  EXPECT_EQ(normalized("/auth%2F%2Flogin", encoded_slash_ok), "/auth/login");
  // Separators before dot segments: an encoded ".." climbs like a raw one.
  EXPECT_EQ(normalized("/static/..%2fauth/login", encoded_slash_ok), "/auth/login");
  EXPECT_EQ(normalized("/static/%2e%2e%2Fauth/login", encoded_slash_ok), "/auth/login");
  EXPECT_EQ(normalized("/static%2f..%2f..%2fauth%2flogin", encoded_slash_ok), "/auth/login");
  // Double encoding is decoded once, like the upstream does.
  EXPECT_EQ(normalized("/a%252Fb", encoded_slash_ok), "/a%252Fb");
}

TEST(PathNormalize, TheIssuesSpellingsOfPostAuthLogin) {
  // Issue 8 item 10: each spelling is rejected, or (with the options that fold it)
  // normalizes to the limited route's path.
  struct spelling {
    std::string_view raw;
    path_status by_default;   // default `routing:` options
    std::string_view folded;  // with case_insensitive and strip_matrix_params
  };
  const path_options defaults{};
  ASSERT_FALSE(defaults.case_insensitive);
  ASSERT_TRUE(defaults.strip_matrix_params);
  ASSERT_FALSE(defaults.allow_encoded_slash);
  for (const spelling& s : std::initializer_list<spelling>{
           {"/auth/login;jsessionid=1", path_status::ok, "/auth/login"},
           {"/auth;x/login", path_status::ok, "/auth/login"},
           {"/AUTH/LOGIN", path_status::ok, "/auth/login"},
           {"/auth/login%2f", path_status::encoded_slash, ""},
           {"/auth%2flogin", path_status::encoded_slash, ""},
           {"/static/..%2fauth/login", path_status::encoded_slash, ""},
           {"/auth/login%20", path_status::edge_whitespace, ""},
           {"/auth/login%00", path_status::control_character, ""},
           {"/auth/login\\", path_status::backslash, ""},
           {"/auth\\login", path_status::backslash, ""},
           {"/auth/login#frag", path_status::fragment, ""},
           // Found by path_route_fuzz: with /static/** limits: off, both reached the
           // login handler on an upstream that cuts ";params" (the second one decoding
           // first) while Sluice read a static file (the first one without stripping).
           {"/static/..;/auth/login", path_status::dot_params, ""},
           {"/static/%3Bx/../auth/login", path_status::encoded_semicolon, ""},
       }) {
    EXPECT_EQ(status_of(s.raw, defaults), s.by_default) << s.raw;
    if (s.by_default == path_status::ok) {
      EXPECT_EQ(normalized(s.raw, folding), s.folded) << s.raw;
    }
  }
  EXPECT_EQ(normalized("/auth/login;jsessionid=1", defaults), "/auth/login");
  EXPECT_EQ(normalized("/auth;x/login", defaults), "/auth/login");
  EXPECT_EQ(normalized("/AUTH/LOGIN", defaults), "/AUTH/LOGIN");  // case_insensitive is off
}

TEST(PathSplitTarget, SplitsAtTheFirstQuestionMarkAndRejectsAFragment) {
  std::string_view path, query;
  ASSERT_EQ(split_target("/a/b?x=1?y#", path, query), path_status::fragment);
  ASSERT_EQ(split_target("/a/b?x=1#frag", path, query), path_status::fragment);
  ASSERT_EQ(split_target("/a#?x", path, query), path_status::fragment);
  ASSERT_EQ(split_target("/a/b?x=1?y", path, query), path_status::ok);
  EXPECT_EQ(path, "/a/b");
  EXPECT_EQ(query, "x=1?y");
  ASSERT_EQ(split_target("/a", path, query), path_status::ok);
  EXPECT_EQ(path, "/a");
  EXPECT_EQ(query, "");
  ASSERT_EQ(split_target("/a?", path, query), path_status::ok);
  EXPECT_EQ(query, "");
}

TEST(PathNormalize, ReusesTheCallersBufferWithoutGrowingIt) {
  std::string out;
  out.reserve(64);
  const auto* data = out.data();
  ASSERT_EQ(normalize_path("/a/./b/../c/%41%3a//d", strict_path_options, out), path_status::ok);
  EXPECT_EQ(out, "/a/c/A%3A/d");
  ASSERT_EQ(normalize_path("/x", strict_path_options, out), path_status::ok);
  EXPECT_EQ(out, "/x");
  EXPECT_EQ(out.data(), data);
}

// ---- properties over generated paths ----

// Paths built from pieces that exercise every rule: escapes of every class, dots,
// slashes, matrix parameters, case, rejected characters.
std::vector<std::string> generated_paths(std::size_t count) {
  static constexpr std::string_view pieces[] = {
      "/",   "/",   "//",  "a",   "B",   "login", "AUTH", ".",    "..",       "%2e",   "%2E",
      "%2F", "%2f", "%41", "%6c", "%7e", "%7E",   ";",    ";x=1", "..;",      "%3B",   "%25",
      "%20", "%5C", "\\",  "#",   "%00", "%0a",   "%C3",  "%a9",  "\xc3\xa9", "{id}",  "*",
      "%",   "%4",  "~",   "-",   "_",   ":",     "@",    "+",    "%2e%2e",   "%252F", " "};
  std::mt19937 rng(20261208);  // fixed: the same inputs on every run
  std::uniform_int_distribution<std::size_t> piece(0, std::size(pieces) - 1);
  std::uniform_int_distribution<int> length(0, 12);
  std::vector<std::string> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::string path = "/";
    for (int n = length(rng); n > 0; --n) path.append(pieces[piece(rng)]);
    out.push_back(std::move(path));
  }
  return out;
}

std::vector<path_options> every_option() {
  std::vector<path_options> out;
  for (int bits = 0; bits < 8; ++bits) {
    out.push_back(path_options{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0});
  }
  return out;
}

TEST(PathNormalizeProperty, IsIdempotentUnderEveryOption) {
  std::size_t accepted = 0;
  std::string once, twice;
  for (const auto& raw : generated_paths(20000)) {
    for (const auto& options : every_option()) {
      if (normalize_path(raw, options, once) != path_status::ok) continue;
      ++accepted;
      ASSERT_EQ(normalize_path(once, options, twice), path_status::ok) << raw << " -> " << once;
      ASSERT_EQ(once, twice) << raw;
    }
  }
  EXPECT_GT(accepted, 10000u);  // the generator reaches the accepting paths too
}

TEST(PathNormalizeProperty, OptionsNeverChangeWhetherAPathIsAccepted) {
  std::string out;
  for (const auto& raw : generated_paths(20000)) {
    const path_status strict = normalize_path(raw, strict_path_options, out);
    for (const auto& options : every_option()) {
      path_status status = normalize_path(raw, options, out);
      // allow_encoded_slash accepts exactly what only an encoded slash made strict reject.
      if (options.allow_encoded_slash && strict == path_status::encoded_slash) continue;
      ASSERT_EQ(status, strict) << raw;
    }
  }
}

TEST(PathNormalizeProperty, StrippingParametersAndRemovingDotSegmentsCommute) {
  // Whatever the other options, cutting ";params" from the path normalized without
  // cutting them gives the path normalized with cutting: a server that cuts them before
  // removing dot segments (Tomcat) and one that keeps ';' as data remove the same
  // segments, so Sluice's reading without stripping is never another place.
  std::size_t with_params = 0;
  std::string kept, cut, cut_directly;
  for (const auto& raw : generated_paths(20000)) {
    for (const auto& options : every_option()) {
      if (options.strip_matrix_params) continue;
      if (normalize_path(raw, options, kept) != path_status::ok) continue;
      path_options stripping = options;
      stripping.strip_matrix_params = true;
      ASSERT_EQ(normalize_path(raw, stripping, cut_directly), path_status::ok) << raw;
      ASSERT_EQ(normalize_path(kept, stripping, cut), path_status::ok) << raw << " -> " << kept;
      ASSERT_EQ(cut, cut_directly) << raw << " -> " << kept;
      with_params += kept.find(';') != std::string::npos ? 1 : 0;
    }
  }
  EXPECT_GT(with_params, 1000u);  // the generator reaches paths that keep parameters
}

struct collapse_case {
  std::string_view in;
  std::string_view want;
};

class PathCollapseIds : public testing::TestWithParam<collapse_case> {};

TEST_P(PathCollapseIds, Collapses) {
  const auto& c = GetParam();
  std::string out = "stale";
  collapse_ids(c.in, out);
  EXPECT_EQ(out, c.want) << c.in;
}

INSTANTIATE_TEST_SUITE_P(
    Path, PathCollapseIds,
    testing::Values(
        collapse_case{"/", "/"}, collapse_case{"/orders", "/orders"},
        collapse_case{"/users/123", "/users/{id}"}, collapse_case{"/users/123/", "/users/{id}/"},
        collapse_case{"/users/0", "/users/{id}"},
        collapse_case{"/users/123/orders/456", "/users/{id}/orders/{id}"},
        collapse_case{"/1/2/3", "/{id}/{id}/{id}"},
        // UUIDs, any case.
        collapse_case{"/items/550e8400-e29b-41d4-a716-446655440000", "/items/{id}"},
        collapse_case{"/items/550E8400-E29B-41D4-A716-446655440000/x", "/items/{id}/x"},
        collapse_case{"/items/550e8400e29b-41d4-a716-4466554400000",
                      "/items/550e8400e29b-41d4-a716-4466554400000"},  // misplaced hyphen
        collapse_case{"/items/550e8400-e29b-41d4-a716-44665544000g",
                      "/items/550e8400-e29b-41d4-a716-44665544000g"},
        collapse_case{"/items/550e8400-e29b-41d4-a716", "/items/550e8400-e29b-41d4-a716"},
        // Hex of 16+ characters (letters only too); 15 stays.
        collapse_case{"/blobs/9f8e7d6c5b4a3f2e", "/blobs/{id}"},
        collapse_case{"/blobs/deadbeefdeadbeef", "/blobs/{id}"},
        collapse_case{"/blobs/DEADBEEF00112233AABB", "/blobs/{id}"},
        collapse_case{"/blobs/9f8e7d6c5b4a3f2", "/blobs/9f8e7d6c5b4a3f2"},
        collapse_case{"/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/commits/{id}"},
        // Mixed letter+digit tokens of 16+ characters (base62 ids).
        collapse_case{"/s/aZ3kQ9xP2mL7nB4v", "/s/{id}"}, collapse_case{"/s/cus_", "/s/cus_"},
        collapse_case{"/s/7HkQ9xP2mL7nB4vZ", "/s/{id}"},
        collapse_case{"/s/aZ3kQ9xP2mL7nB4", "/s/aZ3kQ9xP2mL7nB4"},  // 15 characters
        // Words stay, long ones too; short mixed ones too.
        collapse_case{"/v2/healthz", "/v2/healthz"},
        collapse_case{"/oauth2/token", "/oauth2/token"},
        collapse_case{"/internationalization", "/internationalization"},
        collapse_case{"/abcdefabcdefabcdefxyz", "/abcdefabcdefabcdefxyz"},
        collapse_case{"/api/v1/users/42/avatar.png", "/api/v1/users/{id}/avatar.png"},
        // Slugs with separators and encoded bytes are not tokens.
        collapse_case{"/posts/my-first-post-2024-edition", "/posts/my-first-post-2024-edition"},
        collapse_case{"/a/12%2034", "/a/12%2034"}, collapse_case{"/a/-1", "/a/-1"},
        collapse_case{"/a/1.5", "/a/1.5"}));

TEST(PathCollapseIds, ComposesWithNormalize) {
  std::string normalized, collapsed;
  ASSERT_EQ(normalize_path("//users/%31%32%33/./orders/../orders/9F8E7D6C5B4A3F2E1D0C",
                           strict_path_options, normalized),
            path_status::ok);
  collapse_ids(normalized, collapsed);
  EXPECT_EQ(collapsed, "/users/{id}/orders/{id}");
}

TEST(PathNormalize, DoesNotAllocateIntoAWarmBuffer) {
  std::string normalized, collapsed;
  normalized.reserve(256);
  collapsed.reserve(256);
  sluice::test::allocation_scope scope;
  const path_options all{true, true, true};
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(normalize_path("//api/./V1/users/%31%32/../12345/orders/%2e%2E/a%2fb;x/;y/", all,
                             normalized),
              path_status::ok);
    collapse_ids(normalized, collapsed);
  }
  EXPECT_EQ(scope.count(), 0u);
  EXPECT_EQ(collapsed, "/api/v1/users/{id}/a/b/");
}

}  // namespace
