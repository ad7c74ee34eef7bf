// How many recv and recvmsg calls each socket of this test program got, and how many of
// them found nothing (EAGAIN): libc's functions are wrapped for the whole program
// (recv_counter.cpp). Asio's reactor reads with recv, drained reads with recvmsg, so a
// test can tell a read that made no system call from one that tried and came back
// empty. Counting only: every call goes through.
#pragma once

namespace sluice::test::recv_counter {

struct counts {
  unsigned calls = 0;
  unsigned would_block = 0;
};

counts of(int fd);
void reset(int fd);

}  // namespace sluice::test::recv_counter
