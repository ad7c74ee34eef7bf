#include "net/drained_read.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sluice::net {

namespace {

bool turn_on_tcp_inq(int fd) {
#if SLUICE_DRAINED_READS
  const int on = 1;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
#else
  (void)fd;
  return false;
#endif
}

}  // namespace

bool enable_drained_reads(tcp::socket& socket) {
  return turn_on_tcp_inq(socket.native_handle());
}

bool enable_drained_reads(tcp::acceptor& listener) {
  return turn_on_tcp_inq(listener.native_handle());
}

#if SLUICE_DRAINED_READS
namespace drained_read_detail {

read_outcome read_counting_rest(int socket, asio::mutable_buffer buffer, error_code& ec,
                                std::size_t& bytes_transferred) {
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  for (;;) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(socket, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return read_outcome::nothing_yet;
      ec = error_code(errno, asio::error::get_system_category());
      bytes_transferred = 0;
      return read_outcome::more_left;  // as Asio's reads: the next read tries at once
    }
    ec = {};
    bytes_transferred = static_cast<std::size_t>(n);
    if (n == 0) {
      ec = asio::error::eof;
      return read_outcome::drained;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ) {
        int left = 0;
        std::memcpy(&left, CMSG_DATA(c), sizeof left);
        return left == 0 ? read_outcome::drained : read_outcome::more_left;
      }
    }
    return read_outcome::more_left;  // no TCP_INQ on this socket: the kernel did not say
  }
}

}  // namespace drained_read_detail
#endif

}  // namespace sluice::net
