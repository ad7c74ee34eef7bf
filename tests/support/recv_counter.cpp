// Wraps libc's recv and recvmsg for the test program that links this file (see
// recv_counter.hpp): the program's own definitions come first in symbol lookup, and
// hand every call to the next one (libc's, or a sanitizer's interceptor in front of it).
#include "support/recv_counter.hpp"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

namespace {

constexpr int max_fd = 4096;
std::atomic<unsigned> calls[max_fd];
std::atomic<unsigned> would_block[max_fd];

using recv_fn = ssize_t (*)(int, void*, std::size_t, int);
using recvmsg_fn = ssize_t (*)(int, msghdr*, int);

template <class Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

bool counted(int fd) {
  return fd >= 0 && fd < max_fd;
}

ssize_t count(int fd, ssize_t n) {
  const int error = errno;
  if (counted(fd)) {
    ++calls[fd];
    if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK)) ++would_block[fd];
  }
  errno = error;
  return n;
}

}  // namespace

// Asio's reads.
extern "C" ssize_t recv(int fd, void* buf, std::size_t len, int flags) {
  static const auto next_recv = next<recv_fn>("recv");
  return count(fd, next_recv(fd, buf, len, flags));
}

// Drained reads (net/drained_read.cpp).
extern "C" ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  static const auto next_recvmsg = next<recvmsg_fn>("recvmsg");
  return count(fd, next_recvmsg(fd, msg, flags));
}

namespace sluice::test::recv_counter {

counts of(int fd) {
  if (!counted(fd)) return {};
  return {calls[fd].load(), would_block[fd].load()};
}

void reset(int fd) {
  if (!counted(fd)) return;
  calls[fd] = 0;
  would_block[fd] = 0;
}

}  // namespace sluice::test::recv_counter
