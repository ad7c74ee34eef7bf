#include "util/text_buffer.hpp"

#include <algorithm>

namespace sluice {

void text_buffer::grow(std::size_t n) {
  const std::size_t capacity = std::max<std::size_t>({size_ + n, capacity_ * 2, 1024});
  auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ != 0) std::memcpy(bigger.get(), data_.get(), size_);
  data_ = std::move(bigger);
  capacity_ = capacity;
}

}  // namespace sluice
