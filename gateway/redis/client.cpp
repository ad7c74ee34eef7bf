#include "redis/client.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

namespace sluice::redis {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
using completion = asio::any_completion_handler<void(error_code, reply)>;

class category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int ev) const override {
    switch (static_cast<client_error>(ev)) {
      case client_error::timeout:
        return "redis command timed out";
      case client_error::not_connected:
        return "no redis connection is up";
      case client_error::connection_lost:
        return "redis connection lost";
      case client_error::protocol:
        return "redis protocol error";
    }
    return "unknown redis client error";
  }
};

constexpr std::size_t max_kept_buffer = 1 << 20;

// A command waiting for its reply.
struct pending {
  pending(completion h, asio::any_io_executor ex)
      : handler(std::move(h)), executor(std::move(ex)) {}
  pending(pending&&) noexcept = default;
  // Boost 1.81's any_completion_handler move assignment recurses until the stack
  // overflows (it wraps its argument as a new handler): only ever move-construct.
  pending& operator=(pending&&) = delete;

  completion handler;              // empty once completed: its reply, when it comes, is dropped
  asio::any_io_executor executor;  // the caller's, where the handler runs
  steady::time_point deadline;
};

// Completes on the caller's executor, never inline: the caller's thread is not this
// one. No work guard is taken: the awaiting coroutine (co_spawn) already keeps its
// io_context running.
void complete(pending& p, error_code ec, reply r = {}) {
  if (!p.handler) return;
  auto executor = std::move(p.executor);
  asio::post(executor, [h = std::move(p.handler), ec, r = std::move(r)]() mutable {
    std::move(h)(ec, std::move(r));
  });
}

// The arguments of one command, borrowed until it is queued: owned strings or views.
struct command_args {
  std::span<const std::string> strings;
  std::span<const std::string_view> views;

  bool empty() const { return strings.empty() && views.empty(); }
  void append_to(std::string& out) const {
    if (!views.empty()) {
      append_command(out, views);
    } else {
      append_command(out, strings);
    }
  }
};

// Each calling thread prefers one connection (its slot modulo their number): with
// as many connections as gateway threads the queue lock is uncontended, and a
// thread's commands batch together.
std::size_t thread_slot() {
  static std::atomic<std::size_t> next_slot{0};
  thread_local const std::size_t slot = next_slot.fetch_add(1, std::memory_order_relaxed);
  return slot;
}

}  // namespace

const boost::system::error_category& client_category() noexcept {
  static const category_impl category;
  return category;
}

error_code make_error_code(client_error e) noexcept {
  return {static_cast<int>(e), client_category()};
}

namespace detail {

class connection;

// The client's I/O thread and its connections. Owned by `client`. Fields below
// `stopping_` are touched only on the I/O thread; `up_` is read by callers.
class client_state {
 public:
  explicit client_state(client_options options);
  ~client_state();

  bool connected() const noexcept { return up_.load(std::memory_order_acquire) > 0; }
  // Any thread: queues `args` on a connection that is up, or fails `p` with
  // not_connected (posted, as a race with a loss is not the caller's fault).
  void submit(const command_args& args, pending& p);
  void log(const std::string& message) const {
    if (options_.log) options_.log(message);
  }

  const client_options options_;
  asio::io_context io_{1};
  std::atomic<int> up_{0};  // connections that are up
  bool stopping_ = false;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::vector<std::unique_ptr<connection>> connections_;
  std::thread thread_;
};

// One socket to Redis. Commands pass through two FIFO queues: `staged_` (appended by
// callers under mutex_, with their encoded bytes in staged_bytes_) and `inflight_`
// (written or being written, awaiting replies; I/O thread only). A flush moves the
// whole staged batch at once, so the byte stream and the queues keep one order and
// replies match by position. Owned by client_state; enqueue() and up() are
// thread-safe, everything else runs on the I/O thread.
class connection {
 public:
  connection(client_state& owner, std::size_t index)
      : owner_(owner),
        index_(index),
        socket_(owner.io_),
        resolver_(owner.io_),
        connect_timer_(owner.io_),
        retry_timer_(owner.io_),
        sweep_timer_(owner.io_) {}

  bool up() const noexcept { return up_.load(std::memory_order_acquire); }

