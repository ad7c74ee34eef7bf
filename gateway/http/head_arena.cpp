#include "http/head_arena.hpp"

#include <algorithm>

namespace sluice::net {
namespace {

constexpr std::size_t first_buffer_bytes = 2048;

}  // namespace

void* head_arena::allocate_beyond(std::size_t bytes, std::size_t align) {
  if (buffer_ == nullptr && bytes <= first_buffer_bytes) {
    buffer_ = std::make_unique_for_overwrite<std::byte[]>(first_buffer_bytes);
    capacity_ = first_buffer_bytes;
    used_ = bytes;
    return buffer_.get();
  }
  // new[] aligns for any fundamental type, which is all Beast asks.
  overflow_.push_back(std::make_unique_for_overwrite<std::byte[]>(bytes));
  overflow_bytes_ += bytes + align;
  return overflow_.back().get();
}

void head_arena::reset() {
  used_ = 0;
  if (overflow_.empty()) return;
  // The last head did not fit: keep a buffer that would have held it, up to the cap.
  const std::size_t wanted = std::min(capacity_ + overflow_bytes_, max_kept_bytes);
  if (wanted > capacity_) {
    buffer_ = std::make_unique_for_overwrite<std::byte[]>(wanted);
    capacity_ = wanted;
  }
  overflow_.clear();
  overflow_bytes_ = 0;
}

}  // namespace sluice::net
