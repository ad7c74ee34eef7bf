// concurrency: the verdict for slots held, the memory state's lease, and release.
#include "limit/algorithms/concurrency.hpp"

#include <gtest/gtest.h>

#include "harness.hpp"

namespace sluice::limit::algo_test {
namespace {

const limit_params three = limit_params::make(algorithm::concurrency, 3, 30 * sec, 0);

TEST(Concurrency, AdmitsUpToMaxHeldAtOnce) {
  concurrency::state s;
  for (int i = 0; i < 3; ++i) {
    const auto r = concurrency::evaluate(three, s, epoch_2026, 1);
    ASSERT_TRUE(r.verdict.allowed) << i;
    EXPECT_EQ(r.verdict.limit, 3);
    EXPECT_EQ(r.verdict.remaining, 2 - i);
    EXPECT_EQ(r.verdict.reset, 0);
    EXPECT_EQ(r.expires_at, epoch_2026 + 30 * sec);
    s = r.next;
  }
  const auto full = concurrency::evaluate(three, s, epoch_2026, 1);
  EXPECT_FALSE(full.verdict.allowed);
  EXPECT_EQ(full.verdict.remaining, 0);
  EXPECT_EQ(full.verdict.retry_after, concurrency::retry_after);
  EXPECT_EQ(full.next, s) << "a denial changes nothing";
}

TEST(Concurrency, ReleaseFreesASlotAndTheLastOneTheKey) {
  concurrency::state s{2, epoch_2026 + 30 * sec};
  auto r = concurrency::release(three, s, epoch_2026 + sec);
  EXPECT_EQ(r.next.held, 1);
  EXPECT_EQ(r.expires_at, epoch_2026 + 30 * sec) << "a release does not extend the lease";
  EXPECT_EQ(r.verdict.remaining, 2);
  r = concurrency::release(three, r.next, epoch_2026 + 2 * sec);
  EXPECT_EQ(r.next, concurrency::state{});
  EXPECT_EQ(r.expires_at, epoch_2026 + 2 * sec) << "nothing held: fresh now";
  r = concurrency::release(three, r.next, epoch_2026 + 3 * sec);
  EXPECT_EQ(r.next.held, 0) << "never below zero";
}

TEST(Concurrency, SlotsAreGivenUpWhenTheLeaseEnds) {
  const concurrency::state s{3, epoch_2026 + 30 * sec};
  EXPECT_FALSE(concurrency::evaluate(three, s, epoch_2026 + 30 * sec - 1, 1).verdict.allowed);
  const auto r = concurrency::evaluate(three, s, epoch_2026 + 30 * sec, 1);
  EXPECT_TRUE(r.verdict.allowed);
  EXPECT_EQ(r.next.held, 1) << "the expired holds are gone";
  // A release after the lease finds nothing held.
  EXPECT_EQ(concurrency::release(three, s, epoch_2026 + 31 * sec).next.held, 0);
}

TEST(Concurrency, APeekTakesNothingAndALoweredMaxReportsZero) {
  const concurrency::state s{3, epoch_2026 + 30 * sec};
  const auto peek = concurrency::evaluate(three, s, epoch_2026, 0);
  EXPECT_TRUE(peek.verdict.allowed);
  EXPECT_EQ(peek.verdict.remaining, 0);
  EXPECT_EQ(peek.next, s);
  const limit_params one = limit_params::make(algorithm::concurrency, 1, 30 * sec, 0);
  const auto lowered = concurrency::evaluate(one, s, epoch_2026, 1);
  EXPECT_FALSE(lowered.verdict.allowed);
  EXPECT_EQ(lowered.verdict.remaining, 0);
}

}  // namespace
}  // namespace sluice::limit::algo_test
