#include "limit/path.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include "../util/allocation_counter.hpp"

using sluice::limit::collapse_ids;
using sluice::limit::normalize_path;

namespace {

struct normalize_case {
  std::string_view raw;
  std::string_view want;
};

class PathNormalize : public testing::TestWithParam<normalize_case> {};

TEST_P(PathNormalize, Normalizes) {
  const auto& c = GetParam();
  std::string out = "garbage from a previous request";
  ASSERT_TRUE(normalize_path(c.raw, out)) << c.raw;
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
        normalize_case{"/a%2Fb", "/a%2Fb"}, normalize_case{"/a%2fb", "/a%2Fb"},
        normalize_case{"/a%2F..%2Fb", "/a%2F..%2Fb"}, normalize_case{"/%2f/..", "/"},
        normalize_case{"/caf%c3%a9", "/caf%C3%A9"}, normalize_case{"/%20x", "/%20x"},
        normalize_case{"/%25", "/%25"}, normalize_case{"/%2525", "/%2525"},
        normalize_case{"/%00", "/%00"}, normalize_case{"/%ff", "/%FF"},
        // Other characters pass through untouched.
        normalize_case{"/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="}));

class PathNormalizeRejects : public testing::TestWithParam<std::string_view> {};

TEST_P(PathNormalizeRejects, Rejects) {
  std::string out;
  EXPECT_FALSE(normalize_path(GetParam(), out)) << GetParam() << " -> " << out;
}

INSTANTIATE_TEST_SUITE_P(Path, PathNormalizeRejects,
                         testing::Values("", "a", "a/b", "*", "?x", "http://h/a", "%2Fa", "/%",
                                         "/%4", "/a%", "/a%4", "/%zz", "/%g1", "/%1g", "/%%41",
                                         "/a/%4/b", "/ok/%2", "/%-1"));

TEST(PathNormalize, ReusesTheCallersBufferWithoutGrowingIt) {
  std::string out;
  out.reserve(64);
  const auto* data = out.data();
  ASSERT_TRUE(normalize_path("/a/./b/../c/%41%2f//d", out));
  EXPECT_EQ(out, "/a/c/A%2F/d");
  ASSERT_TRUE(normalize_path("/x", out));
  EXPECT_EQ(out, "/x");
  EXPECT_EQ(out.data(), data);
}

TEST(PathNormalize, IsIdempotent) {
  for (std::string_view raw : {"/a/./b/../c", "/%2e%2e/a%2fb/%41", "//x//y/", "/a/b/..", "/"}) {
    std::string once, twice;
    ASSERT_TRUE(normalize_path(raw, once));
    ASSERT_TRUE(normalize_path(once, twice));
    EXPECT_EQ(once, twice) << raw;
  }
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
  ASSERT_TRUE(
      normalize_path("//users/%31%32%33/./orders/../orders/9F8E7D6C5B4A3F2E1D0C", normalized));
  collapse_ids(normalized, collapsed);
  EXPECT_EQ(collapsed, "/users/{id}/orders/{id}");
}

TEST(PathNormalize, DoesNotAllocateIntoAWarmBuffer) {
  std::string normalized, collapsed;
  normalized.reserve(256);
  collapsed.reserve(256);
  sluice::test::allocation_scope scope;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(
        normalize_path("//api/./v1/users/%31%32/../12345/orders/%2e%2E/a%2fb/", normalized));
    collapse_ids(normalized, collapsed);
  }
  EXPECT_EQ(scope.count(), 0u);
  EXPECT_EQ(collapsed, "/api/v1/users/{id}/a%2Fb/");
}

}  // namespace
