#include "redis/client.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/deferred.hpp>
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

constexpr auto nothrow = asio::as_tuple(asio::deferred);
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

// A command waiting for its reply, in the order its bytes go to the server.
struct pending {
  pending(completion h, steady::time_point d) : handler(std::move(h)), deadline(d) {}
  pending(pending&&) noexcept = default;
  // Boost 1.81's any_completion_handler move assignment recurses until the stack
  // overflows (it wraps its argument as a new handler): only ever move-construct.
  pending& operator=(pending&&) = delete;

  completion handler;  // empty once completed: its reply, when it comes, is dropped
  steady::time_point deadline;
};

// A reply matched to its command, to be handed over once the read batch is parsed.
struct matched {
  matched(completion h, reply r) : handler(std::move(h)), value(std::move(r)) {}
  matched(matched&&) noexcept = default;
  matched& operator=(matched&&) = delete;  // as pending

  completion handler;
  reply value;
};

// Runs completions on the connection's own thread, which is the callers' thread:
// the awaiting coroutines resume here, one after the other. Called only after the
// connection's state is consistent (the handlers were taken out of its queues), so
// a resumed coroutine may issue its next command at once.
template <class Handlers>
void complete_all(Handlers& handlers, error_code ec) {
  for (auto& h : handlers) std::move(h)(ec, reply{});
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

// What a client shares with its connections, which can outlive it a little (until
// their io_context runs their shutdown, or is destroyed). Thread-safe.
struct hub {
  explicit hub(client_options o)
      : options(without_log(o)),
        log(std::move(o.log)),
        doubt(std::move(o.on_master_doubt)),
        host(o.host),
        port(o.port) {}
  static client_options without_log(client_options o) {
    o.log = nullptr;
    o.on_master_doubt = nullptr;
    return o;
  }

  void write_log(const std::string& line) {
    std::lock_guard lock(mutex);
    if (log) log(line);
  }
  void doubt_master() {
    std::lock_guard lock(mutex);
    if (doubt) doubt();
  }
  struct target {
    std::string host;
    std::uint16_t port;
    std::uint64_t generation;
  };
  target address() {
    std::lock_guard lock(address_mutex);
    return {host, port, generation};
  }
  // `up` just came up: the connections waiting in backoff retry now.
  void nudge(const connection& up);

  const client_options options;  // without `log`
  std::mutex mutex;              // guards the four fields below
  std::function<void(std::string_view)> log;
  std::function<void()> doubt;  // options.on_master_doubt
  bool stopping = false;
  std::vector<std::shared_ptr<connection>> connections;  // all of them, for nudge()
  std::atomic<std::size_t> contexts_up{0};  // io_contexts with at least one connection up
  // Where connections go: options' host and port until set_address(); the generation
  // counts the changes, so a connection knows whether its address is stale.
  std::mutex address_mutex;  // guards the three fields below
  std::string host;
  std::uint16_t port;
  std::uint64_t generation = 0;
};

// How many connections of one io_context are up (read by connected() anywhere).
struct context_status {
  std::atomic<int> up{0};
};

// One socket to Redis, living on one io_context and touched only from its thread
// (except up() and in_backoff(), atomics). Commands pass through one FIFO queue:
// encoded into `out_` (the bytes not yet written), written as one batch per turn,
// matched to replies by position. Owned by shared pointers: the client's, and every
// handler in flight holds one, so the connection lives until its last handler has
// run or been destroyed with its io_context.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(asio::io_context& io, std::shared_ptr<hub> h, std::shared_ptr<context_status> status,
             std::string name)
      : io_(io),
        hub_(std::move(h)),
        status_(std::move(status)),
        name_(std::move(name)),
        socket_(io),
        resolver_(io),
        connect_timer_(io),
        retry_timer_(io),
        sweep_timer_(io) {}

  asio::io_context& io() { return io_; }
  bool up() const noexcept { return up_.load(std::memory_order_acquire); }
  bool in_backoff() const noexcept { return in_backoff_.load(std::memory_order_acquire); }

  // This thread only.
  bool accepting() const { return accepting_; }
  bool batching() const { return !out_.empty(); }  // this turn's commands wait for a flush
  std::size_t queued() const { return queue_.size(); }

  // Queues one command (accepting() must hold). The first command of a turn posts
  // the flush that writes them all.
  void enqueue(const command_args& args, completion handler) {
    args.append_to(out_);
    queue_.emplace_back(std::move(handler), steady::now() + hub_->options.timeout);
    if (!writing_ && !flush_posted_) {
      flush_posted_ = true;
      asio::post(io_, [self = shared_from_this()] { self->flush(); });
    }
    arm_sweep();
  }

  // Connects, serves, and reconnects with backoff until shutdown().
  static asio::awaitable<void> run(std::shared_ptr<connection> self) { co_await self->loop(); }

  // Everything in progress ends; run() fails what is pending and returns.
  void shutdown() {
    stopping_ = true;
    accepting_ = false;
    resolver_.cancel();
    connect_timer_.cancel();
    retry_timer_.cancel();
    sweep_timer_.cancel();
    close_socket();
  }

  // Another connection came up: stop waiting for the backoff.
  void retry_now() {
    if (in_backoff()) retry_timer_.cancel();
  }

  // client::set_address() made `generation` current: a connection up to (or being
  // made to) an older address closes, and every one reconnects at once.
  void readdress(std::uint64_t generation) {
    if (stopping_ || generation <= address_generation_) return;
    moved_ = true;
    if (in_backoff()) {
      retry_timer_.cancel();
      return;
    }
    failure_ = "the address changed";
    resolver_.cancel();
    close_socket();
  }

 private:
  const client_options& options() const { return hub_->options; }

  asio::awaitable<void> loop() {
    auto backoff = options().reconnect_min;
    while (!stopping_) {
      moved_ = false;
      error_code ec = co_await establish();
      if (!ec && !stopping_) {
        go_up();
        backoff = options().reconnect_min;
        hub_->write_log(name_ + " up");
        last_failure_.clear();
        ec = co_await serve();
        lose(ec);
        if (!stopping_) {
          hub_->write_log(name_ + " lost: " + ec.message() +
                          (failure_.empty() ? "" : " (" + failure_ + ")"));
        }
      } else {
        close_socket();
        std::string failure = failure_.empty() ? ec.message() : failure_;
        if (!stopping_ && failure != last_failure_) {
          hub_->write_log(name_ + " cannot connect: " + failure);
          last_failure_ = std::move(failure);
        }
      }
      if (stopping_) break;
      if (moved_) {  // set_address(): the new address is tried now
        backoff = options().reconnect_min;
        continue;
      }
      hub_->doubt_master();
      retry_timer_.expires_after(backoff);
      in_backoff_.store(true, std::memory_order_release);
      co_await retry_timer_.async_wait(nothrow);
      in_backoff_.store(false, std::memory_order_release);
      backoff = std::min(backoff * 2, options().reconnect_max);
    }
    lose(client_error::connection_lost);
  }

  void close_socket() {
    error_code ignored;
    socket_.close(ignored);
  }

  // TCP connect, then AUTH/SELECT/PING pipelined, all within connect_timeout.
  asio::awaitable<error_code> establish() {
    const std::uint64_t attempt = ++attempt_;
    failure_.clear();
    connecting_ = true;
    connect_timer_.expires_after(options().connect_timeout);
    connect_timer_.async_wait([self = shared_from_this(), attempt](error_code ec) {
      if (ec || attempt != self->attempt_ || !self->connecting_) return;
      self->failure_ = "timed out";
      self->resolver_.cancel();
      self->close_socket();
    });
    error_code ec = co_await handshake();
    connecting_ = false;
    connect_timer_.cancel();
    co_return ec;
  }

  asio::awaitable<error_code> handshake() {
    const auto& o = options();
    const auto address = hub_->address();
    address_generation_ = address.generation;
    if (address.host.empty()) {
      failure_ = "no address yet";
      co_return make_error_code(client_error::not_connected);
    }
    auto [resolve_ec, endpoints] =
        co_await resolver_.async_resolve(address.host, std::to_string(address.port), nothrow);
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
    accepting_ = true;
    up_.store(true, std::memory_order_release);
    if (status_->up.fetch_add(1, std::memory_order_acq_rel) == 0) {
      hub_->contexts_up.fetch_add(1, std::memory_order_acq_rel);
    }
    hub_->nudge(*this);
  }

  // Reads replies and hands each to the oldest command until the connection fails.
  // A read's replies are matched first and handed over after: the resumed callers
  // never see the queue half-updated, and never re-enter this loop.
  asio::awaitable<error_code> serve() {
    for (;;) {
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(read_buf_), nothrow);
      if (ec) co_return make_error_code(client_error::connection_lost);
      if (!parser_.feed(read_buf_.data(), n)) co_return make_error_code(client_error::protocol);
      for (;;) {
        const auto status = parser_.next(reply_);
        if (status == reply_parser::status::incomplete) break;
        if (status == reply_parser::status::protocol_error || queue_.empty()) {
          // Garbage, a reply beyond reply_limits, or an unasked reply: this
          // connection only is dropped, and loop() reconnects it. The replies
          // matched before it are good.
          failure_ = status == reply_parser::status::protocol_error ? std::string(parser_.error())
                                                                    : "a reply nobody asked for";
          hand_over();
          co_return make_error_code(client_error::protocol);
        }
        if (reply_.is_error() && reply_.text.starts_with("READONLY")) hub_->doubt_master();
        pending& front = queue_.front();
        if (front.handler) matched_.emplace_back(std::move(front.handler), std::move(reply_));
        queue_.pop_front();
        if (swept_ > 0) --swept_;
      }
      hand_over();
    }
  }

  void hand_over() {
    // Only serve() fills matched_, and a resumed caller cannot get back into it.
    for (auto& m : matched_) std::move(m.handler)(error_code{}, std::move(m.value));
    matched_.clear();
  }

  // Posted by the first enqueue() of a turn, and run after each write: writes
  // everything queued as one batch.
  void flush() {
    flush_posted_ = false;
    if (writing_ || out_.empty() || !accepting_) return;
    write_buf_.clear();
    std::swap(write_buf_, out_);
    writing_ = true;
    asio::async_write(socket_, asio::buffer(write_buf_),
                      [self = shared_from_this(), epoch = epoch_](error_code ec, std::size_t) {
                        self->on_written(ec, epoch);
                      });
  }

  void on_written(error_code ec, std::uint64_t epoch) {
    writing_ = false;
    // A rare large command leaves no megabyte buffers behind (they swap with out_).
    if (write_buf_.capacity() > max_kept_buffer) std::string().swap(write_buf_);
    if (ec && epoch == epoch_) {
      close_socket();  // serve() sees it and fails the queue
      return;
    }
    flush();  // commands queued during the write (also after a write of a lost socket)
  }

  // Fails every queued command with `why`; the connection stops accepting commands.
  void lose(error_code why) {
    ++epoch_;
    accepting_ = false;
    if (up_.exchange(false, std::memory_order_acq_rel) &&
        status_->up.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      hub_->contexts_up.fetch_sub(1, std::memory_order_acq_rel);
    }
    std::vector<completion> failed;
    for (auto& p : queue_) {
      if (p.handler) failed.push_back(std::move(p.handler));
    }
    queue_.clear();
    swept_ = 0;
    out_.clear();
    if (out_.capacity() > max_kept_buffer) std::string().swap(out_);
    close_socket();
    parser_.reset();
    complete_all(failed, why);
  }

  // The timer stays armed at the earliest deadline still pending. It is not
  // cancelled when replies come: firing early on an empty queue is harmless.
  void arm_sweep() {
    if (sweep_armed_ || swept_ >= queue_.size()) return;
    sweep_armed_ = true;
    sweep_timer_.expires_at(queue_[swept_].deadline);
    sweep_timer_.async_wait([self = shared_from_this()](error_code ec) {
      self->sweep_armed_ = false;
      if (!ec) self->sweep();
    });
  }

  // Completes every command past its deadline with `timeout`, written or not; its
  // entry stays in the queue (its reply will come and be dropped) so later replies
  // still match.
  void sweep() {
    const auto now = steady::now();
    std::vector<completion> expired;
    while (swept_ < queue_.size() && queue_[swept_].deadline <= now) {
      if (queue_[swept_].handler) expired.push_back(std::move(queue_[swept_].handler));
      ++swept_;
    }
    arm_sweep();
    complete_all(expired, make_error_code(client_error::timeout));
  }

  asio::io_context& io_;
  const std::shared_ptr<hub> hub_;
  const std::shared_ptr<context_status> status_;
  const std::string name_;
  std::atomic<bool> up_{false};
  std::atomic<bool> in_backoff_{false};

  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer sweep_timer_;
  reply_parser parser_;
  reply reply_;
  std::array<char, 16 * 1024> read_buf_{};
  std::string out_;        // encoded commands not written yet (the tail of queue_)
  std::string write_buf_;  // the batch being written
  std::deque<pending> queue_;
  std::vector<matched> matched_;  // serve(): replies of one read, until handed over
  std::size_t swept_ = 0;         // leading queue_ entries already timed out
  bool accepting_ = false;
  bool stopping_ = false;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool sweep_armed_ = false;
  bool connecting_ = false;
  std::uint64_t epoch_ = 0;    // bumped on every loss; stale write completions are told apart
  std::uint64_t attempt_ = 0;  // connect attempts; a stale connect timer is told apart
  std::string failure_;       // why the last attempt failed or the connection was lost, for the log
  std::string last_failure_;  // the last logged failure: a down server logs once
  std::uint64_t address_generation_ = 0;  // of the address of the last attempt
  bool moved_ = false;                    // set_address() interrupted this attempt or connection
};

