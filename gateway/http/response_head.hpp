// The upstream's response head as Sluice reads it: the status line and the fields in
// the order they came, each a name and a value copied into the connection's
// head_arena, and nothing indexed. Beast's basic_parser tokenizes and validates the
// bytes; what http::parser would then do per field (allocate an element of
// basic_fields and insert it into a case-insensitive tree) is the larger part of
// parsing a typical head, and Sluice only scans the fields: once to write the
// client's head (write_client_response_head), and for a few lookups.
// The trailer fields of a chunked body are appended after the head's, as http::parser
// does. A field's name or value over Beast's 65,535-byte bound is header_limit, as
// basic_fields' std::length_error is made by feed_parser.
// Used by one session, on one thread; the arena must outlive the parser's use.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "http/head_arena.hpp"
#include "net/asio.hpp"

namespace sluice::net {

struct head_field {
  http::field name = http::field::unknown;  // Beast's code for a known name
  std::string_view name_text;               // as the upstream spelled it
  std::string_view value;
};

class response_parser final : public http::basic_parser<false> {
 public:
  explicit response_parser(head_arena& arena) : arena_(arena) {}

  int status() const { return status_; }
  unsigned version() const { return version_; }
  // The upstream's reason phrase, or the status's usual one when it sent none (as
  // Beast's header::reason()).
  std::string_view reason() const;
  std::span<const head_field> fields() const { return {fields_.data(), fields_.size()}; }
  // The first value of a field ("" when there is none); and the last value of a name
  // compared without case, absent when there is none (a trailer's, when one came).
  std::string_view value_of(http::field name) const;
  std::optional<std::string_view> last_value_of(std::string_view name) const;

  // The body buffer, filled as http::buffer_body's: the caller sets data and size,
  // put() advances data and lowers size, need_buffer when it is full (or unset).
  http::buffer_body::value_type& body() { return body_; }

 private:
  std::string_view keep(std::string_view text);

  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, beast::string_view reason, int version, error_code& ec) override;
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code& ec) override {
    ec = {};
  }
  std::size_t on_body_impl(beast::string_view piece, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code& ec) override { ec = {}; }
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view piece, error_code& ec) override {
    return on_body_impl(piece, ec);
  }
  void on_finish_impl(error_code& ec) override { ec = {}; }

  head_arena& arena_;
  int status_ = 0;
  unsigned version_ = 11;
  std::string_view reason_;
  // A typical response head has fewer fields than this: no allocation for them.
  boost::container::small_vector<head_field, 16> fields_;
  http::buffer_body::value_type body_;
};

// Constructs `parser` afresh over `arena`, which is reset first: the previous head
// (destroyed here) was its only user.
response_parser& emplace_parser(std::optional<response_parser>& parser, head_arena& arena);

}  // namespace sluice::net
