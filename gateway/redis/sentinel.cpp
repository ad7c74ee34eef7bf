#include "redis/sentinel.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <mutex>

#include "redis/client.hpp"

namespace sluice::redis {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::deferred);
constexpr std::size_t max_host_bytes = 255;
const std::string switch_channel = "+switch-master";

// A host as a sentinel names it: an IP literal or a host name (announce-hostnames),
// nothing that could smuggle spaces, controls or a second address.
bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > max_host_bytes) return false;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == ':' || c == '_' || c == '%';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  if (text.empty() || text.size() > 5) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

sentinel_answer address_of(std::string_view host, std::string_view port) {
  if (!valid_host(host)) return {std::nullopt, "a master host that is not a host name or IP"};
  const auto p = parse_port(port);
  if (!p) return {std::nullopt, "a master port that is not a port"};
  return {server_address{std::string(host), *p}, {}};
}

bool is_string(const reply& r) {
  return r.type == reply::kind::string || r.type == reply::kind::status;
}

// The printable start of an error reply, for a log line.
std::string excerpt(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

std::string server_address::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

sentinel_answer parse_master_address(const reply& r) {
  if (r.is_nil()) return {std::nullopt, "does not know the master"};
  if (r.is_error()) return {std::nullopt, "answered " + excerpt(r.text)};
  if (r.type != reply::kind::array || r.elements.size() != 2 || !is_string(r.elements[0]) ||
      !is_string(r.elements[1])) {
    return {std::nullopt, "answered something that is not a host and a port"};
  }
  return address_of(r.elements[0].text, r.elements[1].text);
}

sentinel_answer parse_switch_master(const reply& r, std::string_view master) {
  if (r.type != reply::kind::array || r.elements.size() != 3 ||
      !std::all_of(r.elements.begin(), r.elements.end(), is_string) ||
      r.elements[0].text != "message" || r.elements[1].text != switch_channel) {
    return {std::nullopt, "sent something that is not a +switch-master message"};
  }
  // "<name> <old-ip> <old-port> <new-ip> <new-port>"; a master name has no spaces.
  std::array<std::string_view, 5> fields;
  std::string_view rest = r.elements[2].text;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto space = rest.find(' ');
    if ((space == std::string_view::npos) != (i + 1 == fields.size())) {
      return {std::nullopt, "sent a +switch-master message without 5 fields"};
    }
    fields[i] = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  }
  if (fields[0] != master) return {};
  return address_of(fields[3], fields[4]);
}

namespace {

// One connection to one sentinel, touched only from its executor's thread. Held by
// shared pointers (the coroutine using it and its armed deadline).
class wire : public std::enable_shared_from_this<wire> {
 public:
  explicit wire(asio::any_io_executor ex)
      : socket_(ex), resolver_(ex), deadline_(ex), parser_(sentinel_reply_limits) {}

  std::string failure;  // why the last step failed, for the log

  // From now on, the socket closes `limit` from now (a step then fails "timed out").
  void arm(std::chrono::milliseconds limit) {
    const std::uint64_t armed = ++armed_;
    deadline_.expires_after(limit);
    deadline_.async_wait([self = shared_from_this(), armed](error_code ec) {
      if (ec || armed != self->armed_) return;
      self->timed_out_ = true;
      self->close();
    });
  }
  void disarm() {
    ++armed_;
    deadline_.cancel();
  }
  void close() {
    error_code ignored;
    resolver_.cancel();
    socket_.close(ignored);
  }
  // A subscription waits without a deadline: TCP keepalive notices a sentinel that
  // vanished without closing (about 8 s: 5 s idle, then 3 probes 1 s apart).
  void keep_alive() {
    const int fd = socket_.native_handle();
    const int on = 1, idle = 5, interval = 1, count = 3;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  }

  // TCP connect, then AUTH when a password is set.
  asio::awaitable<bool> open(server_address to, std::string password) {
    auto [resolve_ec, endpoints] =
        co_await resolver_.async_resolve(to.host, std::to_string(to.port), nothrow);
    if (resolve_ec) co_return fail(resolve_ec);
    auto [connect_ec, endpoint] = co_await asio::async_connect(socket_, endpoints, nothrow);
    if (connect_ec) co_return fail(connect_ec);
    if (password.empty()) co_return true;
    std::vector<std::string> auth{"AUTH", std::move(password)};
    reply r;
    if (!co_await call(std::move(auth), r)) co_return false;
    if (r.is_error()) {
      failure = "AUTH answered " + excerpt(r.text);
      co_return false;
    }
    co_return true;
  }

