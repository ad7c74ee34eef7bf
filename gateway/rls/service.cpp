#include "rls/service.hpp"

#include <envoy/service/ratelimit/v3/rls.grpc.pb.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>
#include <mutex>
#include <string>

#include "rls/decider.hpp"

namespace sluice::rls {
namespace {

// Envoy sends a few descriptors of a few short entries; a megabyte is far beyond any
// request the decision accepts (64 descriptors of 16 entries), and far below gRPC's 4 MiB.
constexpr int max_request_bytes = 1 << 20;

// Calls kept for reuse (their buffers keep their capacity); more in flight at once are
// made and dropped.
constexpr std::size_t max_pooled_calls = 256;

}  // namespace

class rate_limit_service::handler final : public pb::RateLimitService::CallbackService {
 public:
  handler(decider& decisions, std::vector<net::asio::io_context*> workers)
      : decisions_(decisions), workers_(std::move(workers)) {}

  grpc::ServerUnaryReactor* ShouldRateLimit(grpc::CallbackServerContext* context,
                                            const pb::RateLimitRequest* request,
                                            pb::RateLimitResponse* response) override {
    auto* reactor = context->DefaultReactor();
    try {
      pooled c = acquire();
      switch (decisions_.start(*c, *request)) {
        case decider::start_result::ready:
          break;
        case decider::start_result::invalid:
          reactor->Finish({grpc::StatusCode::INVALID_ARGUMENT, std::string(c->ev.problem)});
          return reactor;
        case decider::start_result::not_configured:
          // A reload removed `rls`; the listener goes at the next restart.
          reactor->Finish({grpc::StatusCode::UNAVAILABLE,
                           "the rate limit service is not configured (rls was removed)"});
          return reactor;
      }
      if (decisions_.decide_now(*c)) {
        finish(*c, reactor, *response);  // the memory store decided on this thread
        return reactor;
      }
      // Redis: the round trip runs on a worker (round robin) and finishes from there.
      auto& io = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
      net::asio::co_spawn(io, decide_on_worker(std::move(c), reactor, response),
                          net::asio::detached);
    } catch (const std::exception& e) {
      reactor->Finish({grpc::StatusCode::INTERNAL, e.what()});
    }
    return reactor;
  }

 private:
  // A call borrowed from the pool, returned to it when dropped.
  struct give_back {
    handler* owner = nullptr;
    void operator()(call* c) const { owner->release(c); }
  };
  using pooled = std::unique_ptr<call, give_back>;

  pooled acquire() {
    std::lock_guard lock(pool_mutex_);
    if (pool_.empty()) return pooled(new call, give_back{this});
    pooled c(pool_.back().release(), give_back{this});
    pool_.pop_back();
    return c;
  }

  void release(call* c) {
    std::unique_ptr<call> owned(c);
    owned->snap.reset();  // the configuration is not kept alive by an idle call
    std::lock_guard lock(pool_mutex_);
    if (pool_.size() < max_pooled_calls) pool_.push_back(std::move(owned));
  }

  net::awaitable<void> decide_on_worker(pooled c, grpc::ServerUnaryReactor* reactor,
                                        pb::RateLimitResponse* response) {
    try {
      co_await decisions_.decide(*c);
      finish(*c, reactor, *response);
    } catch (const std::exception& e) {
      reactor->Finish({grpc::StatusCode::INTERNAL, e.what()});
    }
  }

  void finish(call& c, grpc::ServerUnaryReactor* reactor, pb::RateLimitResponse& response) {
    decisions_.answer(c, response);
    reactor->Finish(grpc::Status::OK);
  }

  decider& decisions_;
  std::vector<net::asio::io_context*> workers_;
  std::atomic<std::size_t> next_worker_{0};
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<call>> pool_;
};

rate_limit_service::rate_limit_service(decider& decisions,
                                       std::vector<net::asio::io_context*> workers)
    : handler_(std::make_unique<handler>(decisions, std::move(workers))) {}

rate_limit_service::~rate_limit_service() {
  stop();
}

void rate_limit_service::start(const config::host_port& listen) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen.to_string(), grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(max_request_bytes);
  // gRPC binds with SO_REUSEPORT by default: a second gateway on the same address
  // would silently take half the calls instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(handler_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    throw std::runtime_error("rls.listen " + listen.to_string() + ": cannot listen there");
  }
}

void rate_limit_service::stop() {
  if (!server_) return;
  // Calls in flight finish (a Redis round trip is bounded by storage.redis.timeout);
  // any still running after the deadline are cancelled.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
  server_.reset();
}

}  // namespace sluice::rls
