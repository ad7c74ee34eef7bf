// Polls a condition that another thread makes true, up to a bound.
#pragma once

#include <chrono>
#include <thread>

namespace sluice::test {

// True as soon as pred() is (checked every 2 ms); false once `limit` has passed.
template <class Pred>
bool wait_until(Pred pred, std::chrono::steady_clock::duration limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace sluice::test
