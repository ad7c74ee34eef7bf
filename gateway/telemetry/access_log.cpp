#include "telemetry/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "util/json_text.hpp"
#include "util/mask.hpp"

namespace sluice::net {
namespace {

constexpr std::size_t flush_threshold = 64 * 1024;

void append_time(std::string& out, std::int64_t time_us) {
  std::time_t seconds = static_cast<std::time_t>(time_us / 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(buf, n);
  n = static_cast<std::size_t>(
      std::snprintf(buf, sizeof(buf), ".%03dZ", static_cast<int>(time_us / 1000 % 1000)));
  out.append(buf, n);
}

void append_number(std::string& out, double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%.3f", v);
  out.append(buf, static_cast<std::size_t>(n));
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_json_string(out, value);
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a broken log must not take requests down
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

access_log::access_log(const std::string& target) {
  if (target == "off") return;
  if (target == "stdout" || target.empty()) {
    fd_ = STDOUT_FILENO;
    return;
  }
  fd_ = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open access log '" + target + "': " + std::strerror(errno));
  }
  owns_fd_ = true;
}

access_log::~access_log() {
  flush();
  if (owns_fd_) ::close(fd_);
}

std::string access_log::format(const access_record& r) {
  std::string out = "{\"time\":\"";
  append_time(out, r.time_us);
  out += '"';
  append_field(out, "client_ip", r.client_ip);
  append_field(out, "method", r.method);
  append_field(out, "path", r.path);
  append_field(out, "route", r.route);
  out += ",\"status\":";
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), r.status);
  out.append(buf, end);
  append_field(out, "decision", r.decision);
  if (!r.limit.empty()) append_field(out, "limit", r.limit);
  if (!r.api_key.empty()) append_field(out, "api_key", mask_secret(r.api_key));
  if (!r.tier.empty()) append_field(out, "tier", r.tier);
  if (r.upstream_ms >= 0) {
    out += ",\"upstream_ms\":";
    append_number(out, r.upstream_ms);
  }
  if (r.delay_ms > 0) {
    out += ",\"delay_ms\":";
    append_number(out, r.delay_ms);
  }
  if (!r.degraded.empty()) append_field(out, "degraded", r.degraded);
  out += ",\"bytes\":";
  auto [end2, ec2] = std::to_chars(buf, buf + sizeof(buf), r.bytes_sent);
  out.append(buf, end2);
  out += '}';
  return out;
}

void access_log::write(const access_record& r) {
  if (fd_ < 0) return;
  std::string line = format(r);
  line += '\n';
  std::string full;
  {
    std::lock_guard lock(mutex_);
    buffer_ += line;
    if (buffer_.size() < flush_threshold) return;
    full.swap(buffer_);
  }
  write_all(fd_, full);
}

void access_log::flush() {
  if (fd_ < 0) return;
  std::string pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(buffer_);
  }
  write_all(fd_, pending);
}

}  // namespace sluice::net
