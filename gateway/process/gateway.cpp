#include "process/gateway.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <exception>
#include <iostream>
#include <random>

#include "config/loader.hpp"
#include "http/error_response.hpp"
#include "http/listener.hpp"
#include "net/drained_read.hpp"
#include "redis/cluster.hpp"
#include "util/mask.hpp"
#include "util/open_files.hpp"

namespace sluice::app {
namespace {

using namespace std::chrono_literals;
namespace asio = net::asio;

constexpr auto upkeep_interval = 250ms;
constexpr int sweeps_every = 20;             // upkeep ticks between limiter sweeps (5 s)
constexpr int refresh_entries_every = 4;     // ticks between pulls of shared runtime entries (1 s)
constexpr auto file_watch_debounce = 200ms;  // an editor's save is several events
constexpr auto drain_poll_interval = 20ms;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

unsigned thread_count(const config::server_config& cfg) {
  if (cfg.server.threads > 0) return static_cast<unsigned>(cfg.server.threads);
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// Waits until every client connection has finished or the deadline passes, then
// stops the control loop; run() then stops the rate limit service and the workers, in
// that order (a ShouldRateLimit call waiting on Redis finishes on a worker).
net::awaitable<void> finish_drain(std::atomic<int>& open_sessions,
                                  std::chrono::steady_clock::time_point deadline,
                                  asio::io_context* control) {
  asio::steady_timer timer(*control);
  while (open_sessions.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(drain_poll_interval);
    co_await timer.async_wait(net::nothrow);
  }
  if (open_sessions.load() > 0) {
    std::cerr << "sluice: drain_timeout reached with " << open_sessions.load()
              << " connection(s) still open; closing them\n";
  }
  control->stop();
}

// The user header believed from any peer (identity.user.trusted_only: false) lets a
// client pick its own identity: worth saying whenever that configuration takes effect.
void note_untrusted_user_header(const config::identity_config& id) {
  if (id.user_header.empty() || id.user_trusted_only) return;
  std::cerr << "sluice: identity.user.trusted_only is false: the " << id.user_header
            << " header is believed from every client, not only from trusted proxies\n";
}

// upstream.tls.insecure_skip_verify: anyone on the path to the upstream can read and
// change its traffic. Said whenever that configuration takes effect.
void note_insecure_upstream(const config::upstream_config& up) {
  if (!up.tls || !up.tls->insecure_skip_verify) return;
  std::cerr << "sluice: WARNING: upstream.tls.insecure_skip_verify is true: the upstream's "
               "certificate is not verified ("
            << mask_credentials(up.url) << ")\n";
}

net::awaitable<void> run_accept_loop(net::tcp::acceptor* acceptor,
                                     std::function<void(net::tcp::socket)> on_accept,
                                     net::worker* worker, net::connection_limit* limit) {
  co_await net::accept_loop(*acceptor, std::move(on_accept), worker, limit);
}

// The Redis connections the process holds: storage.redis.connections per worker plus
// the control thread's one, per server it talks to (cluster: per master, estimated by
// the seeds, which usually list the masters; plus the slot-map probe connection;
// sentinel: plus the subscription and a query connection to the sentinels).
int redis_connections(const config::server_config& s) {
  const auto& r = s.storage.redis;
  const int per_server = static_cast<int>(thread_count(s)) * r.connections + 1;
  switch (r.mode) {
    case config::redis_mode::single:
      return per_server;
    case config::redis_mode::cluster:
      return per_server * static_cast<int>(std::max<std::size_t>(1, r.addresses.size())) + 1;
    case config::redis_mode::sentinel:
      return per_server + 2;
  }
  return per_server;
}

// The storage.redis settings the connections were made with: a reload keeps them (it
// applies on_error and key_prefix) and names the ones it changed.
std::string redis_settings_changed(const config::redis_config& was,
                                   const config::redis_config& now) {
  auto same_addresses = [](const auto& a, const auto& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const auto& x, const auto& y) { return x.to_string() == y.to_string(); });
  };
  std::string out;
  auto note = [&out](bool changed, std::string_view name) {
    if (!changed) return;
    if (!out.empty()) out += ", ";
    out += "storage.redis.";
    out += name;
  };
  note(was.mode != now.mode, "mode");
  note(!same_addresses(was.addresses, now.addresses), "address");
  note(was.sentinel.master != now.sentinel.master || was.sentinel.password != now.sentinel.password,
       "sentinel");
  note(was.password != now.password, "password");
  note(was.database != now.database, "database");
  note(was.timeout != now.timeout, "timeout");
  note(was.connections != now.connections, "connections");
  return out;
}

// The listeners are bound at start: a reload that moves an address, or adds or
// removes TLS on one, is named and waits for a restart. Sessions of a listener whose
// entry lost its TLS then fail their handshakes (net::session::handshake).
bool listeners_changed(const std::vector<config::listen_address>& was,
                       const std::vector<config::listen_address>& now) {
  return !std::equal(was.begin(), was.end(), now.begin(), now.end(),
                     [](const auto& a, const auto& b) {
                       return a.address.to_string() == b.address.to_string() &&
                              a.tls.has_value() == b.tls.has_value();
                     });
}

// The client connections the open-file limit carries (util/open_files.hpp).
int carried_connections(const config::server_config& s, config::storage_backend backend,
                        std::uint64_t nofile) {
  const int redis = backend == config::storage_backend::redis ? redis_connections(s) : 0;
  return derived_max_connections(nofile, s.upstream.max_idle_connections, redis);
}

}  // namespace

