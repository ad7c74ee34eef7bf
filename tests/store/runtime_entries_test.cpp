// runtime_entries without Redis: access entries with a TTL stop applying when they
// expire and are then dropped, so the request path goes back to skipping lookups.
#include "store/runtime_entries.hpp"

#include <gtest/gtest.h>

namespace sluice::app {
namespace {

using identity::access_kind;
using identity::subject_kind;

constexpr limit::micros second = 1'000'000;
constexpr limit::micros t0 = 1'700'000'000 * second;

template <class T>
net::awaitable<void> store(net::awaitable<T> task, T* out) {
  *out = co_await std::move(task);
}

// Runs one coroutine to completion on its own io_context.
template <class T>
T run(net::awaitable<T> task) {
  net::asio::io_context io;
  T out{};
  net::asio::co_spawn(io, store(std::move(task), &out), net::asio::detached);
  io.run();
  return out;
}

void run(net::awaitable<void> task) {
  net::asio::io_context io;
  net::asio::co_spawn(io, std::move(task), net::asio::detached);
  io.run();
}

identity::override_entry deny_ip(std::string ip, limit::micros expires_at) {
  return {access_kind::deny, subject_kind::ip, std::move(ip), expires_at};
}

class RuntimeEntries : public ::testing::Test {
 protected:
  identity::memory_overrides cache_;
  runtime_entries entries_{cache_, nullptr, "sluice:"};
};

TEST_F(RuntimeEntries, ExpiredEntriesAreDroppedAtRefresh) {
  ASSERT_TRUE(run(entries_.put_access(deny_ip("192.0.2.1", t0 + 2 * second))));
  EXPECT_TRUE(cache_.contains(access_kind::deny, subject_kind::ip, "192.0.2.1", t0));
  run(entries_.refresh(t0 + second));
  EXPECT_FALSE(cache_.empty());

  run(entries_.refresh(t0 + 2 * second));
  EXPECT_FALSE(cache_.contains(access_kind::deny, subject_kind::ip, "192.0.2.1", t0));
  EXPECT_TRUE(cache_.empty()) << "an expired entry keeps every request looking it up";
}

TEST_F(RuntimeEntries, LiveEntriesSurviveTheDrop) {
  run(entries_.put_access(deny_ip("192.0.2.1", t0 + second)));
  run(entries_.put_access(deny_ip("192.0.2.2", 0)));
  run(entries_.put_access(deny_ip("192.0.2.3", t0 + 5 * second)));
  run(entries_.put_tier("key-a", "pro"));
  // Put again with a longer TTL: the earlier expiry no longer applies.
  run(entries_.put_access(deny_ip("192.0.2.4", t0 + second)));
  run(entries_.put_access(deny_ip("192.0.2.4", t0 + 9 * second)));

  run(entries_.refresh(t0 + 2 * second));
  const auto live = cache_.list_access(t0);
  ASSERT_EQ(live.size(), 3u);
  EXPECT_EQ(live[0].value, "192.0.2.2");
  EXPECT_EQ(live[1].value, "192.0.2.3");
  EXPECT_EQ(live[2].value, "192.0.2.4");
  EXPECT_EQ(cache_.tier_of("key-a", t0), "pro");

  run(entries_.refresh(t0 + 9 * second));
  ASSERT_EQ(cache_.list_access(t0).size(), 1u);
  run(entries_.remove_access(access_kind::deny, subject_kind::ip, "192.0.2.2"));
  run(entries_.remove_tier("key-a"));
  EXPECT_TRUE(cache_.empty());
}

}  // namespace
}  // namespace sluice::app
