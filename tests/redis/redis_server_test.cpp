// The test fixture itself: a real redis-server starts, answers, stops and restarts.
#include <gtest/gtest.h>

#include "support/redis_server.hpp"

namespace sluice::test {

TEST(RedisServerFixture, StartsAnswersAndRestartsEmpty) {
  redis_server server;
  EXPECT_EQ(server.command({"SET", "k", "v"}), "OK");
  EXPECT_EQ(server.command({"GET", "k"}), "v");
  server.stop();
  EXPECT_THROW(server.command({"PING"}), std::runtime_error);
  server.start();
  EXPECT_EQ(server.command({"GET", "k"}), "(nil)");
}

}  // namespace sluice::test
