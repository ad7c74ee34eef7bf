// A fake Redis for tests: answers PING with PONG and every other command with what a
// function says (any bytes: garbage, bad replies, stalls); keeps SUBSCRIBE connections
// for publish() (a fake sentinel's +switch-master). Loopback only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {

// A server that answers PING with PONG and every other command with what `answer`
// says (its arguments joined by spaces), one thread per accepted connection. A
// connection that sent a SUBSCRIBE also gets what publish() sends. Loopback only;
// stops in its destructor.
class scripted_server {
 public:
  explicit scripted_server(std::function<std::string(const std::string&)> answer)
      : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_, 16) != 0) {
      throw std::runtime_error("scripted_server: cannot listen");
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~scripted_server() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);  // not held while joining: serve() takes it
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }
  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int closed_by_client() const { return closed_.load(); }
  // How many connections are subscribed (sent a SUBSCRIBE and are still open).
  int subscribers() const { return subscribers_.load(); }
  // Sends `bytes` to every subscribed connection.
  void publish(const std::string& bytes) {
    std::lock_guard lock(mutex_);
    for (int fd : subscribed_) ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      accepted_.fetch_add(1);
      std::lock_guard lock(mutex_);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }
  // Reads commands (arrays of bulk strings; the client sends nothing else) and
  // answers each, until the peer closes or the server stops.
  void serve(int fd) {
    std::string in;
    char buf[4096];
    bool subscribed = false;
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, 50);
      if (stopping_) break;
      if (ready <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        closed_.fetch_add(1);
        break;
      }
      in.append(buf, static_cast<std::size_t>(n));
      for (std::string name; take_command(in, name);) {
        const std::string out = name == "PING" ? "+PONG\r\n" : answer_(name);
        const bool subscribes = !subscribed && name.starts_with("SUBSCRIBE ");
        std::unique_lock lock(mutex_, std::defer_lock);
        if (subscribed || subscribes) lock.lock();  // publish() writes to it too
        ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        if (subscribes) {  // publish() writes after the confirmation
          subscribed = true;
          subscribed_.push_back(fd);
          subscribers_.fetch_add(1);
        }
      }
    }
    if (subscribed) {
      std::lock_guard lock(mutex_);
      subscribed_.erase(std::find(subscribed_.begin(), subscribed_.end(), fd));
      subscribers_.fetch_sub(1);
    }
    ::close(fd);
  }
  // Takes one complete command off `in`; `name` is its arguments joined by spaces.
  static bool take_command(std::string& in, std::string& name) {
    std::size_t at = 0;
    auto line = [&](std::string& out) {
      const auto end = in.find("\r\n", at);
      if (end == std::string::npos) return false;
      out = in.substr(at, end - at);
      at = end + 2;
      return true;
    };
    std::string head;
    if (!line(head)) return false;
    const int args = std::stoi(head.substr(1));
    std::string joined;
    for (int i = 0; i < args; ++i) {
      std::string len;
      if (!line(len)) return false;
      const auto size = static_cast<std::size_t>(std::stoul(len.substr(1)));
      if (in.size() < at + size + 2) return false;
      if (i > 0) joined += ' ';
      joined += in.substr(at, size);
      at += size + 2;
    }
    in.erase(0, at);
    name = std::move(joined);
    return true;
  }

  std::function<std::string(const std::string&)> answer_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> closed_{0};
  std::atomic<int> subscribers_{0};
  std::mutex mutex_;  // guards threads_ and subscribed_, and sends to subscribed_
  std::vector<int> subscribed_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace sluice::test