void hub::nudge(const connection& up) {
  std::lock_guard lock(mutex);
  if (stopping) return;
  for (const auto& c : connections) {
    if (c.get() == &up || !c->in_backoff()) continue;
    asio::post(c->io(), [c] { c->retry_now(); });
  }
}

// The connections of one io_context. Shared with the commands hopping to it; its
// list never changes after construction.
struct context {
  asio::io_context* io;
  std::shared_ptr<context_status> status = std::make_shared<context_status>();
  std::vector<std::shared_ptr<connection>> connections;

  bool up() const noexcept { return status->up.load(std::memory_order_acquire) > 0; }

  // On io's thread: the connection for the next command, or null when none is up.
  // The one already collecting this turn's batch, else the least loaded.
  connection* pick() const {
    connection* best = nullptr;
    for (const auto& c : connections) {
      if (!c->accepting()) continue;
      if (c->batching()) return c.get();
      if (best == nullptr || c->queued() < best->queued()) best = c.get();
    }
    return best;
  }
};

// The connections of every io_context, and the client's own I/O thread when it has
// no contexts. Owned by `client`.
class client_state {
 public:
  client_state(client_options options, std::vector<asio::io_context*> workers,
               asio::io_context* control)
      : workers_(workers.size()) {
    const int per_worker = std::max(1, options.connections);
    if (workers.empty() && control == nullptr) {
      own_io_ = std::make_unique<asio::io_context>(1);
      own_work_.emplace(own_io_->get_executor());
    }
    hub_ = std::make_shared<hub>(std::move(options));
    for (std::size_t i = 0; i < workers.size(); ++i) {
      add(*workers[i], per_worker, "w" + std::to_string(i) + ".");
    }
    if (control != nullptr) add(*control, 1, "control.");
    if (own_io_) add(*own_io_, per_worker, "");
    for (auto& ctx : contexts_) {
      for (auto& c : ctx->connections) asio::co_spawn(*ctx->io, connection::run(c), asio::detached);
    }
    if (own_io_) own_thread_ = std::thread([io = own_io_.get()] { io->run(); });
  }

