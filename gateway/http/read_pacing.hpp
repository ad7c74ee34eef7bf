#pragma once

// When a worker's reads right after a write wait for the scheduler's next look at the
// sockets, learned from how those reads went.
//
// A read right after Sluice wrote (the upstream's answer relayed to the client, its
// request to the upstream) nearly always comes before the peer could answer. Asio's
// reactor tries every read at once before it waits for readiness, so such a read is a
// system call that finds nothing (nginx reads only once epoll reported the socket
// readable). Under load the read can be posted instead: it then runs after the
// worker's other ready work and the scheduler's next epoll_wait, and finds the peer's
// bytes. With little else to do the posted read still comes too early, and costs a
// second read and an epoll_wait of its own. So a worker posts such reads while most
// posted reads find bytes, and otherwise posts one in `probe_every` to notice when
// they start to. This is server.read_batching's `auto` (the default); `on` posts every
// such read and `off` none (session::posts_read). One per worker, used on its thread
// only.

namespace sluice::net {

class read_pacing {
 public:
  static constexpr unsigned probe_every = 16;
  static constexpr unsigned window = 32;  // posted reads per verdict

  // Whether the read about to start is posted. `not_alone`: the worker has another
  // connection (alone, a posted read would only wait for an epoll_wait of its own).
  bool post_next(bool not_alone) {
    if (!not_alone) return false;
    return posting_ || ++since_probe_ % probe_every == 0;
  }

  // How a posted read went: `found` when bytes (or the end of the stream) were there.
  void learn(bool found) {
    ++tried_;
    if (found) ++found_;
    if (tried_ < window) return;
    posting_ = found_ * 2 > tried_;  // a posted read that finds nothing costs one more
    tried_ = found_ = 0;
  }

  bool posting() const { return posting_; }

 private:
  bool posting_ = false;
  unsigned since_probe_ = 0;
  unsigned tried_ = 0;
  unsigned found_ = 0;
};

}  // namespace sluice::net
