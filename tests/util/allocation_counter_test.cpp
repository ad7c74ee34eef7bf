#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "allocation_counter.hpp"

// Replaces the global (unaligned) operator new/delete with malloc/free plus a per-thread
// counter. Aligned and nothrow forms keep their defaults, which forward to these or to
// aligned_alloc/free. noinline: once inlined, GCC sees new/free pairs in one function and
// warns (-Wmismatched-new-delete) although they match.
namespace {
thread_local std::size_t allocation_count = 0;
}  // namespace

std::size_t sluice::test::allocations() {
  return allocation_count;
}

[[gnu::noinline]] void* operator new(std::size_t size) {
  ++allocation_count;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t size) {
  return ::operator new(size);
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

TEST(AllocationCounter, CountsThisThreadsAllocations) {
  sluice::test::allocation_scope scope;
  auto* s = new std::string(100, 'x');  // the object and its heap buffer
  EXPECT_GE(scope.count(), 2u);
  delete s;
  sluice::test::allocation_scope none;
  int x = 1;
  x += 1;
  EXPECT_EQ(none.count(), 0u);
  EXPECT_EQ(x, 2);
}

}  // namespace
