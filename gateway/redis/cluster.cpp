#include "redis/cluster.hpp"

#include <boost/asio/as_tuple.hpp>
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
#include <bitset>
#include <charconv>
#include <functional>
#include <mutex>

namespace sluice::redis {

namespace asio = boost::asio;
using boost::system::error_code;
using steady = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::deferred);
constexpr std::size_t max_host_length = 255;

// A host as CLUSTER SLOTS or MOVED may name it: an IP, a name; no spaces, no controls.
bool plausible_host(std::string_view host) {
  if (host.empty() || host.size() > max_host_length) return false;
  return std::all_of(host.begin(), host.end(),
                     [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

template <class Int>
bool parse_int(std::string_view text, Int& out) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && !text.empty();
}

// One discovery request: a connection of its own (AUTH when a password is set, then
// CLUSTER SLOTS), closed after the reply or at the deadline. The discovery never
// borrows a node's client, so a router going away never races it.
class probe : public std::enable_shared_from_this<probe> {
 public:
  explicit probe(asio::io_context& io) : socket_(io), resolver_(io), timer_(io) {}

  // On the control thread: cuts the probe short (the router stops).
  void cancel() {
    cancelled_ = true;  // an operation whose completion is already queued ends there
    error_code ignored;
    resolver_.cancel();
    socket_.close(ignored);
    timer_.cancel();
  }

  // The CLUSTER SLOTS reply, or a reason in `why`.
  static asio::awaitable<std::optional<reply>> run(std::shared_ptr<probe> self, node_address a,
                                                   std::string password,
                                                   std::chrono::milliseconds deadline,
                                                   std::string& why) {
    self->timer_.expires_after(deadline);
    self->timer_.async_wait([self](error_code ec) {
      if (ec) return;
      self->timed_out_ = true;
      self->cancel();
    });
    auto out = co_await self->ask(std::move(a), std::move(password), why);
    if (self->timed_out_) {
      why = "timed out";
      out.reset();
    }
    self->cancel();
    co_return out;
  }

 private:
  asio::awaitable<std::optional<reply>> ask(node_address a, std::string password,
                                            std::string& why) {
    auto [resolve_ec, endpoints] =
        co_await resolver_.async_resolve(a.host, std::to_string(a.port), nothrow);
    if (resolve_ec) {
      why = resolve_ec.message();
      co_return std::nullopt;
    }
    if (cancelled_) {  // async_connect would open a new socket that cancel() never closes
      why = "cancelled";
      co_return std::nullopt;
    }
    auto [connect_ec, endpoint] = co_await asio::async_connect(socket_, endpoints, nothrow);
    if (connect_ec) {
      why = connect_ec.message();
      co_return std::nullopt;
    }
    std::string out;
    int expected = 1;
    if (!password.empty()) {
      append_command(out, {"AUTH", password});
      ++expected;
    }
    append_command(out, {"CLUSTER", "SLOTS"});
    auto [write_ec, written] = co_await asio::async_write(socket_, asio::buffer(out), nothrow);
    if (write_ec) {
      why = write_ec.message();
      co_return std::nullopt;
    }
    reply_parser parser;
    std::array<char, 16 * 1024> buf{};
    reply r;
    for (;;) {
      switch (parser.next(r)) {
        case reply_parser::status::ready:
          if (--expected == 0) co_return std::move(r);
          if (r.is_error()) {  // AUTH
            why = "AUTH: " + r.text.substr(0, 200);
            co_return std::nullopt;
          }
          continue;
        case reply_parser::status::protocol_error:
          why = "not RESP: " + std::string(parser.error());
          co_return std::nullopt;
        case reply_parser::status::incomplete:
          break;
      }
      auto [read_ec, n] = co_await socket_.async_read_some(asio::buffer(buf), nothrow);
      if (read_ec) {
        why = read_ec == asio::error::eof ? "connection closed" : read_ec.message();
        co_return std::nullopt;
      }
      if (!parser.feed(buf.data(), n)) {
        why = "not RESP: " + std::string(parser.error());
        co_return std::nullopt;
      }
    }
  }

  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  bool timed_out_ = false;
  bool cancelled_ = false;
};

}  // namespace

std::string node_address::text() const {
  return host + ":" + std::to_string(port);
}

std::optional<std::vector<slot_range>> parse_cluster_slots(const reply& r,
                                                           const node_address& asked,
                                                           std::string& why) {
  if (r.is_error()) {
    why = "error reply: " + r.text.substr(0, 200);
    return std::nullopt;
  }
  if (r.type != reply::kind::array) {
    why = "not an array";
    return std::nullopt;
  }
  if (r.elements.empty()) {
    why = "no slot is assigned";
    return std::nullopt;
  }
  if (r.elements.size() > slot_count) {
    why = "more ranges than slots";
    return std::nullopt;
  }
  std::vector<slot_range> out;
  out.reserve(r.elements.size());
  std::bitset<slot_count> seen;
  for (std::size_t i = 0; i < r.elements.size(); ++i) {
    const reply& e = r.elements[i];
    const std::string where = "range " + std::to_string(i) + ": ";
    if (e.type != reply::kind::array || e.elements.size() < 3) {
      why = where + "not an array of [first, last, master, ...]";
      return std::nullopt;
    }
    const reply& first = e.elements[0];
    const reply& last = e.elements[1];
    const reply& master = e.elements[2];
    if (first.type != reply::kind::integer || last.type != reply::kind::integer ||
        first.integer < 0 || last.integer >= slot_count || first.integer > last.integer) {
      why = where + "slots are not a range within 0-16383";
      return std::nullopt;
    }
    if (master.type != reply::kind::array || master.elements.size() < 2) {
      why = where + "the master is not an array of [host, port, ...]";
      return std::nullopt;
    }
    const reply& host = master.elements[0];
    const reply& port = master.elements[1];
    slot_range range;
    range.first = static_cast<std::uint16_t>(first.integer);
    range.last = static_cast<std::uint16_t>(last.integer);
    if (host.is_nil() || (host.type == reply::kind::string && host.text.empty())) {
      range.master.host = asked.host;  // the node does not know its endpoint: ours
    } else if (host.type == reply::kind::string && plausible_host(host.text) && host.text != "?") {
      range.master.host = host.text;
    } else {
      why = where + "the master's host is not usable";
      return std::nullopt;
    }
    if (port.type != reply::kind::integer || port.integer < 1 || port.integer > 65535) {
      why = where + "the master's port is not within 1-65535";
      return std::nullopt;
    }
    range.master.port = static_cast<std::uint16_t>(port.integer);
    for (std::size_t s = range.first; s <= range.last; ++s) {
      if (seen.test(s)) {
        why = where + "slot " + std::to_string(s) + " is in two ranges";
        return std::nullopt;
      }
      seen.set(s);
    }
    out.push_back(std::move(range));
  }
  return out;
}

std::optional<redirect> parse_redirect(std::string_view error, const node_address& from) {
  redirect out;
  if (error.starts_with("MOVED ")) {
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    out.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto space = error.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  unsigned slot = 0;
  if (!parse_int(error.substr(0, space), slot) || slot >= slot_count) return std::nullopt;
  out.slot = static_cast<std::uint16_t>(slot);
  const std::string_view address = error.substr(space + 1);
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  unsigned port = 0;
  if (!parse_int(address.substr(colon + 1), port) || port < 1 || port > 65535) return std::nullopt;
  out.target.port = static_cast<std::uint16_t>(port);
  const std::string_view host = address.substr(0, colon);
  if (host.empty()) {
    out.target.host = from.host;
  } else if (plausible_host(host)) {
    out.target.host = std::string(host);
  } else {
    return std::nullopt;
  }
  return out;
}

namespace detail {

// One master (or a former one): its address, id and client. Created on the control
// thread, destroyed with the router.
struct cluster_node {
  node_address address;
  std::size_t id = 0;
  std::unique_ptr<client> c;
};

// Serializes the log lines of every node's client and of the router.
struct log_sink {
  std::mutex mutex;
  std::function<void(std::string_view)> write_fn;
  void write(std::string_view line) {
    std::lock_guard lock(mutex);
    if (write_fn) write_fn(line);
  }
};

// The router's state, shared with the control thread's refresh loop (which may
// outlive the router briefly: it holds a reference and stops at its next step).
// The per-command fields are atomics; the rest is touched on the control thread under
// `mutex`, and by stop().
class cluster_state : public std::enable_shared_from_this<cluster_state> {
 public:
  static constexpr std::size_t mask_words = (cluster_router::max_nodes + 1 + 63) / 64;

  cluster_state(cluster_options o, std::vector<asio::io_context*> workers,
                asio::io_context* control)
      : options_(std::move(o)), workers_(std::move(workers)) {
    log_ = std::make_shared<log_sink>();
    log_->write_fn = std::move(options_.node.log);
    options_.node.log = nullptr;
    options_.node.database = 0;
    if (control == nullptr) {
      own_io_ = std::make_unique<asio::io_context>(1);
      own_work_.emplace(own_io_->get_executor());
      control = own_io_.get();
    }
    control_ = control;
    timer_.emplace(*control_);
    slots_ = std::make_unique<std::atomic<std::uint16_t>[]>(slot_count);
    for (std::size_t i = 0; i < slot_count; ++i) slots_[i].store(0, std::memory_order_relaxed);
    nodes_ = std::make_unique<std::unique_ptr<cluster_node>[]>(cluster_router::max_nodes + 1);
  }

  void start() {
    asio::co_spawn(*control_, refresh_loop(shared_from_this()), asio::detached);
    if (own_io_) own_thread_ = std::thread([io = own_io_.get()] { io->run(); });
  }

  // ~cluster_router: the refresh loop stops at its next step, every client closes.
  void stop() {
    std::vector<std::unique_ptr<client>> clients;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (std::size_t id = 1; id <= node_count_.load(std::memory_order_relaxed); ++id) {
        clients.push_back(std::move(nodes_[id]->c));
      }
    }
    {
      std::lock_guard lock(log_->mutex);
      log_->write_fn = nullptr;
    }
    clients.clear();  // each posts its connections' shutdown
    asio::post(*control_, [self = shared_from_this()] {
      self->timer_->cancel();
      if (auto p = self->probe_.lock()) p->cancel();
    });
    if (own_io_) {
      own_work_.reset();
      own_thread_.join();
    }
  }

  // ---- any thread ----

  cluster_node* owner(std::uint16_t slot) const noexcept {
    const std::uint16_t id = slots_[slot].load(std::memory_order_acquire);
    return id == 0 ? nullptr : nodes_[id].get();
  }

  cluster_node* find(const node_address& a) const noexcept {
    const std::size_t n = node_count_.load(std::memory_order_acquire);
    for (std::size_t id = 1; id <= n; ++id) {
      if (nodes_[id]->address == a) return nodes_[id].get();
    }
    return nullptr;
  }

  const cluster_node* node(std::size_t id) const noexcept {
    if (id == 0 || id > node_count_.load(std::memory_order_acquire)) return nullptr;
    return nodes_[id].get();
  }

  // A MOVED from a worker: the slot belongs to `n` now.
  void learn(std::uint16_t slot, const cluster_node& n) noexcept {
    slots_[slot].store(static_cast<std::uint16_t>(n.id), std::memory_order_release);
  }

  // Callers of the router only (never after stop()); the control thread uses
  // map_complete().
  bool connected() const noexcept {
    if (!covered_.load(std::memory_order_acquire)) return false;
    for (std::size_t w = 0; w < mask_words; ++w) {
      std::uint64_t bits = masters_[w].load(std::memory_order_acquire);
      while (bits != 0) {
        const int b = __builtin_ctzll(bits);
        bits &= bits - 1;
        const cluster_node* n = node(w * 64 + static_cast<std::size_t>(b));
        if (n == nullptr || !n->c->connected()) return false;
      }
    }
    return true;
  }

  void request_refresh() noexcept {
    if (requested_.exchange(true, std::memory_order_acq_rel)) return;
    try {
      asio::post(*control_, [self = shared_from_this()] { self->timer_->cancel(); });
    } catch (...) {
      requested_.store(false, std::memory_order_release);
    }
  }

  std::uint64_t map_changes() const noexcept {
    return map_changes_.load(std::memory_order_acquire);
  }
  std::uint64_t maps_read() const noexcept { return maps_read_.load(std::memory_order_acquire); }

  const cluster_options& options() const { return options_; }

 private:
  std::function<void(std::string_view)> node_log(std::string prefix) {
    return [sink = log_, prefix = std::move(prefix) + ": "](std::string_view line) {
      sink->write(prefix + std::string(line));
    };
  }

  void log(const std::string& line) { log_->write("cluster: " + line); }

  // Logs `line` unless it repeats the last failure logged (a down cluster logs once).
  void log_failure(std::string line) {
    if (line == last_failure_) return;
    log(line);
    last_failure_ = std::move(line);
  }

  bool stopped() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  // The control thread's connected(): under mutex_, as stop() takes the clients.
  bool map_complete() {
    std::lock_guard lock(mutex_);
    return !stopping_ && connected();
  }

  static asio::awaitable<void> refresh_loop(std::shared_ptr<cluster_state> self) {
    for (;;) {
      if (self->stopped()) co_return;
      self->requested_.store(false, std::memory_order_release);
      self->last_refresh_ = steady::now();
      co_await self->refresh_once();
      if (self->stopped()) co_return;
      if (!self->requested_.load(std::memory_order_acquire)) {
        const auto& o = self->options_;
        self->timer_->expires_after(self->map_complete() ? o.refresh_interval
                                                         : o.degraded_refresh_interval);
        co_await self->timer_->async_wait(nothrow);
        if (self->stopped()) co_return;
      }
      const auto since = steady::now() - self->last_refresh_;
      if (since < self->options_.refresh_min_gap) {
        self->timer_->expires_after(self->options_.refresh_min_gap - since);
        co_await self->timer_->async_wait(nothrow);
      }
    }
  }

  // Who to ask for the map: the masters in it, the other known nodes, the seeds
  // (each address once).
  std::vector<node_address> candidates() {
    std::lock_guard lock(mutex_);
    std::vector<node_address> out;
    if (stopping_) return out;
    const std::size_t n = node_count_.load(std::memory_order_relaxed);
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t id = 1; id <= n; ++id) {
        const bool master = (masters_[id / 64].load(std::memory_order_relaxed) >> (id % 64)) & 1U;
        if (master == (pass == 0)) out.push_back(nodes_[id]->address);
      }
    }
    for (const auto& seed : options_.seeds) {
      if (std::find(out.begin(), out.end(), seed) == out.end()) out.push_back(seed);
    }
    return out;
  }

  asio::awaitable<void> refresh_once() {
    std::string why = "no seed or node answered";
    for (const auto& address : candidates()) {
      auto p = std::make_shared<probe>(*control_);
      probe_ = p;
      std::string failed;
      auto r = co_await probe::run(p, address, options_.node.password,
                                   options_.node.connect_timeout, failed);
      probe_.reset();
      if (stopped()) co_return;
      if (!r) {
        why = address.text() + ": " + failed;
        continue;
      }
      std::string bad;
      auto map = parse_cluster_slots(*r, address, bad);
      if (!map) {
        why = "CLUSTER SLOTS from " + address.text() + " refused: " + bad;
        log_failure(why);
        continue;
      }
      co_await apply(std::move(*map), address);
      co_return;
    }
    log_failure("no slot map: " + why);
  }

  // Makes `map` current: clients for new masters (waited for, up to the connect
  // timeout, so their slots do not fail while they connect), then the slots.
  asio::awaitable<void> apply(std::vector<slot_range> map, node_address from) {
    std::vector<std::uint16_t> ids(map.size(), 0);
    std::vector<client*> fresh;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) co_return;
      for (std::size_t i = 0; i < map.size(); ++i) {
        cluster_node* n = find(map[i].master);
        if (n == nullptr) {
          n = add_node(map[i].master);
          if (n == nullptr) {
            log_failure("more than " + std::to_string(cluster_router::max_nodes) +
                        " masters seen: " + map[i].master.text() + " is not used");
            continue;
          }
          fresh.push_back(n->c.get());
        }
        ids[i] = static_cast<std::uint16_t>(n->id);
      }
    }
    if (!fresh.empty()) {
      asio::steady_timer wait(*control_);
      const auto deadline = steady::now() + options_.node.connect_timeout;
      for (;;) {
        {
          std::lock_guard lock(mutex_);
          if (stopping_) co_return;
          if (std::all_of(fresh.begin(), fresh.end(), [](client* c) { return c->connected(); })) {
            break;
          }
        }
        if (steady::now() >= deadline) break;
        wait.expires_after(std::chrono::milliseconds(5));
        co_await wait.async_wait(nothrow);
      }
    }
    std::lock_guard lock(mutex_);
    if (stopping_) co_return;
    std::vector<std::uint16_t> table(slot_count, 0);
    for (std::size_t i = 0; i < map.size(); ++i) {
      for (std::size_t s = map[i].first; s <= map[i].last; ++s) table[s] = ids[i];
    }
    std::size_t changed = 0;
    std::array<std::uint64_t, mask_words> mask{};
    std::vector<std::size_t> owned(cluster_router::max_nodes + 1, 0);
    bool covered = true;
    for (std::size_t s = 0; s < slot_count; ++s) {
      const std::uint16_t id = table[s];
      if (slots_[s].load(std::memory_order_relaxed) != id) {
        slots_[s].store(id, std::memory_order_release);
        ++changed;
      }
      if (id == 0) {
        covered = false;
      } else {
        mask[id / 64] |= std::uint64_t{1} << (id % 64);
        ++owned[id];
      }
    }
    bool masters_changed = false;
    for (std::size_t w = 0; w < mask_words; ++w) {
      if (masters_[w].exchange(mask[w], std::memory_order_acq_rel) != mask[w]) {
        masters_changed = true;
      }
    }
    covered_.store(covered, std::memory_order_release);
    maps_read_.fetch_add(1, std::memory_order_acq_rel);
    last_failure_.clear();
    if (changed == 0 && !masters_changed) co_return;
    map_changes_.fetch_add(1, std::memory_order_acq_rel);
    std::string line =
        "slot map from " + from.text() + ": " + std::to_string(changed) + " slots changed;";
    for (std::size_t id = 1; id <= node_count_.load(std::memory_order_relaxed); ++id) {
      if (owned[id] == 0) continue;
      line += " shard " + std::to_string(id) + " " + nodes_[id]->address.text() + " (" +
              std::to_string(owned[id]) + " slots)";
    }
    if (!covered) line += "; some slots have no master";
    log(line);
  }

  // Under mutex_, on the control thread.
  cluster_node* add_node(const node_address& a) {
    const std::size_t id = node_count_.load(std::memory_order_relaxed) + 1;
    if (id > cluster_router::max_nodes) return nullptr;
    auto n = std::make_unique<cluster_node>();
    n->address = a;
    n->id = id;
    client_options o = options_.node;
    o.host = a.host;
    o.port = a.port;
    o.log = node_log("node " + a.text());
    n->c = std::make_unique<client>(std::move(o), workers_, control_);
    nodes_[id] = std::move(n);
    node_count_.store(id, std::memory_order_release);
    return nodes_[id].get();
  }

  cluster_options options_;
  std::vector<asio::io_context*> workers_;
  std::shared_ptr<log_sink> log_;
  // Declared before anything using it, destroyed after.
  std::unique_ptr<asio::io_context> own_io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> own_work_;
  std::thread own_thread_;
  asio::io_context* control_ = nullptr;
  std::optional<asio::steady_timer> timer_;  // the refresh loop's; control thread only

  std::unique_ptr<std::atomic<std::uint16_t>[]> slots_;           // node id per slot, 0 none
  std::unique_ptr<std::unique_ptr<cluster_node>[]> nodes_;        // [1, node_count_]
  std::atomic<std::size_t> node_count_{0};                        // published with release
  std::array<std::atomic<std::uint64_t>, mask_words> masters_{};  // ids owning slots
  std::atomic<bool> covered_{false};
  std::atomic<bool> requested_{false};
  std::atomic<std::uint64_t> map_changes_{0};
  std::atomic<std::uint64_t> maps_read_{0};

  std::mutex mutex_;  // guards stopping_, the clients (stop() takes them), the map as a whole
  bool stopping_ = false;
  std::weak_ptr<probe> probe_;         // the discovery in progress; control thread only
  steady::time_point last_refresh_{};  // control thread only
  std::string last_failure_;           // control thread only
};

}  // namespace detail