redis::client_options redis_options(const config::redis_config& r) {
  redis::client_options o;
  // Single: the one address (cluster mode: redis::cluster_options; each master's
  // client takes these options with its own address).
  o.host = r.addresses.front().host;
  o.port = r.addresses.front().port;
  o.password = r.password;
  o.database = r.database;
  o.timeout = r.timeout;
  o.connections = r.connections;
  o.log = [](std::string_view line) { std::cerr << "sluice: redis: " << line << "\n"; };
  if (r.mode == config::redis_mode::sentinel) o.host.clear();  // the master, once known
  return o;
}

namespace {

std::string seed_list(const config::redis_config& r) {
  std::string out;
  for (const auto& a : r.addresses) out += (out.empty() ? "" : ",") + a.to_string();
  return out;
}

// Cluster mode: the addresses are seeds; every master's client as redis_options().
redis::cluster_options cluster_options(const config::redis_config& r) {
  redis::cluster_options o;
  for (const auto& a : r.addresses) o.seeds.push_back({a.host, a.port});
  o.node = redis_options(r);
  return o;
}

}  // namespace

// Sentinel mode: the master is asked for before serving, for at most
// sentinel_startup_bound; without an answer the gateway starts anyway (decisions
// follow storage.on_error) and the watcher keeps asking.
constexpr auto sentinel_startup_bound = std::chrono::milliseconds(1500);
std::unique_ptr<redis::sentinel_watcher> watch_sentinels(asio::io_context& control,
                                                         redis::client& client,
                                                         const config::redis_config& r) {
  redis::sentinel_options o;
  for (const auto& a : r.addresses) o.sentinels.push_back({a.host, a.port});
  o.master = r.sentinel.master;
  o.password = r.sentinel.password;
  o.log = [](std::string_view line) { std::cerr << "sluice: redis: " << line << "\n"; };
  auto watcher = std::make_unique<redis::sentinel_watcher>(control, client, std::move(o));
  watcher->resolve_now(sentinel_startup_bound);
  return watcher;
}