  // Any thread. Takes `p` and returns true when the connection is up; leaves it
  // untouched otherwise.
  bool enqueue(const command_args& args, pending& p) {
    bool post_flush = false;
    {
      std::lock_guard lock(mutex_);
      if (!accepting_) return false;
      args.append_to(staged_bytes_);
      // Taken under the lock so deadlines grow along the queue (the sweep relies on it).
      p.deadline = steady::now() + owner_.options_.timeout;
      staged_.push_back(std::move(p));
      // A flush starts the write, or (a write being in flight) arms an idle sweep.
      post_flush = !flush_pending_ || sweep_idle_;
      flush_pending_ = true;
      sweep_idle_ = false;
    }
    if (post_flush) asio::post(owner_.io_, [this] { flush(); });
    return true;
  }

  // Connects, serves, and reconnects with backoff until the client stops.
  asio::awaitable<void> run() {
    const auto& o = owner_.options_;
    auto backoff = o.reconnect_min;
    while (!owner_.stopping_) {
      error_code ec = co_await establish();
      if (!ec && !owner_.stopping_) {
        go_up();
        backoff = o.reconnect_min;
        owner_.log(name() + " up");
        last_failure_.clear();
        ec = co_await serve();
        lose(ec);
        if (!owner_.stopping_) {
          owner_.log(name() + " lost: " + ec.message() +
                     (failure_.empty() ? "" : " (" + failure_ + ")"));
        }
      } else {
        close_socket();
        std::string failure = failure_.empty() ? ec.message() : failure_;
        if (!owner_.stopping_ && failure != last_failure_) {
          owner_.log(name() + " cannot connect: " + failure);
          last_failure_ = std::move(failure);
        }
      }
      if (owner_.stopping_) break;
      retry_timer_.expires_after(backoff);
      co_await retry_timer_.async_wait(nothrow);
      backoff = std::min(backoff * 2, o.reconnect_max);
    }
    lose(client_error::connection_lost);
  }

  // For the client's destructor: everything in progress ends, run() returns.
  void shutdown() {
    resolver_.cancel();
    connect_timer_.cancel();
    retry_timer_.cancel();
    sweep_timer_.cancel();
    close_socket();
  }

 private:
  std::string name() const { return "redis connection " + std::to_string(index_); }

  void close_socket() {
    error_code ignored;
    socket_.close(ignored);
  }

  // TCP connect, then AUTH/SELECT/PING pipelined, all within connect_timeout.
  asio::awaitable<error_code> establish() {
    const std::uint64_t attempt = ++attempt_;
    failure_.clear();
    connecting_ = true;
    connect_timer_.expires_after(owner_.options_.connect_timeout);
    connect_timer_.async_wait([this, attempt](error_code ec) {
      if (ec || attempt != attempt_ || !connecting_) return;
      failure_ = "timed out";
      resolver_.cancel();
      close_socket();
    });
    error_code ec = co_await handshake();
    connecting_ = false;
    connect_timer_.cancel();
    co_return ec;
  }

  asio::awaitable<error_code> handshake() {
    const auto& o = owner_.options_;
    auto [resolve_ec, endpoints] =
        co_await resolver_.async_resolve(o.host, std::to_string(o.port), nothrow);
    if (resolve_ec) co_return resolve_ec;
    auto [connect_ec, endpoint] = co_await asio::async_connect(socket_, endpoints, nothrow);
    if (connect_ec) co_return connect_ec;
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);

    std::string out;
    int expected = 0;
    if (!o.password.empty()) {
      append_command(out, {"AUTH", o.password});
      ++expected;
    }
    if (o.database != 0) {
      append_command(out, {"SELECT", std::to_string(o.database)});
      ++expected;
    }
    // Also catches a server that wants a password we do not have (NOAUTH) or is
    // still loading its data (LOADING): neither counts as up.
    append_command(out, {"PING"});
    ++expected;
    auto [write_ec, written] = co_await asio::async_write(socket_, asio::buffer(out), nothrow);
    if (write_ec) co_return write_ec;

    parser_.reset();
    reply r;
    while (expected > 0) {
      switch (parser_.next(r)) {
        case reply_parser::status::ready:
          if (r.is_error()) {
            failure_ = r.text;
            co_return make_error_code(client_error::not_connected);
          }
          --expected;
          continue;
        case reply_parser::status::protocol_error:
          failure_ = std::string(parser_.error());
          co_return make_error_code(client_error::protocol);
        case reply_parser::status::incomplete:
          break;
      }
      auto [read_ec, n] = co_await socket_.async_read_some(asio::buffer(read_buf_), nothrow);
      if (read_ec) co_return read_ec;
      if (!parser_.feed(read_buf_.data(), n)) co_return make_error_code(client_error::protocol);
    }
    co_return error_code{};
  }

