#include "http/wire.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::net {
namespace {

void append_number(std::string& out, unsigned long long n, int base = 10) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof(digits), n, base).ptr);
}

std::string_view reason_of(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return {reason.data(), reason.size()};
}

}  // namespace

void append_field(std::string& out, std::string_view name, std::string_view value) {
  // One resize and two copies: four appends (a capacity check and a terminator each)
  // cost twice as many instructions, and a 429 carries a dozen fields.
  const std::size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = std::copy(name.begin(), name.end(), out.data() + at);
  *p++ = ':';
  *p++ = ' ';
  p = std::copy(value.begin(), value.end(), p);
  *p++ = '\r';
  *p = '\n';
}

void append_number_field(std::string& out, std::string_view name, std::uint64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
  append_field(out, name, std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

void append_request_line(std::string& out, std::string_view method, std::string_view target) {
  out.append(method);
  out += ' ';
  out.append(target);
  out.append(" HTTP/1.1\r\n", 11);
}

void append_status_line(std::string& out, unsigned version, unsigned status,
                        std::string_view reason) {
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
  append_number(out, status);
  out += ' ';
  out.append(reason);
  out.append("\r\n", 2);
}

void write_own_response(std::string& out, const own_response& r) {
  out.clear();
  append_status_line(out, 11, static_cast<unsigned>(r.status), reason_of(r.status));
  append_field(out, "Content-Type", r.content_type);
  if (r.fields != nullptr) {
    for (const auto& f : *r.fields) append_field(out, f.name, f.value);
  }
  if (!r.retry_after.empty()) append_field(out, "Retry-After", r.retry_after);
  if (!r.keep_alive) out.append("Connection: close\r\n");
  out.append("Content-Length: ");
  append_number(out, r.body.size());
  out.append("\r\n\r\n", 4);
  if (!r.head_request) out += r.body;
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
