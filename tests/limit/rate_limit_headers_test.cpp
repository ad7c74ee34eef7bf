// Header values and the 429 body, byte for byte, for every header mode (SPEC 5).
#include "limit/rate_limit_headers.hpp"

#include <gtest/gtest.h>

namespace sluice::limit {
namespace {

constexpr micros t0 = 1'767'225'600LL * micros_per_second;  // a whole minute
constexpr micros minute = 60 * micros_per_second;

std::string dump(const header_list& h) {
  std::string out;
  for (const auto& f : h) out += std::string(f.name) + ": " + std::string(f.value) + "\n";
  return out;
}

std::string body_of(const evaluation& ev) {
  text_buffer body;
  append_rejection_body(ev, body);
  return std::string(body.view());
}

class RateLimitHeadersTest : public ::testing::Test {
 protected:
  RateLimitHeadersTest() {
    config::limit_def per_ip;
    per_ip.name = "per-ip";
    per_ip.key = {{config::key_part_kind::ip, ""}};
    per_ip.rate = {10, minute};  // token bucket, burst 10: one token per 6 s
    config::limit_def global;
    global.name = "global";
    global.key = {{config::key_part_kind::global, ""}};
    global.algo = algorithm::fixed_window;
    global.rate = {100, minute};
    config::limit_def shadow = per_ip;
    shadow.name = "shadow";
    shadow.shadow = true;
    cfg_.policy.limits = {per_ip, global, shadow};
    pol_ = std::make_unique<policy>(cfg_, 7);
  }

  // Sends `n` requests at t0 and renders the last one's headers with `headers`.
  std::string headers_after(int n, config::headers_config headers) {
    for (int i = 0; i < n; ++i) {
      request_facts f{"GET", "/", *ip_address::parse("192.0.2.1"), false, nullptr};
      decide(*pol_, f, nullptr, store_, t0, ev_);
    }
    header_list out;
    append_rate_limit_headers(ev_, headers, out);
    return dump(out);
  }

  config::loaded_config cfg_;
  std::unique_ptr<policy> pol_;
  memory_store store_{1000};
  evaluation ev_;
};

config::headers_config mode(
    config::standard_headers standard, bool legacy = false,
    config::legacy_reset_format reset = config::legacy_reset_format::epoch) {
  config::headers_config h;
  h.legacy = legacy;
  h.legacy_reset = reset;
  h.standard = standard;
  return h;
}

TEST_F(RateLimitHeadersTest, LegacyWithEpochReset) {
  EXPECT_EQ(headers_after(1, mode(config::standard_headers::off, true)),
            "X-RateLimit-Limit: 10\n"
            "X-RateLimit-Remaining: 9\n"
            "X-RateLimit-Reset: 1767225606\n"
            "X-RateLimit-Used: 1\n"
            "X-RateLimit-Scope: per-ip\n");
}

TEST_F(RateLimitHeadersTest, LegacyWithDeltaReset) {
  EXPECT_EQ(headers_after(
                2, mode(config::standard_headers::off, true, config::legacy_reset_format::delta)),
            "X-RateLimit-Limit: 10\n"
            "X-RateLimit-Remaining: 8\n"
            "X-RateLimit-Reset: 12\n"
            "X-RateLimit-Used: 2\n"
            "X-RateLimit-Scope: per-ip\n");
}

TEST_F(RateLimitHeadersTest, Draft6) {
  EXPECT_EQ(headers_after(1, mode(config::standard_headers::draft6)),
            "RateLimit-Limit: 10\n"
            "RateLimit-Remaining: 9\n"
            "RateLimit-Reset: 6\n"
            "RateLimit-Policy: 10;w=60, 100;w=60\n");
}

TEST_F(RateLimitHeadersTest, Draft7) {
  EXPECT_EQ(headers_after(1, mode(config::standard_headers::draft7)),
            "RateLimit: limit=10, remaining=9, reset=6\n"
            "RateLimit-Policy: 10;w=60, 100;w=60\n");
}

TEST_F(RateLimitHeadersTest, Draft10ListsEveryEnforcedLimit) {
  EXPECT_EQ(headers_after(1, mode(config::standard_headers::draft10)),
            "RateLimit-Policy: \"per-ip\";q=10;w=60, \"global\";q=100;w=60\n"
            "RateLimit: \"per-ip\";r=9;t=6, \"global\";r=99;t=60\n");
}

TEST_F(RateLimitHeadersTest, LimitedRequestCarriesRetryAfterAndTheDenyingLimit) {
  config::headers_config h = mode(config::standard_headers::draft6, true);
  EXPECT_EQ(headers_after(11, h),
            "X-RateLimit-Limit: 10\n"
            "X-RateLimit-Remaining: 0\n"
            "X-RateLimit-Reset: 1767225660\n"
            "X-RateLimit-Used: 10\n"
            "X-RateLimit-Scope: per-ip\n"
            "RateLimit-Limit: 10\n"
            "RateLimit-Remaining: 0\n"
            "RateLimit-Reset: 60\n"
            "RateLimit-Policy: 10;w=60, 100;w=60\n"
            "Retry-After: 6\n");
  EXPECT_EQ(body_of(ev_), R"({"error":{"code":"rate_limit_exceeded",)"
                          R"("message":"Rate limit exceeded for 'per-ip'. Retry after 6 seconds.",)"
                          R"("limit":"per-ip","retry_after":6,"reset":1767225660}})");
  h.retry_after = false;
  header_list out;
  append_rate_limit_headers(ev_, h, out);
  EXPECT_EQ(dump(out).find("Retry-After"), std::string::npos);
}

TEST_F(RateLimitHeadersTest, NoEnforcedLimitMeansNoHeaders) {
  cfg_.policy.limits = {cfg_.policy.limits[2]};  // only the shadow limit
  pol_ = std::make_unique<policy>(cfg_, 7);
  EXPECT_EQ(headers_after(1, mode(config::standard_headers::draft6, true)), "");
}

TEST_F(RateLimitHeadersTest, CostLargerThanTheCapacitySaysSo) {
  cfg_.policy.routes.push_back({"batch", {"POST"}, "/batch", 50, false, {}});
  pol_ = std::make_unique<policy>(cfg_, 7);
  request_facts f{"POST", "/batch", *ip_address::parse("192.0.2.1"), false, nullptr};
  decide(*pol_, f, nullptr, store_, t0, ev_);
  ASSERT_EQ(ev_.result, outcome::limited);
  EXPECT_EQ(
      body_of(ev_),
      R"({"error":{"code":"rate_limit_exceeded",)"
      R"("message":"Request cost 50 exceeds the capacity of limit 'per-ip' (10); it can never pass.",)"
      R"("limit":"per-ip","retry_after":60,"reset":1767225600}})");
}

}  // namespace
}  // namespace sluice::limit
