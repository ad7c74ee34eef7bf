// A socket read that knows when it emptied the socket, as nginx does.
//
// Asio's epoll reactor tries every read at once (a "speculative" recv) before it waits
// for epoll to report the socket readable, and stops trying only after a read found the
// end of the stream. A proxy's reads mostly come right after it wrote — the upstream's
// answer to the request just sent, the client's next request after the answer just
// relayed — so that first try is a system call that finds nothing (EAGAIN): one per
// 429, two per forwarded request.
//
// nginx skips it: once a read emptied the socket, the next byte to arrive raises a new
// edge-triggered epoll event, so the next read waits for that event. A short read is
// not proof enough: the peer's FIN may already be queued behind the bytes read, and its
// event was the one just taken; nginx learns that from EPOLLRDHUP, which Asio does not
// ask for. So this read asks the kernel: with TCP_INQ on the socket
// (enable_drained_reads), every recvmsg returns what is left to read, and 0 means no
// byte and no FIN (a FIN counts 1). Then the operation reports "exhausted", which makes
// the reactor queue the next read on the socket for epoll instead of trying it first.
// Data that arrives later is not missed: its edge re-enables the try, and a read
// already queued is performed then.
//
// It uses Asio's reactor operations (boost::asio::detail), so it exists only where
// they are what this code was written against: the epoll reactor of Boost 1.81
// (Debian 12). Elsewhere — io_uring builds, another Boost — reads go through
// async_read_some unchanged (drained_reads_supported is false). So does a socket
// without TCP_INQ: with no count of what is left, no read counts as exhausted.
#pragma once

#include <boost/version.hpp>

#include "net/asio.hpp"

#if BOOST_VERSION == 108100 && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && \
    defined(BOOST_ASIO_HAS_EPOLL)
#define SLUICE_DRAINED_READS 1
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactive_socket_service_base.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#else
#define SLUICE_DRAINED_READS 0
#endif

namespace sluice::net {

inline constexpr bool drained_reads_supported = SLUICE_DRAINED_READS != 0;

// Turns TCP_INQ on for `socket`, which makes its drained reads skip the try that finds
// nothing; on a listener, for every connection it accepts (they inherit it). False
// where it is not supported (then they read as async_read_some).
bool enable_drained_reads(tcp::socket& socket);
bool enable_drained_reads(tcp::acceptor& listener);

#if SLUICE_DRAINED_READS
namespace drained_read_detail {

namespace ad = asio::detail;

enum class read_outcome {
  nothing_yet,  // would block
  drained,      // read (or the end of the stream), and nothing is left
  more_left,    // read, and bytes or the FIN are left, or the kernel did not say; or an error
};
// One recvmsg into `buffer` on a non-blocking socket: the read's result as Asio's
// reads report it (`ec`: eof at the end of the stream), and whether it left the socket
// empty (drained_read.cpp).
read_outcome read_counting_rest(int socket, asio::mutable_buffer buffer, error_code& ec,
                                std::size_t& bytes_transferred);

// The socket's reactor state, which basic_socket keeps protected (impl_): a pointer to
// the member, named through a derived class, reaches it without a cast.
struct socket_access : tcp::socket {
  static auto& impl(tcp::socket& s) { return s.*(&socket_access::impl_); }
};

// Asio's reactive_socket_recv_op for one buffer, except in do_perform: a read that left
// the socket empty is done_and_exhausted.
template <class Handler, class IoExecutor>
class recv_op : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(recv_op);

  recv_op(int socket, asio::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex)
      : ad::reactor_op(error_code(), &recv_op::do_perform, &recv_op::do_complete),
        socket_(socket),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(ad::reactor_op* base) {
    auto* o = static_cast<recv_op*>(base);
    switch (read_counting_rest(o->socket_, o->buffer_, o->ec_, o->bytes_transferred_)) {
      case read_outcome::nothing_yet:
        return not_done;  // EAGAIN: wait for epoll
      case read_outcome::drained:
        return done_and_exhausted;
      case read_outcome::more_left:
        break;
    }
    return done;
  }

  static void do_complete(void* owner, ad::operation* base, const error_code& /*ec*/,
                          std::size_t /*bytes_transferred*/) {
    auto* o = static_cast<recv_op*>(base);
    ptr p = {std::addressof(o->handler_), o, o};
    ad::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    // The handler is moved out before the operation's memory is freed: it may own it.
    ad::binder2<Handler, error_code, std::size_t> handler(o->handler_, o->ec_,
                                                          o->bytes_transferred_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block b(ad::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  int socket_;
  asio::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

// Cancels the read through its handler's cancellation slot (the tunnel's `||` of its two
// directions): Asio's own, which its socket service keeps protected, made public here.
struct service_access : ad::reactive_socket_service_base {
  using ad::reactive_socket_service_base::reactor_op_cancellation;
};
using cancellation = service_access::reactor_op_cancellation;

}  // namespace drained_read_detail
#endif

// Drained reads on the sockets of one io_context: socket.async_read_some(buffer, token),
// minus the system call that finds nothing after a read that emptied the socket (see
// above). Made once per connection: it looks up the io_context's reactor, a locked
// search of its services that a read should not repeat. A socket must have been made
// non-blocking (reactor reads assume it; Asio's own reads make it so first): otherwise,
// or where unsupported, a read is async_read_some.
class drained_reader {
 public:
  template <class Executor>
  explicit drained_reader(const Executor& executor) {
#if SLUICE_DRAINED_READS
    reactor_ = &asio::use_service<drained_read_detail::ad::reactor>(
        asio::query(executor, asio::execution::context));
#else
    (void)executor;
#endif
  }

  template <class Token>
  auto async_read_some(tcp::socket& socket, asio::mutable_buffer buffer, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this, &socket](auto handler, asio::mutable_buffer b) {
#if SLUICE_DRAINED_READS
          if (socket.non_blocking() && b.size() > 0) {
            start(socket, b, std::move(handler));
            return;
          }
#endif
          socket.async_read_some(b, std::move(handler));
        },
        token, buffer);
  }

 private:
#if SLUICE_DRAINED_READS
  // What Asio's reactive_socket_service_base::async_receive does, with recv_op.
  template <class Handler>
  void start(tcp::socket& socket, asio::mutable_buffer b, Handler handler) {
    namespace ad = drained_read_detail::ad;
    auto& impl = drained_read_detail::socket_access::impl(socket);
    auto& state = impl.get_implementation();
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    using op = drained_read_detail::recv_op<Handler, tcp::socket::executor_type>;
    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
    auto slot = asio::get_associated_cancellation_slot(handler);
    p.p = new (p.v) op(state.socket_, b, handler, impl.get_executor());
    if (slot.is_connected()) {
      p.p->cancellation_key_ = &slot.template emplace<drained_read_detail::cancellation>(
          reactor_, &state.reactor_data_, state.socket_, ad::reactor::read_op);
    }
    reactor_->start_op(ad::reactor::read_op, state.socket_, state.reactor_data_, p.p,
                       is_continuation, true);
    p.v = p.p = nullptr;
  }

  drained_read_detail::ad::reactor* reactor_ = nullptr;
#endif
};

}  // namespace sluice::net
