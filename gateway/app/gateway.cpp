#include "app/gateway.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>

#include <chrono>
#include <csignal>
#include <iostream>
#include <random>

#include "config/loader.hpp"
#include "http/error_response.hpp"
#include "http/listener.hpp"
#include "util/json_text.hpp"

namespace sluice::app {
namespace {

using namespace std::chrono_literals;
namespace asio = net::asio;

constexpr auto upkeep_interval = 250ms;
constexpr int sweeps_every = 20;  // upkeep ticks between limiter sweeps (5 s)
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

admin::admin_response json(int status, std::string body) {
  admin::admin_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

admin::admin_response error(net::gateway_error e, std::string_view message) {
  return json(net::status_of(e), net::error_body(e, message));
}

// Waits until every client connection has finished or the deadline passes, then
// stops the workers and the control loop.
net::awaitable<void> finish_drain(std::atomic<int>& open_sessions,
                                  std::chrono::steady_clock::time_point deadline,
                                  std::vector<net::worker*> workers, asio::io_context* control) {
  asio::steady_timer timer(*control);
  while (open_sessions.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(drain_poll_interval);
    co_await timer.async_wait(net::nothrow);
  }
  if (open_sessions.load() > 0) {
    std::cerr << "sluice: drain_timeout reached with " << open_sessions.load()
              << " connection(s) still open; closing them\n";
  }
  for (auto* w : workers) w->io.stop();
  control->stop();
}

net::awaitable<void> run_accept_loop(net::tcp::acceptor* acceptor,
                                     std::function<void(net::tcp::socket)> on_accept) {
  co_await net::accept_loop(*acceptor, std::move(on_accept));
}

}  // namespace

gateway::gateway(std::string config_path, config::loaded_config initial)
    : config_path_(std::move(config_path)),
      hash_seed_(random_seed()),
      metrics_(SLUICE_VERSION),
      store_(initial.server.storage.max_keys),
      breaker_(initial.server.upstream.breaker_failures,
               std::chrono::duration_cast<std::chrono::microseconds>(
                   initial.server.upstream.breaker_cooldown)
                   .count()),
      log_(std::make_unique<net::access_log>(initial.server.server.access_log)),
      backend_(store_),
      services_{snapshots_, backend_, overrides_, breaker_,
                metrics_,   *log_,    draining_,  open_sessions_} {
  const config::server_config server = initial.server;
  snapshots_.set(build_snapshot(std::move(initial), hash_seed_, metrics_, generation_));
  metrics_.last_reload_success().Set(static_cast<double>(now_us()) / 1e6);

  const unsigned threads = thread_count(server);
  const std::size_t idle_per_worker =
      (static_cast<std::size_t>(server.upstream.max_idle_connections) + threads - 1) / threads;
  for (unsigned i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<net::worker>(idle_per_worker));
  }
  for (const auto& address : server.listen) {
    for (const auto& endpoint : net::resolve_listen(address)) {
      for (auto& w : workers_)
        acceptors_.emplace_back(w.get(), net::open_acceptor(w->io, endpoint));
    }
  }
  for (const auto& address : server.admin.listen) {
    for (const auto& endpoint : net::resolve_listen(address)) {
      admin_acceptors_.push_back(net::open_acceptor(control_, endpoint));
    }
  }
  admin_handler_ = [this](const admin::admin_request& req) { return handle_admin(req); };

