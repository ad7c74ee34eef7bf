// The response fields Sluice adds to an answer (the rate-limit fields, WWW-Authenticate),
// kept as the wire text "Name: value\r\n" of each, in order: a message head takes them
// all with one copy (wire()), and the readers that need them one by one (the upstream's
// fields of these names are dropped; the rate limit service lists them in its reply)
// iterate (name, value) views of the same text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string_view>
#include <vector>

#include "util/text_buffer.hpp"

namespace sluice::limit {

struct header_field {
  std::string_view name;
  std::string_view value;
};

// Reusable: clear() keeps the buffers. The views it hands out last until the next change.
class header_list {
 public:
  void clear() {
    text_.clear();
    fields_.clear();
    name_lengths_ = 0;
  }
  void add(std::string_view name, std::string_view value) {
    begin_value(name).append(value);
    end_value();
  }
  // One capacity check for the whole field: the name, at most 20 digits, the CRLF.
  [[gnu::always_inline]] void add_decimal(std::string_view name, std::int64_t value) {
    char* p = open(name, 20 + 2);
    char* const value_at = p;
    p = write_decimal(p, value);
    fields_.back().value_size = static_cast<std::size_t>(p - value_at);
    *p++ = '\r';
    *p++ = '\n';
    text_.end_at(p);
  }
  // A value written in pieces: append them to the buffer begin_value returns, then call
  // end_value.
  text_buffer& begin_value(std::string_view name) {
    open(name, 0);  // no room beyond "name: ": the text ends where the value starts
    return text_;
  }
  void end_value() {
    field_at& f = fields_.back();
    f.value_size = text_.size() - (f.start + f.name_size + 2);
    text_.append("\r\n");
  }

  std::size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  header_field operator[](std::size_t i) const;
  // Whether a field is named `name` (compared case-insensitively).
  bool has(std::string_view name) const;
  // Every field as "Name: value\r\n", in the order added.
  std::string_view wire() const { return text_.view(); }

  class iterator {
   public:
    using value_type = header_field;
    using difference_type = std::ptrdiff_t;
    iterator(const header_list* list, std::size_t i) : list_(list), i_(i) {}
    header_field operator*() const { return (*list_)[i_]; }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const iterator& o) const { return i_ == o.i_; }

   private:
    const header_list* list_;
    std::size_t i_;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, fields_.size()}; }

 private:
  // Offsets into text_, which may move while it grows.
  struct field_at {
    std::size_t start = 0;  // the name's first byte
    std::size_t name_size = 0;
    std::size_t value_size = 0;
  };
  // Starts a field: writes "name: " and leaves room for `room` more bytes; returns where
  // the value goes. Always inline: with a literal name the copy is a few stores.
  [[gnu::always_inline]] char* open(std::string_view name, std::size_t room) {
    fields_.push_back({text_.size(), name.size(), 0});
    name_lengths_ |= length_bit(name.size());
    char* p = text_.extend(name.size() + 2 + room);
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ':';
    *p++ = ' ';
    return p;
  }

  static std::uint64_t length_bit(std::size_t n) { return std::uint64_t{1} << (n % 64); }

  text_buffer text_;
  std::vector<field_at> fields_;
  // A bit per name length (mod 64): has() answers most names with one test, and each
  // of the upstream's response fields is asked about.
  std::uint64_t name_lengths_ = 0;
};

}  // namespace sluice::limit
