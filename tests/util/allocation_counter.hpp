// Counts heap allocations made by the calling thread, so tests can assert that a hot
// path does not allocate. The global operator new replacement that feeds it lives in
// allocation_counter_test.cpp (one per test binary). Thread-safe: counters are per thread.
#pragma once

#include <cstddef>

namespace sluice::test {

// Allocations made by this thread since the program started.
std::size_t allocations();

// Allocations made by this thread during the lifetime of the object.
class allocation_scope {
 public:
  allocation_scope() : start_(allocations()) {}
  std::size_t count() const { return allocations() - start_; }

 private:
  std::size_t start_;
};

}  // namespace sluice::test
