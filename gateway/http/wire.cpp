#include "http/wire.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::net {
namespace {

std::string_view reason_of(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return {reason.data(), reason.size()};
}

}  // namespace

void append_field(wire_buffer& out, std::string_view name, std::string_view value) {
  // One capacity check and two copies: a 429 carries a dozen fields.
  char* p = out.extend(name.size() + value.size() + 4);
  p = std::copy(name.begin(), name.end(), p);
  *p++ = ':';
  *p++ = ' ';
  p = std::copy(value.begin(), value.end(), p);
  *p++ = '\r';
  *p = '\n';
}

void append_number_field(wire_buffer& out, std::string_view name, std::uint64_t value) {
  out.append(name);
  out.append(": ");
  out.append_unsigned(value);
  out.append("\r\n");
}

void append_request_line(wire_buffer& out, std::string_view method, std::string_view target) {
  out.append(method);
  out.push_back(' ');
  out.append(target);
  out.append(" HTTP/1.1\r\n");
}

void append_status_line(wire_buffer& out, unsigned version, unsigned status,
                        std::string_view reason) {
  // One capacity check for the whole line (the number takes at most 20 bytes).
  constexpr std::string_view http10 = "HTTP/1.0 ", http11 = "HTTP/1.1 ";
  char* p = out.extend(http11.size() + 20 + 1 + reason.size() + 2);
  p = std::copy_n((version == 10 ? http10 : http11).data(), http11.size(), p);
  p = write_unsigned(p, status);
  *p++ = ' ';
  p = std::copy(reason.begin(), reason.end(), p);
  *p++ = '\r';
  *p++ = '\n';
  out.end_at(p);
}

void write_own_response(wire_buffer& out, const own_response& r) {
  out.clear();
  append_status_line(out, 11, static_cast<unsigned>(r.status), reason_of(r.status));
  append_field(out, "Content-Type", r.content_type);
  if (r.fields != nullptr) out.append(r.fields->wire());
  if (!r.retry_after.empty()) append_field(out, "Retry-After", r.retry_after);
  if (!r.keep_alive) out.append("Connection: close\r\n");
  out.append("Content-Length: ");
  out.append_unsigned(r.body.size());
  out.append("\r\n\r\n");
  if (!r.head_request) out.append(r.body);
}

chunk_size_line chunk_size_of(std::size_t size) {
  chunk_size_line line;
  char* end = std::to_chars(line.text, line.text + sizeof(line.text) - 2, size, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  line.size = static_cast<std::size_t>(end - line.text);
  return line;
}

}  // namespace sluice::net
