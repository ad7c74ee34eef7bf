#include "http/response_head.hpp"

#include <cstring>
#include <limits>

#include "util/ascii.hpp"

namespace sluice::net {
namespace {

// basic_fields' bound on a name or value (it stores their size, plus ": " or "\r\n",
// in 16 bits).
constexpr std::size_t max_text_bytes = std::numeric_limits<std::uint16_t>::max() - 2;

}  // namespace

std::string_view response_parser::keep(std::string_view text) {
  if (text.empty()) return {};
  auto* copy = static_cast<char*>(arena_.allocate(text.size(), 1));
  std::memcpy(copy, text.data(), text.size());
  return {copy, text.size()};
}

void response_parser::on_response_impl(int code, beast::string_view reason, int version,
                                       error_code& ec) {
  status_ = code;
  version_ = static_cast<unsigned>(version);
  reason_ = keep(as_std(reason));
  ec = {};
}

void response_parser::on_field_impl(http::field name, beast::string_view name_string,
                                    beast::string_view value, error_code& ec) {
  if (name_string.size() > max_text_bytes || value.size() > max_text_bytes) {
    ec = http::error::header_limit;
    return;
  }
  // One copy of the name and the value together.
  auto* copy = static_cast<char*>(arena_.allocate(name_string.size() + value.size(), 1));
  std::memcpy(copy, name_string.data(), name_string.size());
  if (!value.empty()) std::memcpy(copy + name_string.size(), value.data(), value.size());
  fields_.push_back({name, {copy, name_string.size()}, {copy + name_string.size(), value.size()}});
  ec = {};
}

std::size_t response_parser::on_body_impl(beast::string_view piece, error_code& ec) {
  if (body_.data == nullptr) {
    ec = http::error::need_buffer;
    return 0;
  }
  const std::size_t n = std::min(body_.size, piece.size());
  if (n != 0) std::memcpy(body_.data, piece.data(), n);  // an empty piece may have no data
  body_.data = static_cast<char*>(body_.data) + n;
  body_.size -= n;
  ec = n == piece.size() ? error_code{} : error_code{http::error::need_buffer};
  return n;
}

std::string_view response_parser::reason() const {
  if (!reason_.empty()) return reason_;
  return as_std(http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status_))));
}

std::string_view response_parser::value_of(http::field name) const {
  for (const auto& f : fields_) {
    if (f.name == name) return f.value;
  }
  return {};
}

std::optional<std::string_view> response_parser::last_value_of(std::string_view name) const {
  std::optional<std::string_view> last;
  for (const auto& f : fields_) {
    if (iequals(f.name_text, name)) last = f.value;
  }
  return last;
}

response_parser& emplace_parser(std::optional<response_parser>& parser, head_arena& arena) {
  parser.reset();
  arena.reset();
  return parser.emplace(arena);
}

}  // namespace sluice::net