  // Sends one command and reads one reply.
  asio::awaitable<bool> call(std::vector<std::string> args, reply& out) {
    std::string bytes;
    append_command(bytes, args);
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), nothrow);
    if (ec) co_return fail(ec);
    co_return co_await receive(out);
  }

  // Reads the next reply (a subscription's next message).
  asio::awaitable<bool> receive(reply& out) {
    for (;;) {
      switch (parser_.next(out)) {
        case reply_parser::status::ready:
          co_return true;
        case reply_parser::status::protocol_error:
          failure =
              "sent bytes that are not RESP2 or too many (" + std::string(parser_.error()) + ")";
          co_return false;
        case reply_parser::status::incomplete:
          break;
      }
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf_), nothrow);
      if (ec) co_return fail(ec);
      parser_.feed(buf_.data(), n);
    }
  }

 private:
  bool fail(error_code ec) {
    failure = timed_out_ ? "timed out" : ec.message();
    return false;
  }

  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_;
  reply_parser parser_;
  std::array<char, 4096> buf_{};
  std::uint64_t armed_ = 0;
  bool timed_out_ = false;
};

}  // namespace

namespace detail {

class sentinel_state : public std::enable_shared_from_this<sentinel_state> {
 public:
  sentinel_state(asio::io_context& control, client& data, sentinel_options options)
      : control_(control),
        data_(data),
        options_(std::move(options)),
        wake_(control),
        failures_(options_.sentinels.size()) {}

  // Asks the sentinels in order; the first address one gives, or none.
  static asio::awaitable<std::optional<server_address>> ask_all(
      std::shared_ptr<sentinel_state> self, asio::any_io_executor ex) {
    for (std::size_t i = 0; i < self->options_.sentinels.size(); ++i) {
      if (self->closed_.load()) co_return std::nullopt;
      auto w = std::make_shared<wire>(ex);
      w->arm(self->options_.timeout);
      reply r;
      bool ok = co_await w->open(self->options_.sentinels[i], self->options_.password);
      if (ok) {
        // Named: g++ 12 cannot keep a braced list's array in a coroutine frame.
        std::vector<std::string> question{"SENTINEL", "get-master-addr-by-name",
                                          self->options_.master};
        ok = co_await w->call(std::move(question), r);
      }
      w->disarm();
      w->close();
      if (self->closed_.load()) co_return std::nullopt;
      auto answer = ok ? parse_master_address(r) : sentinel_answer{std::nullopt, w->failure};
      if (answer.master && self->demoted_recently(*answer.master)) {
        answer = {std::nullopt, "still names " + answer.master->to_string() +
                                    ", the master before the last +switch-master"};
      }
      if (answer.master) {
        self->failed(i, {});
        self->nobody_logged_ = false;
        co_return answer.master;
      }
      self->failed(i, answer.error);
    }
    if (!self->nobody_logged_) {
      self->nobody_logged_ = true;
      const std::string known = self->master();
      self->log("sentinel: no sentinel names master " + self->options_.master +
                (known.empty() ? " (decisions follow storage.on_error until one does)"
                               : "; staying on " + known));
    }
    co_return std::nullopt;
  }

  // The periodic rounds (and the early ones recheck() asks for).
  static asio::awaitable<void> rounds(std::shared_ptr<sentinel_state> self) {
    for (;;) {
      const auto started = steady::now();
      self->wanted_ = false;
      auto found = co_await ask_all(self, self->control_.get_executor());
      if (self->closed_.load()) co_return;
      if (found) self->apply(*found);
      if (!self->wanted_) {
        self->wake_.expires_at(started + self->options_.interval);
        co_await self->wake_.async_wait(nothrow);
      }
      while (!self->closed_.load() && steady::now() < started + self->options_.min_gap) {
        self->wake_.expires_at(started + self->options_.min_gap);
        co_await self->wake_.async_wait(nothrow);
      }
      if (self->closed_.load()) co_return;
    }
  }

  // A +switch-master subscription on the first sentinel that takes it; the next one
  // when it goes away, after `interval`.
  static asio::awaitable<void> subscription(std::shared_ptr<sentinel_state> self) {
    asio::steady_timer pause(self->control_);
    std::size_t next = 0;
    const std::size_t n = self->options_.sentinels.size();
    for (;;) {
      for (std::size_t tried = 0; tried < n && !self->closed_.load(); ++tried, ++next) {
        const std::size_t i = next % n;
        const auto& sentinel = self->options_.sentinels[i];
        auto w = std::make_shared<wire>(self->control_.get_executor());
        w->arm(self->options_.timeout);
        reply r;
        bool ok = co_await w->open(sentinel, self->options_.password);
        if (ok) {
          std::vector<std::string> subscribe{"SUBSCRIBE", switch_channel};
          ok = co_await w->call(std::move(subscribe), r);
        }
        w->disarm();
        if (ok && (r.type != reply::kind::array || r.elements.size() != 3 ||
                   r.elements[0].text != "subscribe" || r.elements[1].text != switch_channel)) {
          ok = false;
          w->failure = r.is_error() ? "SUBSCRIBE answered " + excerpt(r.text)
                                    : "answered SUBSCRIBE with something else";
        }
        if (ok) {
          w->keep_alive();
          self->subscription_note("sentinel: subscribed to +switch-master on " +
                                  sentinel.to_string());
        }
        while (ok && !self->closed_.load()) {
          if (!co_await w->receive(r)) break;
          if (self->closed_.load()) co_return;
          auto answer = parse_switch_master(r, self->options_.master);
          if (answer.master) {
            self->log("sentinel: " + sentinel.to_string() + " announced +switch-master");
            self->switched_to(*answer.master);
          } else if (!answer.error.empty()) {
            w->failure = answer.error;
            break;
          }
        }
        w->close();
        if (self->closed_.load()) co_return;
        self->subscription_note("sentinel: subscription to " + sentinel.to_string() +
                                " failed: " + w->failure);
      }
      pause.expires_after(self->options_.interval);
      co_await pause.async_wait(nothrow);
      if (self->closed_.load()) co_return;
    }
  }