  void go_up() {
    {
      std::lock_guard lock(mutex_);
      accepting_ = true;
    }
    up_.store(true, std::memory_order_release);
    owner_.up_.fetch_add(1, std::memory_order_release);
  }

  // Reads replies and hands each to the oldest command until the connection fails.
  asio::awaitable<error_code> serve() {
    for (;;) {
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(read_buf_), nothrow);
      if (ec) co_return make_error_code(client_error::connection_lost);
      if (!parser_.feed(read_buf_.data(), n)) co_return make_error_code(client_error::protocol);
      for (;;) {
        const auto status = parser_.next(reply_);
        if (status == reply_parser::status::incomplete) break;
        if (status == reply_parser::status::protocol_error || inflight_.empty()) {
          // Garbage, a reply beyond reply_limits, or an unasked reply: this
          // connection only is dropped, and run() reconnects it.
          failure_ = status == reply_parser::status::protocol_error ? std::string(parser_.error())
                                                                    : "a reply nobody asked for";
          co_return make_error_code(client_error::protocol);
        }
        complete(inflight_.front(), {}, std::move(reply_));
        inflight_.pop_front();
        if (swept_ > 0) --swept_;
      }
    }
  }

  // Posted by enqueue(), and run after each write: writes what is staged, and makes
  // sure the sweep watches every pending deadline (including commands staged behind
  // a write that is still in flight).
  void flush() {
    if (!writing_) start_write();  // else on_written() comes back here
    arm_sweep();
  }

  // Writes everything staged as one batch; while it is in flight new commands stage
  // and go out together when it completes.
  void start_write() {
    {
      std::lock_guard lock(mutex_);
      if (!accepting_ || staged_bytes_.empty()) {
        flush_pending_ = false;
        return;
      }
      write_buf_.clear();
      std::swap(write_buf_, staged_bytes_);
      batch_.clear();
      std::swap(batch_, staged_);
      staged_swept_ = 0;
    }
    for (auto& p : batch_) inflight_.push_back(std::move(p));
    batch_.clear();
    writing_ = true;
    asio::async_write(
        socket_, asio::buffer(write_buf_),
        [this, epoch = epoch_](error_code ec, std::size_t) { on_written(ec, epoch); });
  }

  void on_written(error_code ec, std::uint64_t epoch) {
    writing_ = false;
    // A rare large command leaves no megabyte buffers behind (they swap with staging).
    if (write_buf_.capacity() > max_kept_buffer) std::string().swap(write_buf_);
    if (ec && epoch == epoch_) {
      close_socket();  // serve() sees it and fails the queues
      return;
    }
    flush();  // also after a write of an earlier, lost socket: new commands may wait
  }

  // Fails every queued command with `why`; the connection stops accepting commands.
  void lose(error_code why) {
    ++epoch_;
    const bool was_up = up_.exchange(false, std::memory_order_acq_rel);
    {
      std::lock_guard lock(mutex_);
      accepting_ = false;
      flush_pending_ = false;
      batch_.clear();
      std::swap(batch_, staged_);
      staged_bytes_.clear();
      staged_swept_ = 0;
    }
    if (was_up) owner_.up_.fetch_sub(1, std::memory_order_acq_rel);
    for (auto& p : inflight_) complete(p, why);
    inflight_.clear();
    swept_ = 0;
    for (auto& p : batch_) complete(p, why);
    batch_.clear();
    close_socket();
    parser_.reset();
  }

  // The timer stays armed at the earliest deadline still pending. It is not
  // cancelled on a loss: firing early on an empty queue is harmless.
  void arm_sweep() {
    if (sweep_armed_) return;
    const auto next = next_deadline();
    if (!next) return;  // sweep_idle_ is set: the next enqueue() posts a flush()
    sweep_armed_ = true;
    sweep_timer_.expires_at(*next);
    sweep_timer_.async_wait([this](error_code ec) {
      sweep_armed_ = false;
      if (!ec) sweep();
    });
  }

  std::optional<steady::time_point> next_deadline() {
    if (swept_ < inflight_.size()) return inflight_[swept_].deadline;
    std::lock_guard lock(mutex_);
    if (staged_swept_ < staged_.size()) return staged_[staged_swept_].deadline;
    sweep_idle_ = true;  // under the same lock as the check: no command slips by
    return std::nullopt;
  }

  // Completes every command past its deadline with `timeout`; its entry stays in
  // the queue (its reply will come and be dropped) so later replies still match.
  void sweep() {
    const auto now = steady::now();
    const auto timeout = make_error_code(client_error::timeout);
    while (swept_ < inflight_.size() && inflight_[swept_].deadline <= now) {
      complete(inflight_[swept_], timeout);
      ++swept_;
    }
    if (swept_ == inflight_.size()) {
      // Staged commands behind a write that Redis does not read.
      std::lock_guard lock(mutex_);
      while (staged_swept_ < staged_.size() && staged_[staged_swept_].deadline <= now) {
        complete(staged_[staged_swept_], timeout);
        ++staged_swept_;
      }
    }
    arm_sweep();
  }

  client_state& owner_;
  const std::size_t index_;
  std::atomic<bool> up_{false};

  std::mutex mutex_;  // guards the six fields below
  bool accepting_ = false;
  bool flush_pending_ = false;  // a flush is posted or a write in flight: callers do not post
  bool sweep_idle_ = true;      // no sweep is armed nor posted: the next caller posts one
  std::string staged_bytes_;
  std::vector<pending> staged_;
  std::size_t staged_swept_ = 0;  // leading staged_ entries already timed out

  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer sweep_timer_;
  reply_parser parser_;
  reply reply_;
  std::array<char, 16 * 1024> read_buf_{};
  std::string write_buf_;
  std::vector<pending> batch_;
  std::deque<pending> inflight_;
  std::size_t swept_ = 0;  // leading inflight_ entries already timed out (or completed)
  bool writing_ = false;
  bool sweep_armed_ = false;
  bool connecting_ = false;
  std::uint64_t epoch_ = 0;    // bumped on every loss; stale write completions are told apart
  std::uint64_t attempt_ = 0;  // connect attempts; a stale connect timer is told apart
  std::string failure_;       // why the last attempt failed or the connection was lost, for the log
  std::string last_failure_;  // the last logged failure: a down server logs once
};