  std::cerr << "sluice " << SLUICE_VERSION << ": listening on";
  for (const auto& a : server.listen) std::cerr << ' ' << a.to_string();
  std::cerr << " (" << threads << " threads), admin on";
  for (const auto& a : server.admin.listen) std::cerr << ' ' << a.to_string();
  std::cerr << ", upstream " << server.upstream.url << "\n";
}

gateway::~gateway() = default;

int gateway::run() {
  for (auto& [w, acceptor] : acceptors_) {
    net::worker* worker = w;
    asio::co_spawn(worker->io,
                   run_accept_loop(acceptor.get(),
                                   [this, worker](net::tcp::socket s) {
                                     net::start_session(std::move(s), *worker, services_);
                                   }),
                   asio::detached);
  }
  for (auto& acceptor : admin_acceptors_) {
    asio::co_spawn(control_,
                   run_accept_loop(acceptor.get(),
                                   [this](net::tcp::socket s) {
                                     admin::start_admin_session(std::move(s), admin_handler_);
                                   }),
                   asio::detached);
  }
  watch_signals();
  start_upkeep();

  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& w : workers_) {
    guards.push_back(asio::make_work_guard(w->io));
    threads.emplace_back([io = &w->io] { io->run(); });
  }
  auto control_guard = asio::make_work_guard(control_);
  control_.run();
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
  for (auto& [w, acceptor] : acceptors_) {
    asio::post(w->io, [a = acceptor.get()] {
      net::error_code ec;
      a->close(ec);
    });
  }
  for (auto& w : workers_) asio::post(w->io, [w = w.get()] { w->close_idle_sessions(); });
  // The admin listener stays open until exit: load balancers must see /readyz
  // answer 503 while draining, and Prometheus can scrape the last counts.
  std::vector<net::worker*> workers;
  for (auto& w : workers_) workers.push_back(w.get());
  asio::co_spawn(control_,
                 finish_drain(open_sessions_, std::chrono::steady_clock::now() + timeout,
                              std::move(workers), &control_),
                 asio::detached);
}

reload_result gateway::reload() {
  std::lock_guard lock(reload_mutex_);
  reload_result result;
  auto loaded = config::load_config(config_path_);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) result.errors.push_back(e.to_string());
  } else {
    try {
      const auto& upstream = loaded.config->server.upstream;
      const int failures = upstream.breaker_failures;
      const auto cooldown =
          std::chrono::duration_cast<std::chrono::microseconds>(upstream.breaker_cooldown).count();
      auto next = build_snapshot(std::move(*loaded.config), hash_seed_, metrics_, generation_ + 1);
      ++generation_;
      breaker_.configure(failures, cooldown);
      snapshots_.set(std::move(next));
      result.ok = true;
    } catch (const std::exception& e) {
      result.errors.push_back(config_path_ + ": " + e.what());
    }
  }
  metrics_.reloads(result.ok).Increment();
  if (result.ok) {
    metrics_.last_reload_success().Set(static_cast<double>(now_us()) / 1e6);
    std::cerr << "sluice: configuration reloaded from " << config_path_ << "\n";
  } else {
    std::cerr << "sluice: reload failed, keeping the running configuration:\n";
    for (const auto& e : result.errors) std::cerr << "  " << e << "\n";
  }
  return result;
}

admin::admin_response gateway::handle_admin(const admin::admin_request& req) {
  auto snap = snapshots_.get();
  const auto& admin_cfg = snap->config.server.admin;
  bool allowed = admin_cfg.allow.empty();
  for (const auto& block : admin_cfg.allow) allowed = allowed || block.contains(req.peer);
  if (!allowed)
    return error(net::gateway_error::forbidden, "Peer not allowed on the admin listener");

  const std::string_view path = req.target.substr(0, req.target.find('?'));
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (path == "/metrics" && get) {
    admin::admin_response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_.serialize();
    return r;
  }
  if (path == "/healthz" && get) return json(200, R"({"status":"ok"})");
  if (path == "/readyz" && get) {
    if (draining_.load()) return json(503, R"({"status":"draining"})");
    return json(200, R"({"status":"ready"})");
  }
  if (path == "/admin/reload") {
    if (req.method != "POST") return error(net::gateway_error::method_not_allowed, "Use POST");
    if (!admin_cfg.token.empty() && req.authorization != "Bearer " + admin_cfg.token) {
      return error(net::gateway_error::unauthorized, "Missing or wrong admin token");
    }
    auto result = reload();
    if (result.ok) return json(200, R"({"status":"reloaded"})");
    std::string body =
        R"({"error":{"code":"invalid_config","message":"Reload failed; the running configuration is kept.","details":[)";
    for (std::size_t i = 0; i < result.errors.size(); ++i) {
      if (i > 0) body += ',';
      append_json_string(body, result.errors[i]);
    }
    body += "]}}";
    return json(400, std::move(body));
  }
  return error(net::gateway_error::not_found, "No such admin endpoint");
}

}  // namespace sluice::app
