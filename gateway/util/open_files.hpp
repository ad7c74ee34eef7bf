// The process's open-file limit (RLIMIT_NOFILE) and the client connections it can
// carry (SPEC 13): Sluice raises its soft limit to the hard one at start, and
// server.max_connections: 0 is derived from the result. raise_open_file_limit
// changes the process (call it once, at start); the rest is pure.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

struct open_file_limit {
  std::uint64_t before = 0;  // the soft limit found at start
  std::uint64_t soft = 0;    // the soft limit now
  std::uint64_t hard = 0;    // as the kernel reports it (RLIM_INFINITY as is)
  std::string error;         // why the soft limit could not be raised; empty otherwise
};

// Raises the soft RLIMIT_NOFILE to the hard limit (an unlimited hard limit means
// fs.nr_open, the most a process may have). Never lowers it.
open_file_limit raise_open_file_limit();

// Descriptors kept out of the client budget: listeners (one per thread and address),
// the admin listener and its connections, epoll and eventfd per thread, inotify, the
// access log, policy files being read.
inline constexpr std::uint64_t reserved_descriptors = 64;
inline constexpr int min_derived_connections = 16;

// server.max_connections when the config says 0: a proxied client connection may hold
// an upstream connection as well, and the idle upstream pool and the Redis client need
// theirs, so (nofile - reserved - max_idle_upstream - redis_connections) / 2, at least
// min_derived_connections.
int derived_max_connections(std::uint64_t nofile, int max_idle_upstream, int redis_connections);

}  // namespace sluice