gateway::gateway(std::string config_path, config::loaded_config initial)
    : config_path_(std::move(config_path)),
      hash_seed_(random_seed()),
      backend_kind_(initial.server.storage.backend),
      metrics_(SLUICE_VERSION),
      store_(initial.server.storage.max_keys),
      breaker_(initial.server.upstream.breaker_failures,
               std::chrono::duration_cast<std::chrono::microseconds>(
                   initial.server.upstream.breaker_cooldown)
                   .count()),
      log_(std::make_unique<net::access_log>(initial.server.server.access_log)),
      // Raised before any listener or upstream connection exists (SPEC 13).
      open_files_(raise_open_file_limit()),
      connections_(open_sessions_, [this] { metrics_.connections_evicted().Increment(); }) {
  const config::server_config server = initial.server;
  const unsigned threads = thread_count(server);
  const std::size_t idle_per_worker =
      (static_cast<std::size_t>(server.upstream.max_idle_connections) + threads - 1) / threads;
  for (unsigned i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<net::worker>(idle_per_worker));
  }
  // Should the rest of the constructor throw (a listener that cannot be bound), the
  // members go in reverse order, the io_contexts before redis_client_: it must go
  // before them (see ~gateway).
  struct redis_client_first {
    std::unique_ptr<redis::router>& router;
    std::unique_ptr<redis::client>& client;
    const int uncaught = std::uncaught_exceptions();
    ~redis_client_first() {
      if (std::uncaught_exceptions() > uncaught) {
        router.reset();
        client.reset();
      }
    }
  } on_throw{redis_router_, redis_client_};
  if (backend_kind_ == config::storage_backend::redis) {
    // Each worker's Redis connections live on its io_context; one more on control_.
    std::vector<asio::io_context*> worker_ios;
    for (auto& w : workers_) worker_ios.push_back(&w->io);
    if (server.storage.redis.mode == config::redis_mode::cluster) {
      // The seeds' slot map, a client per master (discovered on control_ from run() on).
      redis_router_ = std::make_unique<redis::cluster_router>(cluster_options(server.storage.redis),
                                                              std::move(worker_ios), &control_);
    } else {
      auto options = redis_options(server.storage.redis);
      // Workers run only from run() on, after sentinel_ is set.
      options.on_master_doubt = [this] {
        if (sentinel_) sentinel_->recheck();
      };
      redis_client_ =
          std::make_unique<redis::client>(std::move(options), std::move(worker_ios), &control_);
      if (server.storage.redis.mode == config::redis_mode::sentinel) {
        sentinel_ = watch_sentinels(control_, *redis_client_, server.storage.redis);
      }
      // Single and sentinel: every slot goes to the one client.
      redis_router_ = std::make_unique<redis::single_router>(*redis_client_);
    }
    auto backend = std::make_unique<redis_backend>(
        *redis_router_, store_, metrics_, server.storage,
        [this](const limit::evaluation& ev) { count_local_denial(snapshots_, ev); });
    redis_backend_ = backend.get();
    backend_ = std::move(backend);
  } else {
    backend_ = std::make_unique<memory_backend>(store_);
  }
  entries_ = std::make_unique<runtime_entries>(overrides_, redis_router_.get(),
                                               server.storage.redis.key_prefix);
  penalties_ = std::make_unique<shared_penalties>(penalty_box_, redis_router_.get(),
                                                  server.storage.redis.key_prefix);
  load_shares_ = std::make_unique<shared_load_factors>(load_factors_, redis_router_.get(),
                                                       server.storage.redis.key_prefix);
  scaling_.add(&penalty_box_);
  scaling_.add(&load_factors_);
  services_ = std::make_unique<services>(services{snapshots_, *backend_, overrides_, scaling_,
                                                  breaker_, metrics_, stats_, *log_, draining_,
                                                  open_sessions_, &penalty_box_, &load_factors_});
  snapshots_.set(build_snapshot(std::move(initial), hash_seed_, metrics_, generation_));
  metrics_.last_reload_success().Set(static_cast<double>(now_us()) / 1e6);
  reloads_.record_start(now_us());
  std::function<std::string()> redis_master;
  if (sentinel_) redis_master = [s = sentinel_.get()] { return s->master(); };
  if (server.rls) rls_decider_ = std::make_unique<rls::decider>(snapshots_, *backend_, metrics_);
  admin_api_ = std::make_unique<admin::admin_api>(
      admin::admin_context{snapshots_, metrics_, stats_, *backend_, *entries_, store_, reloads_,
                           [this] { return reload(); }, draining_, std::move(redis_master),
                           penalties_.get(), load_shares_.get(), &scaling_, rls_decider_.get()});

  std::vector<net::worker*> workers;
  for (auto& w : workers_) workers.push_back(w.get());
  connections_.set_workers(std::move(workers));
  for (std::size_t i = 0; i < server.listen.size(); ++i) {
    const net::listener_info listener{i, server.listen[i].tls.has_value()};
    for (const auto& endpoint : net::resolve_listen(server.listen[i].address)) {
      for (auto& w : workers_) {
        auto acceptor = net::open_acceptor(w->io, endpoint);
        // Plain connections read drained (net/drained_read.hpp): TCP_INQ once here, on
        // the listener, which every connection it accepts inherits. Not TLS ones: their
        // next request is nearly always there when its read starts (a TLS answer's
        // write completes later than a plain one's), and waiting for epoll's report of
        // it cost 2-16% more CPU per request under load in four runs (README, TLS
        // against nginx).
        if (!listener.tls) net::enable_drained_reads(*acceptor);
        acceptors_.push_back({w.get(), listener, std::move(acceptor)});
      }
    }
  }
  for (const auto& address : server.admin.listen) {
    for (const auto& endpoint : net::resolve_listen(address)) {
      admin_acceptors_.push_back(net::open_acceptor(control_, endpoint));
    }
  }
  if (server.rls) {
    std::vector<asio::io_context*> worker_ios;
    for (auto& w : workers_) worker_ios.push_back(&w->io);
    rls_ = std::make_unique<rls::rate_limit_service>(*rls_decider_, std::move(worker_ios));
    rls_->start(server.rls->listen);
  }
  admin_handler_ = [api = admin_api_.get()](admin::admin_request req) {
    return api->handle(std::move(req));
  };
  admin_allows_ = [api = admin_api_.get()](const ip_address& peer) { return api->allows(peer); };
  watch_files(server);

  std::cerr << "sluice " << SLUICE_VERSION << ": listening on";
  for (const auto& l : server.listen) {
    std::cerr << ' ' << (l.tls ? "https://" : "") << l.address.to_string();
  }
  std::cerr << " (" << threads << " threads), admin on";
  for (const auto& a : server.admin.listen) std::cerr << ' ' << a.to_string();
  if (server.rls) std::cerr << ", rate limit service (gRPC) on " << server.rls->listen.to_string();
  std::cerr << ", upstream " << mask_credentials(server.upstream.url) << ", storage "
            << (sentinel_
                    ? "redis sentinel mode, master " + server.storage.redis.sentinel.master +
                          " at " +
                          (sentinel_->master().empty() ? "unknown (yet)" : sentinel_->master())
                : redis_client_ ? "redis " + server.storage.redis.addresses.front().to_string()
                : redis_router_ ? "redis cluster mode, seeds " + seed_list(server.storage.redis)
                                : std::string("memory"))
            << "\n";
  apply_connection_limit(server, true);
  note_untrusted_user_header(server.identity);
  note_insecure_upstream(server.upstream);
}

