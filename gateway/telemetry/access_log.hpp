// The JSON-lines access log (server.access_log: stdout | off | a file path).
// Owned by the gateway; thread-safe: lines are appended to a buffer under a short
// lock and written out when it fills or on flush() (the server flushes it every
// 250 ms and at shutdown), so the request path makes no syscall of its own.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace sluice::net {

struct access_record {
  std::int64_t time_us = 0;  // Unix time of the request head
  std::string_view client_ip;
  std::string_view method;
  std::string_view path;  // without the query (it may carry an API key)
  std::string_view route;
  int status = 0;
  std::string_view decision;  // allowed | limited | forbidden | bypassed | error
  std::string_view limit;     // the denying or reported limit, if any
  std::string_view api_key;   // masked when written
  std::string_view tier;
  double upstream_ms = -1;  // < 0: no upstream call
  double delay_ms = 0;
  std::string_view degraded;  // X-RateLimit-Degraded sent upstream (soft limits); "" = none
  std::uint64_t bytes_sent = 0;
};

class access_log {
 public:
  // `target`: "stdout", "off" or a file path (opened for append). Throws on a file
  // that cannot be opened (at startup only).
  explicit access_log(const std::string& target);
  ~access_log();
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  bool enabled() const { return fd_ >= 0; }
  void write(const access_record& r);
  void flush();

  // One JSON object, no trailing newline (exposed for tests).
  static std::string format(const access_record& r);

 private:
  int fd_ = -1;
  bool owns_fd_ = false;
  std::mutex mutex_;
  std::string buffer_;
};

}  // namespace sluice::net