  ~client_state() {
    {
      std::lock_guard lock(hub_->mutex);
      hub_->stopping = true;
      hub_->log = nullptr;
      hub_->doubt = nullptr;
      hub_->connections.clear();
    }
    for (auto& ctx : contexts_) {
      for (auto& c : ctx->connections) asio::post(*ctx->io, [c] { c->shutdown(); });
    }
    if (own_io_) {
      own_work_.reset();
      own_thread_.join();
    }
  }

  bool set_address(std::string host, std::uint16_t port) {
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(hub_->address_mutex);
      if (host == hub_->host && port == hub_->port) return false;
      hub_->host = std::move(host);
      hub_->port = port;
      generation = ++hub_->generation;
    }
    for (auto& ctx : contexts_) {
      for (auto& c : ctx->connections) {
        asio::post(*ctx->io, [c, generation] { c->readdress(generation); });
      }
    }
    return true;
  }

  std::string address() const {
    const auto a = hub_->address();
    if (a.host.empty()) return {};
    const bool v6 = a.host.find(':') != std::string::npos;
    return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
  }

  // The worker context running on this thread, if any.
  const context* worker_here() const noexcept {
    for (std::size_t i = 0; i < workers_; ++i) {
      if (contexts_[i]->io->get_executor().running_in_this_thread()) return contexts_[i].get();
    }
    return nullptr;
  }

  bool connected() const noexcept {
    if (const context* here = worker_here()) return here->up();
    return hub_->contexts_up.load(std::memory_order_acquire) == contexts_.size();
  }

  // The context of `io`, when the client serves it.
  context* context_of(const asio::execution_context& io) const noexcept {
    for (const auto& ctx : contexts_) {
      if (static_cast<const asio::execution_context*>(ctx->io) == &io) return ctx.get();
    }
    return nullptr;
  }

  // A context with a connection up, for a caller the client does not know; rotates.
  std::shared_ptr<context> any_up() {
    const std::size_t n = contexts_.size();
    const std::size_t first = next_.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& ctx = contexts_[(first + i) % n];
      if (ctx->up()) return ctx;
    }
    return nullptr;
  }

 private:
  void add(asio::io_context& io, int connections, const std::string& prefix) {
    auto ctx = std::make_shared<context>();
    ctx->io = &io;
    for (int i = 0; i < connections; ++i) {
      auto c = std::make_shared<connection>(io, hub_, ctx->status,
                                            "redis connection " + prefix + std::to_string(i));
      ctx->connections.push_back(c);
      hub_->connections.push_back(std::move(c));
    }
    contexts_.push_back(std::move(ctx));
  }

  // Declared first, destroyed last: the connections' sockets and timers use it.
  std::unique_ptr<asio::io_context> own_io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> own_work_;
  std::thread own_thread_;
  std::shared_ptr<hub> hub_;
  const std::size_t workers_;                       // contexts_[0, workers_) are workers
  std::vector<std::shared_ptr<context>> contexts_;  // workers, control, own
  std::atomic<std::size_t> next_{0};
};

}  // namespace detail