cluster_router::cluster_router(cluster_options options,
                               std::vector<boost::asio::io_context*> workers,
                               boost::asio::io_context* control)
    : state_(std::make_shared<detail::cluster_state>(std::move(options), std::move(workers),
                                                     control)) {
  state_->start();
}

cluster_router::~cluster_router() {
  state_->stop();
}

namespace {

router::result failure(client_error e) {
  return {make_error_code(e), reply{}};
}

}  // namespace

asio::awaitable<router::result> cluster_router::command(std::uint16_t slot,
                                                        std::span<const std::string_view> args) {
  detail::cluster_state& s = *state_;
  if (slot >= slot_count || args.empty()) {
    co_return result{make_error_code(boost::system::errc::invalid_argument), reply{}};
  }
  static constexpr std::array<std::string_view, 1> asking_command{"ASKING"};
  const auto& o = s.options();
  detail::cluster_node* n = s.owner(slot);
  bool asking = false;
  int redirects = 0;
  int retries = 0;
  for (;;) {
    if (n == nullptr) {
      s.request_refresh();
      co_return failure(client_error::not_connected);
    }
    // Not a conditional expression: g++ 12 mishandles co_await in one.
    result r;
    if (asking) {
      r = co_await n->c->command_after(asking_command, args);
    } else {
      r = co_await n->c->command(args);
    }
    if (r.first) {
      if (r.first == client_error::not_connected || r.first == client_error::connection_lost) {
        s.request_refresh();  // the master may be gone: a replica may take over
      }
      co_return r;
    }
    if (!r.second.is_error()) co_return r;
    const std::string& text = r.second.text;
    if (auto to = parse_redirect(text, n->address)) {
      if (++redirects > o.max_redirects) co_return r;
      detail::cluster_node* target = s.find(to->target);
      if (!to->ask) s.request_refresh();  // one moved slot usually means more
      if (target == nullptr) {
        s.request_refresh();
        co_return failure(client_error::not_connected);
      }
      if (!to->ask) s.learn(to->slot, *target);
      n = target;
      asking = to->ask;
      continue;
    }
    if (text.starts_with("TRYAGAIN") && retries < o.tryagain_retries) {
      ++retries;
      asio::steady_timer wait(co_await asio::this_coro::executor);
      wait.expires_after(o.tryagain_delay);
      co_await wait.async_wait(nothrow);
      n = s.owner(slot);
      asking = false;
      continue;
    }
    if (text.starts_with("CLUSTERDOWN")) s.request_refresh();
    co_return r;
  }
}

bool cluster_router::connected(std::uint16_t slot) const noexcept {
  if (slot >= slot_count) return false;
  const detail::cluster_node* n = state_->owner(slot);
  return n != nullptr && n->c->connected();
}

bool cluster_router::connected() const noexcept {
  return state_->connected();
}

std::size_t cluster_router::shard_of(std::uint16_t slot) const noexcept {
  if (slot >= slot_count) return 0;
  const detail::cluster_node* n = state_->owner(slot);
  return n == nullptr ? 0 : n->id;
}

std::optional<node_address> cluster_router::shard_address(std::size_t shard) const {
  const detail::cluster_node* n = state_->node(shard);
  if (n == nullptr) return std::nullopt;
  return n->address;
}

std::uint64_t cluster_router::map_changes() const noexcept {
  return state_->map_changes();
}

std::uint64_t cluster_router::maps_read() const noexcept {
  return state_->maps_read();
}

void cluster_router::refresh() noexcept {
  state_->request_refresh();
}

}  // namespace sluice::redis