gateway::~gateway() {
  // The stopped io_contexts still hold the coroutine frames of what did not finish
  // (connections cut by drain_timeout); destroying a frame runs ~session, which uses
  // the services. So: the Redis client first (it must go before the io_contexts its
  // connections live on: it posts their shutdown there; a connection, and the
  // commands still pending on it, then go with its own io_context, never touching
  // another one), then the listeners and the workers with those frames, and only then
  // what they used. control_ (a member) goes last, with the admin sessions, upkeep and
  // the control thread's Redis connection.
  rls_.reset();           // its calls use the backend and the workers
  redis_router_.reset();  // a cluster router's clients, like redis_client_
  redis_client_.reset();
  sentinel_.reset();  // after the client: its on_master_doubt calls sentinel_
  signals_.reset();
  watcher_.reset();
  acceptors_.clear();
  admin_acceptors_.clear();
  workers_.clear();
  admin_api_.reset();
  entries_.reset();
  penalties_.reset();
  load_shares_.reset();
  services_.reset();
  backend_.reset();
}

void gateway::apply_connection_limit(const config::server_config& server, bool at_start) {
  const int carried = carried_connections(server, backend_kind_, open_files_.soft);
  const int limit = server.server.max_connections > 0 ? server.server.max_connections : carried;
  const int before = connections_.max();
  connections_.set_max(limit);
  metrics_.max_connections().Set(limit);
  if (!at_start && limit == before) return;
  std::cerr << "sluice: max_connections " << limit;
  if (server.server.max_connections == 0) std::cerr << " (derived from the open-file limit)";
  if (at_start) {
    std::cerr << "; open files " << open_files_.soft;
    if (open_files_.soft != open_files_.before) {
      std::cerr << " (soft limit raised from " << open_files_.before << ")";
    }
    if (!open_files_.error.empty()) {
      std::cerr << " (cannot raise the soft limit to the hard limit " << open_files_.hard << ": "
                << open_files_.error << ")";
    }
  }
  if (server.server.max_connections > carried) {
    std::cerr << "; more than the open-file limit carries (about " << carried
              << "): accepts beyond that fail with EMFILE";
  }
  std::cerr << "\n";
}

