#include "limit/header_list.hpp"

#include "util/ascii.hpp"

namespace sluice::limit {

header_field header_list::operator[](std::size_t i) const {
  const field_at& f = fields_[i];
  const char* at = text_.data() + f.start;
  return {{at, f.name_size}, {at + f.name_size + 2, f.value_size}};
}

bool header_list::has(std::string_view name) const {
  if ((name_lengths_ & length_bit(name.size())) == 0) return false;
  for (const field_at& f : fields_) {
    if (f.name_size == name.size() && iequals({text_.data() + f.start, f.name_size}, name)) {
      return true;
    }
  }
  return false;
}

}  // namespace sluice::limit