client_state::client_state(client_options options) : options_(std::move(options)) {
  const int n = std::max(1, options_.connections);
  connections_.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    connections_.push_back(std::make_unique<connection>(*this, static_cast<std::size_t>(i)));
  }
  for (auto& c : connections_) asio::co_spawn(io_, c->run(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

client_state::~client_state() {
  asio::post(io_, [this] {
    stopping_ = true;
    for (auto& c : connections_) c->shutdown();
  });
  work_.reset();
  thread_.join();
}

void client_state::submit(const command_args& args, pending& p) {
  const std::size_t n = connections_.size();
  const std::size_t first = thread_slot();
  for (std::size_t i = 0; i < n; ++i) {
    connection& c = *connections_[(first + i) % n];
    if (c.up() && c.enqueue(args, p)) return;
  }
  complete(p, make_error_code(client_error::not_connected));
}

}  // namespace detail

namespace {

// async_initiate's initiation: type-erases the caller's handler and queues it.
struct submit_initiation {
  detail::client_state* state;
  command_args args;

  template <class Handler>
  void operator()(Handler&& handler) const {
    asio::any_io_executor executor = asio::get_associated_executor(handler);
    pending p(completion(std::forward<Handler>(handler)), std::move(executor));
    state->submit(args, p);
  }
};

// One coroutine frame per command; it owns `owned` (when the caller gave a vector)
// until the initiation has encoded it.
asio::awaitable<client::result> run_command(detail::client_state& state,
                                            std::vector<std::string> owned,
                                            std::span<const std::string_view> views) {
  const command_args args{owned, views};
  if (args.empty()) {
    co_return client::result{make_error_code(boost::system::errc::invalid_argument), reply{}};
  }
  // The fast failure the backend relies on to fall back: no suspension, no post.
  if (!state.connected()) {
    co_return client::result{make_error_code(client_error::not_connected), reply{}};
  }
  auto [ec, r] = co_await asio::async_initiate<decltype(nothrow), void(error_code, reply)>(
      submit_initiation{&state, args}, nothrow);
  co_return client::result{ec, std::move(r)};
}

}  // namespace

client::client(client_options options)
    : state_(std::make_unique<detail::client_state>(std::move(options))) {}

client::~client() = default;

bool client::connected() const noexcept {
  return state_->connected();
}

asio::awaitable<client::result> client::command(std::vector<std::string> args) {
  return run_command(*state_, std::move(args), {});
}

asio::awaitable<client::result> client::command(std::span<const std::string_view> args) {
  return run_command(*state_, {}, args);
}

}  // namespace sluice::redis
