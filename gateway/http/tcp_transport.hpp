// The TCP connection under a peer_stream, with its deadline: what a plain connection's
// reads and writes go through, and what a TLS connection's records go through
// (asio::ssl::stream reads and writes its next layer with async_read_some and
// async_write_some, which this offers, so both kinds read and write by one rule).
//
// The rule: with a deadline set, reads and writes go through beast::tcp_stream, whose
// operations race the deadline's timer. Without one (a keep-alive connection waiting
// for its next request, which the worker's idle sweep ends; an upstream answer, which
// its sweep cuts; a response written to a client) they go to the socket itself, since
// the timer's race costs about 600 instructions per operation; and a read is a drained
// read (net/drained_read.hpp): on a socket with TCP_INQ, after a read that emptied it,
// the next one waits for epoll rather than trying first and finding nothing. The
// gateway turns TCP_INQ on for plain connections only (process/gateway.cpp says why),
// so a TLS connection's reads try at once, as Asio's own.
#pragma once

#include <type_traits>

#include "net/asio.hpp"
#include "net/drained_read.hpp"

namespace sluice::net {

class tcp_transport {
 public:
  using executor_type = beast::tcp_stream::executor_type;
  using lowest_layer_type = beast::tcp_stream::socket_type;

  explicit tcp_transport(tcp::socket socket)
      : tcp_(std::move(socket)), drained_(tcp_.get_executor()) {}
  explicit tcp_transport(asio::io_context& io) : tcp_(io), drained_(tcp_.get_executor()) {}

  executor_type get_executor() { return tcp_.get_executor(); }
  tcp::socket& socket() { return tcp_.socket(); }
  lowest_layer_type& lowest_layer() { return tcp_.socket(); }
  const lowest_layer_type& lowest_layer() const { return tcp_.socket(); }

  template <class TimePoint>
  void expires_at(TimePoint t) {
    tcp_.expires_at(t);
    deadline_set_ = true;
  }
  template <class Duration>
  void expires_after(Duration d) {
    tcp_.expires_after(d);
    deadline_set_ = true;
  }
  void expires_never() {
    if (!deadline_set_) return;
    tcp_.expires_never();
    deadline_set_ = false;
  }

  // Connects under the deadline, if one is set.
  template <class Token>
  auto async_connect(const tcp::endpoint& endpoint, Token&& token) {
    return tcp_.async_connect(endpoint, std::forward<Token>(token));
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (deadline_set_) {
            tcp_.async_read_some(b, std::move(handler));
          } else if constexpr (std::is_convertible_v<MutableBuffers, asio::mutable_buffer>) {
            drained_.async_read_some(tcp_.socket(), b, std::move(handler));
          } else {
            tcp_.socket().async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (deadline_set_) {
            tcp_.async_write_some(b, std::move(handler));
          } else {
            tcp_.socket().async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 private:
  beast::tcp_stream tcp_;
  drained_reader drained_;
  bool deadline_set_ = false;  // tcp_'s expiry is not never: reads and writes race it
};

}  // namespace sluice::net