void gateway::watch_files(const config::server_config& server) {
  if (!server.reload_watch) {
    watcher_.reset();
    return;
  }
  if (!watcher_) {
    watcher_ = std::make_unique<file_watcher>(control_, file_watch_debounce, [this] {
      std::cerr << "sluice: configuration files changed\n";
      reload();
    });
  }
  // Certificates renewed in place (certbot, cert-manager) reload like the config.
  std::vector<std::string> tls_files;
  for (const auto& entry : server.listen) {
    if (!entry.tls) continue;
    for (const auto& c : entry.tls->certificates) {
      tls_files.push_back(c.cert);
      tls_files.push_back(c.key);
    }
    if (!entry.tls->client_ca.empty()) tls_files.push_back(entry.tls->client_ca);
  }
  std::vector<std::string> yaml_dirs;
  if (server.rls) yaml_dirs.push_back(server.rls->config);
  if (!watcher_->watch(config_path_, server.policies, tls_files, yaml_dirs)) {
    std::cerr << "sluice: cannot watch configuration files (inotify unavailable)\n";
  }
}

int gateway::run() {
  for (auto& [w, listener, acceptor] : acceptors_) {
    net::worker* worker = w;
    asio::co_spawn(worker->io,
                   run_accept_loop(
                       acceptor.get(),
                       [this, worker, listener](net::tcp::socket s) {
                         net::start_session(std::move(s), *worker, *services_, listener);
                       },
                       worker, &connections_),
                   asio::detached);
  }
  for (auto& acceptor : admin_acceptors_) {
    asio::co_spawn(control_,
                   run_accept_loop(
                       acceptor.get(),
                       [this](net::tcp::socket s) {
                         admin::start_admin_session(std::move(s), admin_handler_, admin_allows_);
                       },
                       nullptr, nullptr),
                   asio::detached);
  }
  watch_signals();
  start_upkeep();
  if (sentinel_) sentinel_->start();

  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : workers_) {
    guards.push_back(asio::make_work_guard(w->io));
    threads.emplace_back([io = &w->io] { io->run(); });
  }
  auto control_guard = asio::make_work_guard(control_);
  control_.run();
  // While the workers still run: a call waiting on Redis there finishes (the drain
  // leaves them running for this).
  if (rls_) rls_->stop();
  for (auto& w : workers_) w->io.stop();
  for (auto& t : threads) t.join();
  log_->flush();
  std::cerr << "sluice: stopped\n";
  return 0;
}

void gateway::watch_signals() {
  signals_ = std::make_unique<asio::signal_set>(control_, SIGINT, SIGTERM, SIGHUP);
  signals_->async_wait([this](const net::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      reload();
      watch_signals();
      return;
    }
    begin_drain();
  });
}

void gateway::start_upkeep() {
  asio::co_spawn(control_, upkeep(), asio::detached);
}

net::awaitable<void> gateway::upkeep() {
  asio::steady_timer timer(control_);
  for (int tick = 1;; ++tick) {
    timer.expires_after(upkeep_interval);
    auto [ec] = co_await timer.async_wait(net::nothrow);
    if (ec) co_return;
    log_->flush();
    if (redis_backend_ != nullptr) co_await redis_backend_->probe();
    if (tick % refresh_entries_every == 0) co_await entries_->refresh(now_us());
    {
      const auto snap = snapshots_.get();                   // kept to the end of the tick
      co_await load_shares_->tick(snap->policy, metrics_);  // load-aware limits, every tick
    }
    if (tick % refresh_entries_every == 0) {
      const auto snap = snapshots_.get();  // kept to the end of the sync
      co_await penalties_->sync(snap->policy, snap->metrics, now_us());
    }
    if (tick % sweeps_every == 0) {
      metrics_.active_limiters().Set(static_cast<double>(store_.sweep(now_us())));
    }
  }
}

