// config.yaml's identity.jwt and the claims it lends (issue 14, JWT identity): every
// field, the JWKS loaded with the config, and one fixture per error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config_test_support.hpp"
#include "util/jwt.hpp"

namespace sluice::config {
namespace {

using ::testing::ElementsAre;
using testing::errors_of;
using testing::fake_env;
using testing::fixture;
using ::testing::HasSubstr;

// The expected line for an error in server fixture `name`.
const auto at = &testing::server_error_at;

TEST(ConfigJwt, ReadsEveryFieldAndLoadsTheKeySet) {
  auto result = load_config(fixture("server/jwt.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const identity_config& id = result.config->server.identity;
  ASSERT_TRUE(id.jwt);
  EXPECT_EQ(id.jwt->header, "x-token") << "lower case, as headers are looked up";
  EXPECT_EQ(id.jwt->jwks_file, fixture("server/jwt/jwks.json")) << "beside config.yaml";
  EXPECT_THAT(id.jwt->issuers, ElementsAre("https://issuer.test/"));
  EXPECT_THAT(id.jwt->audiences, ElementsAre("api", "web"));
  EXPECT_TRUE(id.jwt->required);
  EXPECT_EQ(id.jwt->leeway_seconds, 60);
  ASSERT_NE(id.jwt->keys, nullptr);
  EXPECT_EQ(id.jwt->keys->size(), 1u);
  EXPECT_EQ(id.tier_claim, "plan");
  EXPECT_EQ(id.user_claim, "sub");
}

TEST(ConfigJwt, DefaultsAreAuthorizationOptionalAndThirtySeconds) {
  auto result = load_config(fixture("server/jwt_defaults.yaml"), fake_env());
  ASSERT_TRUE(result.ok()) << testing::error_lines(result)[0];
  const identity_config& id = result.config->server.identity;
  ASSERT_TRUE(id.jwt);
  EXPECT_EQ(id.jwt->header, "authorization");
  EXPECT_TRUE(id.jwt->issuers.empty());
  EXPECT_TRUE(id.jwt->audiences.empty());
  EXPECT_FALSE(id.jwt->required);
  EXPECT_EQ(id.jwt->leeway_seconds, 30);
  EXPECT_TRUE(id.tier_claim.empty());
  EXPECT_TRUE(id.user_claim.empty());
}

TEST(ConfigJwt, LeewayIsAtMostFiveMinutes) {
  EXPECT_THAT(errors_of("server/jwt_leeway_too_long.yaml"),
              ElementsAre(at("jwt_leeway_too_long",
                             "2:44: identity.jwt.leeway: must be at most 5m (got 10m)")));
}

TEST(ConfigJwt, AKeySetThatDoesNotParseIsAnErrorAtItsName) {
  const auto errors = errors_of("server/jwt_bad_jwks.yaml");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr(at("jwt_bad_jwks", "2:21: identity.jwt.jwks_file: '") +
                                   fixture("server/jwt/short_key.json") + "': keys[0]"));
}

TEST(ConfigJwt, TheKeySetIsRequired) {
  EXPECT_THAT(errors_of("server/jwt_no_jwks_file.yaml"),
              ElementsAre(at("jwt_no_jwks_file",
                             "2:8: identity.jwt: missing required key 'jwks_file' (the JSON Web "
                             "Key Set to verify with)")));
}

TEST(ConfigJwt, ClaimsNeedATokenToReadThemFrom) {
  EXPECT_THAT(errors_of("server/claim_without_jwt.yaml"),
              ElementsAre(at("claim_without_jwt",
                             "2:18: identity.tier.claim: a claim needs identity.jwt (the token "
                             "to read it from)")));
  EXPECT_POLICY_ERROR("jwt_key_without_identity",
                      "2:5: limits[0].key: key part jwt:<claim> needs identity.jwt in "
                      "config.yaml (the token to read the claim from)");
  EXPECT_POLICY_ERROR("jwt_key_empty_claim",
                      "3:10: limits[0].key: 'jwt:' needs a claim name (printable ASCII, at most "
                      "128 bytes), e.g. jwt:org_id");
}

}  // namespace
}  // namespace sluice::config