  // +switch-master: the master before it is not believed from a sentinel's answer for
  // options.old_master_hold (one that has not heard of the failover yet).
  void switched_to(const server_address& master) {
    {
      std::lock_guard lock(mutex_);
      if (known_ && !(master_ == master)) {
        demoted_ = master_;
        demoted_until_ = steady::now() + options_.old_master_hold;
      }
    }
    apply(master);
  }
  bool demoted_recently(const server_address& address) const {
    std::lock_guard lock(mutex_);
    return demoted_ && *demoted_ == address && steady::now() < demoted_until_;
  }

  void apply(const server_address& master) {
    std::string was;
    {
      std::lock_guard lock(mutex_);
      if (known_ && master_ == master) return;
      was = known_ ? master_.to_string() : "unknown";
      master_ = master;
      known_ = true;
    }
    nobody_logged_ = false;
    log("sentinel: master " + options_.master + " is now " + master.to_string() + " (was " + was +
        ")");
    data_.set_address(master.host, master.port);
  }

  void recheck() {
    if (recheck_posted_.exchange(true)) return;
    asio::post(control_, [self = shared_from_this()] {
      self->recheck_posted_.store(false);
      self->wanted_ = true;
      self->wake_.cancel();
    });
  }

  std::string master() const {
    std::lock_guard lock(mutex_);
    return known_ ? master_.to_string() : std::string();
  }

  void close() { closed_.store(true); }

  asio::io_context& control() { return control_; }

 private:
  // Logs sentinel i's failure when it differs from its last one ("" = it answered).
  void failed(std::size_t i, const std::string& why) {
    if (failures_[i] == why) return;
    failures_[i] = why;
    if (!why.empty()) log("sentinel: " + options_.sentinels[i].to_string() + ": " + why);
  }
  void log(const std::string& line) {
    if (options_.log) options_.log(line);
  }
  // The subscription's news, each line once until it changes (all sentinels down
  // would otherwise say the same every interval).
  void subscription_note(const std::string& line) {
    if (line == last_subscription_note_) return;
    last_subscription_note_ = line;
    log(line);
  }

  asio::io_context& control_;
  client& data_;
  const sentinel_options options_;
  asio::steady_timer wake_;
  std::atomic<bool> recheck_posted_{false};
  std::atomic<bool> closed_{false};
  bool wanted_ = false;                 // control thread: recheck() came since the round began
  bool nobody_logged_ = false;          // control thread: "no sentinel names" said once per outage
  std::vector<std::string> failures_;   // control thread: each sentinel's last logged failure
  std::string last_subscription_note_;  // control thread
  mutable std::mutex mutex_;            // guards the four fields below
  server_address master_;
  bool known_ = false;
  std::optional<server_address> demoted_;  // the master before the last +switch-master
  steady::time_point demoted_until_;
};

}  // namespace detail

sentinel_watcher::sentinel_watcher(asio::io_context& control, client& data,
                                   sentinel_options options)
    : state_(std::make_shared<detail::sentinel_state>(control, data, std::move(options))) {}

sentinel_watcher::~sentinel_watcher() {
  state_->close();
}

bool sentinel_watcher::resolve_now(std::chrono::milliseconds bound) {
  asio::io_context io(1);
  auto found = std::make_shared<std::optional<server_address>>();
  auto ask = [](std::shared_ptr<detail::sentinel_state> state, asio::any_io_executor ex,
                std::shared_ptr<std::optional<server_address>> out) -> asio::awaitable<void> {
    *out = co_await detail::sentinel_state::ask_all(std::move(state), std::move(ex));
  };
  asio::co_spawn(io, ask(state_, io.get_executor(), found), asio::detached);
  io.run_for(bound);
  if (!*found) return false;
  state_->apply(**found);
  return true;
}

void sentinel_watcher::start() {
  asio::co_spawn(state_->control(), detail::sentinel_state::rounds(state_), asio::detached);
  asio::co_spawn(state_->control(), detail::sentinel_state::subscription(state_), asio::detached);
}

void sentinel_watcher::recheck() {
  state_->recheck();
}

std::string sentinel_watcher::master() const {
  return state_->master();
}

}  // namespace sluice::redis
