// The memory of a parsed message head. Beast's basic_fields allocates one block per
// field (and one for the target or reason); from the heap that is a malloc and a free
// per field and request. A head_arena hands the blocks out of one buffer that is
// reset, not freed, when the connection's next head is parsed: no allocation per
// field on the request path. Used by one session, on one thread.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>

#include "net/asio.hpp"

namespace sluice::net {

class head_arena {
 public:
  head_arena() = default;
  head_arena(const head_arena&) = delete;
  head_arena& operator=(const head_arena&) = delete;

  // `align` a power of two. The common case, room left in the buffer, is inline: it
  // runs for every field of every head.
  void* allocate(std::size_t bytes, std::size_t align) {
    const std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (at + bytes <= capacity_) {
      used_ = at + bytes;
      return buffer_.get() + at;
    }
    return allocate_beyond(bytes, align);
  }
  // Forgets every block handed out. Only when no head allocated here is alive.
  void reset();

  // The buffer kept from one head to the next is at most this large; a head that
  // needs more (up to server.max_header_bytes) takes blocks that reset() frees.
  static constexpr std::size_t max_kept_bytes = 16 * 1024;

 private:
  void* allocate_beyond(std::size_t bytes, std::size_t align);

  std::unique_ptr<std::byte[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::vector<std::unique_ptr<std::byte[]>> overflow_;
  std::size_t overflow_bytes_ = 0;
};

// An allocator over a head_arena; default-constructed (no arena), it uses the heap,
// so heads built outside a session (tests, tools) need no arena.
template <class T>
class arena_allocator {
 public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  arena_allocator() noexcept = default;
  explicit arena_allocator(head_arena* arena) noexcept : arena_(arena) {}
  template <class U>
  arena_allocator(const arena_allocator<U>& other) noexcept : arena_(other.arena()) {}

  T* allocate(std::size_t n) {
    if (arena_ == nullptr) return std::allocator<T>{}.allocate(n);
    return static_cast<T*>(arena_->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (arena_ == nullptr) std::allocator<T>{}.deallocate(p, n);
  }
  head_arena* arena() const noexcept { return arena_; }

  template <class U>
  bool operator==(const arena_allocator<U>& other) const noexcept {
    return arena_ == other.arena();
  }

 private:
  head_arena* arena_ = nullptr;
};

// The heads Sluice parses and the parsers that fill them.
using head_fields = http::basic_fields<arena_allocator<char>>;
using request_head = http::request_header<head_fields>;
using request_message = http::request<http::buffer_body, head_fields>;  // request_parser's
using request_parser = http::request_parser<http::buffer_body, arena_allocator<char>>;
// (The upstream's response heads: response_head.hpp.)

// Constructs `parser` afresh with its head in `arena`, which is reset first: the
// previous head (destroyed here) was its only user.
inline request_parser& emplace_parser(std::optional<request_parser>& parser, head_arena& arena) {
  parser.reset();
  arena.reset();
  return parser.emplace(std::piecewise_construct, std::make_tuple(),
                        std::make_tuple(arena_allocator<char>(&arena)));
}

}  // namespace sluice::net
