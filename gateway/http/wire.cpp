#include "http/wire.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::net {
namespace {

void append_text(std::string& out, beast::string_view s) {
  out.append(s.data(), s.size());
}

void append_number(std::string& out, unsigned long long n, int base = 10) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof(digits), n, base).ptr);
}

bool is_one_of(beast::string_view name, const limit::header_list& list) {
  for (const auto& h : list) {
    if (beast::iequals(name, beast::string_view(h.name.data(), h.name.size()))) return true;
  }
  return false;
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

void write_request_head(std::string& out, const http::request_header<>& req) {
  out.clear();
  append_text(out, req.method_string());
  out += ' ';
  append_text(out, req.target());
  out.append(req.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n", 11);
  for (const auto& f : req) {
    append_field(out, {f.name_string().data(), f.name_string().size()},
                 {f.value().data(), f.value().size()});
  }
  out.append("\r\n", 2);
}

void write_response_head_start(std::string& out, const http::response_header<>& res,
                               const limit::header_list& replaced) {
  out.clear();
  out.append(res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
  append_number(out, res.result_int());
  out += ' ';
  auto reason = res.reason();
  if (reason.empty()) reason = http::obsolete_reason(res.result());
  append_text(out, reason);
  out.append("\r\n", 2);
  for (const auto& f : res) {
    if (replaced.size() != 0 && is_one_of(f.name_string(), replaced)) continue;
    append_field(out, {f.name_string().data(), f.name_string().size()},
                 {f.value().data(), f.value().size()});
  }
}

void write_own_response(std::string& out, const own_response& r) {
  out.clear();
  out.append("HTTP/1.1 ", 9);
  append_number(out, static_cast<unsigned>(r.status));
  out += ' ';
  out += reason_of(r.status);
  out.append("\r\n", 2);
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