void gateway::begin_drain() {
  if (drain_started_.exchange(true)) return;
  draining_.store(true);
  const auto timeout = snapshots_.get()->config.server.server.drain_timeout;
  std::cerr << "sluice: draining (" << open_sessions_.load() << " connection(s) open, up to "
            << timeout.count() << " ms)\n";
  for (auto& a : acceptors_) {
    asio::post(a.worker->io, [acceptor = a.acceptor.get()] {
      net::error_code ec;
      acceptor->close(ec);
    });
  }
  for (auto& w : workers_) asio::post(w->io, [w = w.get()] { w->close_idle_sessions(); });
  // The admin listener stays open until exit: load balancers must see /readyz
  // answer 503 while draining, and Prometheus can scrape the last counts.
  asio::co_spawn(
      control_, finish_drain(open_sessions_, std::chrono::steady_clock::now() + timeout, &control_),
      asio::detached);
}

admin::reload_result gateway::reload() {
  std::lock_guard lock(reload_mutex_);
  admin::reload_result result;
  auto loaded = config::load_config(config_path_);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) result.errors.push_back(e.to_string());
  } else {
    try {
      const config::server_config server = loaded.config->server;
      auto next = build_snapshot(std::move(*loaded.config), hash_seed_, metrics_, generation_ + 1);
      ++generation_;
      breaker_.configure(
          server.upstream.breaker_failures,
          std::chrono::duration_cast<std::chrono::microseconds>(server.upstream.breaker_cooldown)
              .count());
      if (redis_backend_ != nullptr) {
        redis_backend_->configure(server.storage);
        const auto changed = redis_settings_changed(snapshots_.get()->config.server.storage.redis,
                                                    server.storage.redis);
        if (!changed.empty()) {
          std::cerr << "sluice: " << changed << " changed; it takes effect at the next restart\n";
        }
      }
      entries_->set_key_prefix(server.storage.redis.key_prefix);
      penalties_->set_key_prefix(server.storage.redis.key_prefix);
      load_shares_->set_key_prefix(server.storage.redis.key_prefix);
      if (server.storage.backend != backend_kind_) {
        std::cerr << "sluice: storage.backend changed; it takes effect at the next restart\n";
      }
      if (listeners_changed(snapshots_.get()->config.server.listen, server.listen)) {
        std::cerr << "sluice: listen changed; it takes effect at the next restart\n";
      }
      const auto& was_rls = snapshots_.get()->config.server.rls;
      if (was_rls.has_value() != server.rls.has_value() ||
          (was_rls && was_rls->listen.to_string() != server.rls->listen.to_string())) {
        std::cerr << "sluice: rls.listen changed; it takes effect at the next restart\n";
      }
      snapshots_.set(std::move(next));
      watch_files(server);
      result.ok = true;
    } catch (const snapshot_error& e) {
      for (const auto& error : e.errors) result.errors.push_back(error.to_string());
    } catch (const std::exception& e) {
      result.errors.push_back(mask_credentials(config_path_ + ": " + e.what()));
    }
  }
  const auto now = now_us();
  metrics_.reloads(result.ok).Increment();
  reloads_.record(result.ok, now, result.ok ? std::string() : result.errors.front());
  if (result.ok) {
    metrics_.last_reload_success().Set(static_cast<double>(now) / 1e6);
    std::cerr << "sluice: configuration reloaded from " << config_path_ << "\n";
    apply_connection_limit(snapshots_.get()->config.server, false);
    note_untrusted_user_header(snapshots_.get()->config.server.identity);
    note_insecure_upstream(snapshots_.get()->config.server.upstream);
  } else {
    std::cerr << "sluice: reload failed, keeping the running configuration:\n";
    for (const auto& e : result.errors) std::cerr << "  " << e << "\n";
  }
  return result;
}

}  // namespace sluice::app