namespace {

// async_initiate's initiation: type-erases the caller's handler and queues it.
struct enqueue_initiation {
  detail::connection* target;
  command_args args;
  command_args first;  // queued just before `args` when not empty, its reply dropped

  template <class Handler>
  void operator()(Handler&& handler) const {
    if (!first.empty()) target->enqueue(first, completion([](error_code, reply) {}));
    target->enqueue(args, completion(std::forward<Handler>(handler)));
  }
};

// The operation that queues `args` on `c` (after `first`, back to back, when given)
// and completes with its reply; awaited on c's thread.
auto send_on(detail::connection& c, const command_args& args, const command_args& first = {}) {
  return asio::async_initiate<decltype(nothrow), void(error_code, reply)>(
      enqueue_initiation{&c, args, first}, nothrow);
}

client::result not_connected() {
  return {make_error_code(client_error::not_connected), reply{}};
}

// A caller the client does not know, hopped onto `ctx`'s thread; it holds `ctx`
// (and so its connections) until the reply.
asio::awaitable<client::result> send_hopped(std::shared_ptr<detail::context> ctx, command_args args,
                                            command_args first) {
  detail::connection* c = ctx->pick();
  if (c == nullptr) co_return not_connected();
  auto [ec, r] = co_await send_on(*c, args, first);
  co_return client::result{ec, std::move(r)};
}

// One coroutine frame per command; it owns `owned` (when the caller gave a vector)
// until the command has been encoded.
asio::awaitable<client::result> run_command(detail::client_state& state,
                                            std::vector<std::string> owned,
                                            std::span<const std::string_view> views,
                                            std::span<const std::string_view> first = {}) {
  const command_args args{owned, views};
  const command_args before{{}, first};
  if (args.empty()) {
    co_return client::result{make_error_code(boost::system::errc::invalid_argument), reply{}};
  }
  const auto executor = co_await asio::this_coro::executor;
  if (const auto* here = state.context_of(asio::query(executor, asio::execution::context))) {
    // The fast failure the backend relies on to fall back: no suspension, no post.
    detail::connection* c = here->pick();
    if (c == nullptr) co_return not_connected();
    auto [ec, r] = co_await send_on(*c, args, before);
    co_return client::result{ec, std::move(r)};
  }
  auto there = state.any_up();
  if (!there) co_return not_connected();
  asio::io_context& io = *there->io;
  co_return co_await asio::co_spawn(io, send_hopped(std::move(there), args, before),
                                    asio::use_awaitable);
}

}  // namespace

client::client(client_options options)
    : state_(std::make_unique<detail::client_state>(std::move(options),
                                                    std::vector<asio::io_context*>{}, nullptr)) {}

client::client(client_options options, std::vector<asio::io_context*> workers,
               asio::io_context* control)
    : state_(std::make_unique<detail::client_state>(std::move(options), std::move(workers),
                                                    control)) {}

client::~client() = default;

bool client::connected() const noexcept {
  return state_->connected();
}

bool client::set_address(std::string host, std::uint16_t port) {
  return state_->set_address(std::move(host), port);
}

std::string client::address() const {
  return state_->address();
}

asio::awaitable<client::result> client::command(std::vector<std::string> args) {
  return run_command(*state_, std::move(args), {});
}

asio::awaitable<client::result> client::command(std::span<const std::string_view> args) {
  return run_command(*state_, {}, args);
}

asio::awaitable<client::result> client::command_after(std::span<const std::string_view> first,
                                                      std::span<const std::string_view> args) {
  return run_command(*state_, {}, args, first);
}

}  // namespace sluice::redis
