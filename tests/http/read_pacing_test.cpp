#include "http/read_pacing.hpp"

#include <gtest/gtest.h>

namespace sluice::net {
namespace {

// Feeds a whole window of posted reads, `found` of them finding bytes.
void learn_window(read_pacing& p, unsigned found) {
  for (unsigned i = 0; i < read_pacing::window; ++i) p.learn(i < found);
}

// How many of `reads` reads would be posted.
unsigned posted_of(read_pacing& p, unsigned reads, bool not_alone = true) {
  unsigned posted = 0;
  for (unsigned i = 0; i < reads; ++i) posted += p.post_next(not_alone) ? 1 : 0;
  return posted;
}

TEST(ReadPacing, AloneOnTheWorkerNoReadIsPosted) {
  read_pacing p;
  learn_window(p, read_pacing::window);  // even once posting paid
  ASSERT_TRUE(p.posting());
  EXPECT_EQ(posted_of(p, 100, false), 0U);
}

TEST(ReadPacing, AtFirstOnlyProbesArePosted) {
  read_pacing p;
  EXPECT_FALSE(p.posting());
  EXPECT_EQ(posted_of(p, 10 * read_pacing::probe_every), 10U);
}

TEST(ReadPacing, PostsEveryReadOnceMostPostedReadsFoundBytes) {
  read_pacing p;
  learn_window(p, read_pacing::window / 2 + 1);
  EXPECT_TRUE(p.posting());
  EXPECT_EQ(posted_of(p, 100), 100U);
}

TEST(ReadPacing, StopsPostingWhenHalfOrMoreFoundNothing) {
  read_pacing p;
  learn_window(p, read_pacing::window);
  ASSERT_TRUE(p.posting());
  learn_window(p, read_pacing::window / 2);  // half found nothing: break-even is a loss
  EXPECT_FALSE(p.posting());
  EXPECT_EQ(posted_of(p, 4 * read_pacing::probe_every), 4U);
}

TEST(ReadPacing, AVerdictWaitsForAWholeWindow) {
  read_pacing p;
  for (unsigned i = 0; i + 1 < read_pacing::window; ++i) p.learn(true);
  EXPECT_FALSE(p.posting());  // one short of a window
  p.learn(true);
  EXPECT_TRUE(p.posting());
  for (unsigned i = 0; i + 1 < read_pacing::window; ++i) p.learn(false);
  EXPECT_TRUE(p.posting());  // the next verdict needs the whole next window
  p.learn(false);
  EXPECT_FALSE(p.posting());
}

}  // namespace
}  // namespace sluice::net
