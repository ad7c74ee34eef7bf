#include "limit/route_matcher.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../util/allocation_counter.hpp"
#include "path_spellings.hpp"

using sluice::limit::normalize_path;
using sluice::limit::parse_route_match;
using sluice::limit::path_options;
using sluice::limit::path_status;
using sluice::limit::route_match;
using sluice::limit::route_matcher;
using sluice::limit::strict_path_options;
using sluice::limit::testing::respell;

namespace {

route_match parsed(std::string_view text) {
  auto p = parse_route_match(text);
  EXPECT_TRUE(p.match.has_value()) << text << ": " << p.error;
  return p.match.value_or(route_match{});
}

route_matcher matcher(std::initializer_list<std::string_view> texts,
                      const path_options& options = strict_path_options) {
  std::vector<route_match> routes;
  for (auto t : texts) routes.push_back(parsed(t));
  return route_matcher(routes, options);
}

// ---- parse_route_match ----

struct parse_case {
  std::string_view text;
  std::vector<std::string> methods;
  std::string pattern;
};

class RouteMatchParse : public testing::TestWithParam<parse_case> {};

TEST_P(RouteMatchParse, Accepts) {
  const auto& c = GetParam();
  auto p = parse_route_match(c.text);
  ASSERT_TRUE(p.match) << c.text << ": " << p.error;
  EXPECT_TRUE(p.error.empty());
  EXPECT_EQ(p.match->methods, c.methods) << c.text;
  EXPECT_EQ(p.match->pattern, c.pattern) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    RouteMatch, RouteMatchParse,
    testing::Values(parse_case{"/", {}, "/"}, parse_case{"/healthz", {}, "/healthz"},
                    parse_case{"GET /healthz", {"GET"}, "/healthz"},
                    parse_case{"GET,HEAD /users/{id}", {"GET", "HEAD"}, "/users/{id}"},
                    parse_case{"get,Head /users/{id}", {"GET", "HEAD"}, "/users/{id}"},
                    parse_case{"GET, HEAD  /users/{id}", {"GET", "HEAD"}, "/users/{id}"},
                    parse_case{"  POST\t/ocr/*  ", {"POST"}, "/ocr/*"},
                    parse_case{"/static/**", {}, "/static/**"}, parse_case{"/**", {}, "/**"},
                    parse_case{"PURGE /cache/*", {"PURGE"}, "/cache/*"},
                    parse_case{"/a/{id}/b/{other_id}", {}, "/a/{id}/b/{other_id}"},
                    parse_case{"/a/*/b/*/**", {}, "/a/*/b/*/**"},
                    parse_case{"/users/", {}, "/users/"},
                    parse_case{"/a%40b/%7euser", {}, "/a%40b/%7euser"},
                    parse_case{"/a;v=1/b", {}, "/a;v=1/b"},
                    parse_case{"/Auth/LOGIN", {}, "/Auth/LOGIN"},
                    parse_case{"/.well-known/**", {}, "/.well-known/**"}));

struct parse_error_case {
  std::string_view text;
  std::string_view error;
};

class RouteMatchParseError : public testing::TestWithParam<parse_error_case> {};

TEST_P(RouteMatchParseError, RejectsWithMessage) {
  const auto& c = GetParam();
  auto p = parse_route_match(c.text);
  EXPECT_FALSE(p.match) << c.text;
  EXPECT_EQ(p.error, c.error) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    RouteMatch, RouteMatchParseError,
    testing::Values(
        parse_error_case{"", "empty match"}, parse_error_case{"   ", "empty match"},
        parse_error_case{"GET", "missing path pattern (it starts with '/')"},
        parse_error_case{"GET healthz", "missing path pattern (it starts with '/')"},
        parse_error_case{"healthz", "missing path pattern (it starts with '/')"},
        parse_error_case{"GET/healthz",
                         "expected whitespace between the methods and the path pattern"},
        parse_error_case{"GET,,HEAD /x", "empty method in method list"},
        parse_error_case{"GET, /x", "empty method in method list"},
        parse_error_case{",GET /x", "empty method in method list"},
        parse_error_case{"G(ET /x", "invalid method 'G(ET'"},
        parse_error_case{"GET HEAD /x", "invalid method 'GET HEAD'"},
        parse_error_case{"GET,get /x", "duplicate method 'GET'"},
        parse_error_case{"* /x", "'*' is not a method; omit the methods to match any"},
        parse_error_case{"/static/**/x", "'**' is only allowed as the last segment"},
        parse_error_case{"/**/**", "'**' is only allowed as the last segment"},
        parse_error_case{"/a**", "'**' must be a whole segment: 'a**'"},
        parse_error_case{"/***", "'**' must be a whole segment: '***'"},
        parse_error_case{"/a*", "'*' must be a whole segment: 'a*'"},
        parse_error_case{"/user{id}", "a placeholder must be a whole segment: 'user{id}'"},
        parse_error_case{"/{id", "a placeholder must be a whole segment: '{id'"},
        parse_error_case{"/{}", "empty placeholder name '{}'"},
        parse_error_case{"/{a.b}", "invalid placeholder name '{a.b}' (letters, digits, '_', '-')"},
        parse_error_case{"/{id}/{id}", "duplicate placeholder '{id}'"},
        parse_error_case{"//a", "empty segment ('//') in path pattern '//a'"},
        parse_error_case{"/a//b", "empty segment ('//') in path pattern '/a//b'"},
        parse_error_case{"//", "empty segment ('//') in path pattern '//'"},
        parse_error_case{"/a//", "empty segment ('//') in path pattern '/a//'"},
        parse_error_case{"/a/../b",
                         "dot segment '..' in path pattern never matches a normalized path"},
        parse_error_case{"/./b", "dot segment '.' in path pattern never matches a normalized path"},
        parse_error_case{"/%2e%2E",
                         "dot segment '%2e%2E' in path pattern never matches a normalized path"},
        parse_error_case{"/a?x=1",
                         "path pattern must not contain '?' or '#' (the query string is not "
                         "matched)"},
        parse_error_case{"/a#frag",
                         "path pattern must not contain '?' or '#' (the query string is not "
                         "matched)"},
        parse_error_case{"GET /a b", "path pattern contains whitespace or a control character"},
        parse_error_case{"/a%4", "malformed percent-escape in path pattern '/a%4'"},
        parse_error_case{"/a%zz/b", "malformed percent-escape in path pattern '/a%zz/b'"},
        // Spellings a request path is rejected for can never match.
        parse_error_case{"/a%2Fb",
                         "path pattern '/a%2Fb' never matches: a request path spelled "
                         "so is rejected (Encoded slash in path)"},
        parse_error_case{"/a\\b",
                         "path pattern '/a\\b' never matches: a request path spelled "
                         "so is rejected (Backslash in path)"},
        parse_error_case{"/a%5cb",
                         "path pattern '/a%5cb' never matches: a request path spelled "
                         "so is rejected (Backslash in path)"},
        parse_error_case{"/a%00",
                         "path pattern '/a%00' never matches: a request path spelled "
                         "so is rejected (Control character in path)"},
        parse_error_case{"/login%20",
                         "path pattern '/login%20' never matches: a request path "
                         "spelled so is rejected (Space at the start or end of a "
                         "path segment)"},
        parse_error_case{"/a/;v=1/b",
                         "segment ';v=1' in path pattern is empty once matrix parameters are "
                         "stripped"},
        parse_error_case{"/static/..;x/b",
                         "path pattern '/static/..;x/b' never matches: a request path spelled "
                         "so is rejected (Parameters (;) on a dot segment or before '..')"},
        parse_error_case{"/a%3Bb",
                         "path pattern '/a%3Bb' never matches: a request path spelled so is "
                         "rejected (Encoded semicolon in path)"}));

// ---- route_matcher ----

struct match_case {
  std::string_view method;
  std::string_view path;
  int want;
};

void expect_matches(const route_matcher& m, std::initializer_list<match_case> cases) {
  for (const auto& c : cases) {
    EXPECT_EQ(m.match(c.method, c.path), c.want) << c.method << " " << c.path;
  }
}

TEST(RouteMatch, EmptyMatcherMatchesNothing) {
  route_matcher m;
  EXPECT_EQ(m.match("GET", "/"), -1);
  route_matcher from_empty(std::vector<route_match>{}, strict_path_options);
  EXPECT_EQ(from_empty.match("GET", "/x"), -1);
}

TEST(RouteMatch, LiteralSegmentsAreExactAndCaseSensitive) {
  auto m = matcher({"/healthz", "/api/v1/items"});
  expect_matches(m, {{"GET", "/healthz", 0},
                     {"POST", "/healthz", 0},
                     {"GET", "/Healthz", -1},
                     {"GET", "/HEALTHZ", -1},
                     {"GET", "/healthz2", -1},
                     {"GET", "/health", -1},
                     {"GET", "/healthz/x", -1},
                     {"GET", "/", -1},
                     {"GET", "/api/v1/items", 1},
                     {"GET", "/api/v1", -1},
                     {"GET", "/api/v1/items/1", -1},
                     {"GET", "/api/V1/items", -1}});
}

TEST(RouteMatch, RootMatchesOnlyRoot) {
  auto m = matcher({"/"});
  expect_matches(m, {{"GET", "/", 0}, {"GET", "/a", -1}});
}

TEST(RouteMatch, PlaceholderAndStarMatchExactlyOneNonEmptySegment) {
  auto m = matcher({"/users/{id}", "/ocr/*", "/a/*/c/{x}"});
  expect_matches(m, {{"GET", "/users/42", 0},
                     {"GET", "/users/alice", 0},
                     {"GET", "/users/{id}", 0},
                     {"GET", "/users", -1},
                     {"GET", "/users/", -1},
                     {"GET", "/users/42/orders", -1},
                     {"GET", "/users//", -1},
                     {"POST", "/ocr/batch", 1},
                     {"POST", "/ocr", -1},
                     {"POST", "/ocr/", -1},
                     {"POST", "/ocr/a/b", -1},
                     {"GET", "/a/b/c/d", 2},
                     {"GET", "/a/b/c", -1},
                     {"GET", "/a/b/x/d", -1}});
}

TEST(RouteMatch, DoubleStarMatchesAnyRestIncludingNothing) {
  auto m = matcher({"/static/**"});
  expect_matches(m, {{"GET", "/static", 0},
                     {"GET", "/static/", 0},
                     {"GET", "/static/a", 0},
                     {"GET", "/static/a/b/c.css", 0},
                     {"GET", "/staticx", -1},
                     {"GET", "/stati", -1},
                     {"GET", "/", -1},
                     {"GET", "/other/static/a", -1}});
}

TEST(RouteMatch, DoubleStarAloneMatchesEverything) {
  auto m = matcher({"/**"});
  expect_matches(m, {{"GET", "/", 0}, {"GET", "/a", 0}, {"DELETE", "/a/b/c/", 0}});
}

TEST(RouteMatch, DoubleStarAfterWildcards) {
  auto m = matcher({"/t/{tenant}/**", "/x/*/**"});
  expect_matches(m, {{"GET", "/t/acme", 0},
                     {"GET", "/t/acme/", 0},
                     {"GET", "/t/acme/a/b", 0},
                     {"GET", "/t", -1},
                     {"GET", "/t/", -1},
                     {"GET", "/x/1", 1},
                     {"GET", "/x", -1}});
}

TEST(RouteMatch, TrailingSlashIsNotSignificant) {
  // Documented choice: "/users" and "/users/" are one route, so an extra slash cannot
  // dodge a limit.
  auto m = matcher({"/users", "/items/"});
  expect_matches(m, {{"GET", "/users", 0},
                     {"GET", "/users/", 0},
                     {"GET", "/items", 1},
                     {"GET", "/items/", 1},
                     {"GET", "/users/x", -1}});
}

TEST(RouteMatch, MethodListsFilterAndAreExact) {
  auto m = matcher({"GET /users/{id}", "GET,HEAD /items/{id}", "POST,PUT,PATCH /items/{id}"});
  expect_matches(m, {{"GET", "/users/1", 0},
                     {"HEAD", "/users/1", -1},  // HEAD is not implied by GET
                     {"POST", "/users/1", -1},
                     {"get", "/users/1", -1},  // request methods are case-sensitive
                     {"GETX", "/users/1", -1},
                     {"GE", "/users/1", -1},
                     {"GET", "/items/1", 1},
                     {"HEAD", "/items/1", 1},
                     {"POST", "/items/1", 2},
                     {"PUT", "/items/1", 2},
                     {"PATCH", "/items/1", 2},
                     {"DELETE", "/items/1", -1},
                     {"", "/items/1", -1}});
}

TEST(RouteMatch, NoMethodsMatchesAnyMethod) {
  auto m = matcher({"/any"});
  for (std::string_view method : {"GET", "HEAD", "POST", "OPTIONS", "BREW", ""}) {
    EXPECT_EQ(m.match(method, "/any"), 0) << method;
  }
}

TEST(RouteMatch, FirstMatchWins) {
  // The SPEC's example policy: "/ocr/batch" precedes "/ocr/*".
  auto m = matcher({"GET /healthz", "POST /auth/login", "POST /ocr/batch", "POST /ocr/*",
                    "GET,HEAD /users/{id}", "/static/**"});
  expect_matches(m, {{"GET", "/healthz", 0},
                     {"POST", "/healthz", -1},
                     {"POST", "/auth/login", 1},
                     {"GET", "/auth/login", -1},
                     {"POST", "/ocr/batch", 2},
                     {"POST", "/ocr/page", 3},
                     {"GET", "/ocr/page", -1},
                     {"HEAD", "/users/7", 4},
                     {"GET", "/static/app.js", 5},
                     {"POST", "/static", 5},
                     {"GET", "/unknown", -1}});

  // Reversed order: the wildcard shadows the literal.
  auto reversed = matcher({"POST /ocr/*", "POST /ocr/batch"});
  EXPECT_EQ(reversed.match("POST", "/ocr/batch"), 0);
}

TEST(RouteMatch, MethodMismatchFallsThroughToLaterRoutes) {
  auto m = matcher({"POST /things", "/things", "/**"});
  expect_matches(m, {{"POST", "/things", 0}, {"GET", "/things", 1}, {"GET", "/other", 2}});
}

TEST(RouteMatch, PatternLiteralsArePercentNormalized) {
  // Paths arrive normalized: unreserved escapes decoded, others upper-case.
  auto m = matcher({"/%7euser/a%40b", "/caf%c3%a9"});
  expect_matches(m, {{"GET", "/~user/a%40b", 0},
                     {"GET", "/~user/a@b", -1},
                     {"GET", "/caf%C3%A9", 1},
                     {"GET", "/caf%c3%a9", -1}});
}

TEST(RouteMatch, LiteralBracesInPathAreNotPlaceholders) {
  auto m = matcher({"/a/{id}"});
  EXPECT_EQ(m.match("GET", "/a/%7Bid%7D"), 0);  // any one segment matches a placeholder
  auto lit = matcher({"/a/b"});
  EXPECT_EQ(lit.match("GET", "/a/%7Bid%7D"), -1);
}

TEST(RouteMatch, CopiesRoutesSoTheInputMayGo) {
  route_matcher m;
  {
    std::vector<route_match> routes{parsed("GET /a/{x}"), parsed("/b/**")};
    m = route_matcher(routes, strict_path_options);
  }
  expect_matches(m, {{"GET", "/a/1", 0}, {"GET", "/b/c", 1}});
}

TEST(RouteMatch, CaseInsensitiveFoldsPatternsLikePaths) {
  const path_options ci{true, false, false};
  auto m = matcher({"POST /Auth/LOGIN", "/users/{ID}/Orders"}, ci);
  expect_matches(m, {{"POST", "/auth/login", 0},  // paths arrive folded
                     {"POST", "/Auth/LOGIN", -1},
                     {"GET", "/users/42/orders", 1}});
  auto strict = matcher({"POST /Auth/LOGIN"});
  expect_matches(strict, {{"POST", "/Auth/LOGIN", 0}, {"POST", "/auth/login", -1}});
}

TEST(RouteMatch, StrippedMatrixParamsInPatternsToo) {
  const path_options strip{false, true, false};
  auto m = matcher({"/a;v=1/b", "/c"}, strip);
  expect_matches(m, {{"GET", "/a/b", 0}, {"GET", "/c", 1}});
  auto kept = matcher({"/a;v=1/b"});
  expect_matches(kept, {{"GET", "/a;v=1/b", 0}, {"GET", "/a/b", -1}});
}

// ---- property: spellings that normalize equal route equal ----

TEST(RouteMatchProperty, SpellingsThatNormalizeEqualRouteEqual) {
  const std::vector<std::string_view> texts = {"POST /auth/login", "GET /users/{id}", "/static/**",
                                               "/api/v1/items/*",  "/a/b/c",          "/**"};
  const std::vector<std::string_view> bases = {"/auth/login",     "/users/42", "/static/app/x.js",
                                               "/api/v1/items/7", "/a/b/c",    "/elsewhere/q"};
  std::mt19937 rng(8);
  std::string want_path, path;
  for (int bits = 0; bits < 8; ++bits) {
    const path_options options{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
    std::vector<route_match> routes;
    for (auto t : texts) routes.push_back(parsed(t));
    const route_matcher m(routes, options);
    for (const auto base : bases) {
      ASSERT_EQ(normalize_path(base, options, want_path), path_status::ok);
      for (std::string_view method : {"GET", "POST"}) {
        const int want = m.match(method, want_path);
        for (int i = 0; i < 300; ++i) {
          const std::string spelling = respell(base, options, rng);
          ASSERT_EQ(normalize_path(spelling, options, path), path_status::ok) << spelling;
          ASSERT_EQ(path, want_path) << spelling << " options " << bits;
          ASSERT_EQ(m.match(method, path), want) << spelling << " options " << bits;
        }
      }
    }
  }
}

TEST(RouteMatch, MatchDoesNotAllocate) {
  auto m = matcher({"GET /healthz", "POST /ocr/batch", "POST /ocr/*", "GET,HEAD /users/{id}",
                    "/static/**", "/a/b/c/d/e/f"});
  sluice::test::allocation_scope scope;
  int sum = 0;
  for (int i = 0; i < 100; ++i) {
    sum += m.match("GET", "/users/42") + m.match("POST", "/ocr/x") + m.match("GET", "/static/a/b") +
           m.match("DELETE", "/nothing/here/at/all");
  }
  EXPECT_EQ(scope.count(), 0u);
  EXPECT_EQ(sum, 100 * (3 + 2 + 4 - 1));
}

}  // namespace
