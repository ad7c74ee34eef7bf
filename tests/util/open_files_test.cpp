#include "util/open_files.hpp"

#include <sys/resource.h>

#include <gtest/gtest.h>

#include <climits>

namespace sluice {
namespace {

TEST(OpenFiles, DerivedConnectionsLeaveRoomForUpstreamRedisAndTheReserve) {
  // (1024 - 64 reserved - 256 idle upstream - 2 Redis) / 2
  EXPECT_EQ(derived_max_connections(1024, 256, 2), 351);
  EXPECT_EQ(derived_max_connections(1024 * 1024, 256, 0), (1024 * 1024 - 64 - 256) / 2);
  EXPECT_EQ(derived_max_connections(65536, 0, 0), (65536 - 64) / 2);
}

TEST(OpenFiles, DerivedConnectionsHaveAFloorAndACeiling) {
  EXPECT_EQ(derived_max_connections(256, 256, 0), min_derived_connections);
  EXPECT_EQ(derived_max_connections(0, 0, 0), min_derived_connections);
  EXPECT_EQ(derived_max_connections(RLIM_INFINITY, 256, 2), INT_MAX);
}

TEST(OpenFiles, RaisesTheSoftLimitToTheHardOne) {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= 128) GTEST_SKIP() << "hard limit too low";
  rl.rlim_cur = 128;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);

  const open_file_limit raised = raise_open_file_limit();
  EXPECT_EQ(raised.error, "");
  EXPECT_EQ(raised.before, 128u);
  EXPECT_EQ(raised.hard, rl.rlim_max);
  EXPECT_GT(raised.soft, 128u);
  if (rl.rlim_max != RLIM_INFINITY) {
    EXPECT_EQ(raised.soft, rl.rlim_max);
  }
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  EXPECT_EQ(rl.rlim_cur, raised.soft);

  const open_file_limit again = raise_open_file_limit();  // nothing left to raise
  EXPECT_EQ(again.error, "");
  EXPECT_EQ(again.before, raised.soft);
  EXPECT_EQ(again.soft, raised.soft);
}

}  // namespace
}  // namespace sluice
