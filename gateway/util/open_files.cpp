#include "util/open_files.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>

namespace sluice {
namespace {

// fs.nr_open: the ceiling of RLIMIT_NOFILE, which cannot be RLIM_INFINITY.
std::uint64_t nr_open() {
  std::ifstream in("/proc/sys/fs/nr_open");
  std::uint64_t n = 0;
  if (in >> n && n > 0) return n;
  return 1024 * 1024;  // the kernel's default
}

}  // namespace

open_file_limit raise_open_file_limit() {
  open_file_limit out;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.error = std::string("getrlimit: ") + std::strerror(errno);
    return out;
  }
  out.before = out.soft = rl.rlim_cur;
  out.hard = rl.rlim_max;
  const std::uint64_t target = rl.rlim_max == RLIM_INFINITY ? nr_open() : rl.rlim_max;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= target) return out;
  rl.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.error = std::string("setrlimit: ") + std::strerror(errno);
    return out;
  }
  out.soft = target;
  return out;
}

int derived_max_connections(std::uint64_t nofile, int max_idle_upstream, int redis_connections) {
  const std::uint64_t kept = reserved_descriptors +
                             static_cast<std::uint64_t>(std::max(0, max_idle_upstream)) +
                             static_cast<std::uint64_t>(std::max(0, redis_connections));
  const std::uint64_t budget = nofile > kept ? (nofile - kept) / 2 : 0;
  return static_cast<int>(std::clamp<std::uint64_t>(
      budget, static_cast<std::uint64_t>(min_derived_connections), INT_MAX));
}

}  // namespace sluice
