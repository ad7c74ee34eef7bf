// A real redis-server for tests: started on a free loopback port, stopped (by its
// PID, the one this process started) when the object goes away. Not thread-safe.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice::test {

// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_port();

struct redis_context_deleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using redis_context = std::unique_ptr<redisContext, redis_context_deleter>;

class redis_server {
 public:
  // Starts redis-server with `extra_args` appended (e.g. {"--maxmemory", "1mb"}). Not
  // --requirepass: the readiness probe is an unauthenticated PING (set a password with
  // CONFIG SET once it is up, as client_test does).
  explicit redis_server(std::vector<std::string> extra_args = {});
  // The same on a given port (a cluster node: its bus port, port + 10000, must be
  // free too).
  redis_server(std::uint16_t port, std::vector<std::string> extra_args);
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }
  int pid() const { return pid_; }  // e.g. to SIGSTOP it (a hung server)

  void stop();   // SIGKILL and reap: the way a crash looks to clients
  void start();  // on the same port, empty (no persistence)

  // A synchronous hiredis connection for assertions in tests.
  redis_context connect() const;
  // Runs one command and returns the reply as text ("OK", "42", "(nil)", or an
  // array as "[a,b]"); throws on a connection failure.
  std::string command(const std::vector<std::string>& args) const;

 private:
  std::uint16_t port_;
  std::vector<std::string> extra_args_;
  int pid_ = -1;
};

}  // namespace sluice::test
