#include "rls/service.hpp"

#include <absl/synchronization/mutex.h>
#include <envoy/service/ratelimit/v3/rls.grpc.pb.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "rls/decider.hpp"

namespace sluice::rls {
namespace {

// Envoy sends a few descriptors of a few short entries; a megabyte is far beyond any
// request the decision accepts (64 descriptors of 16 entries), and far below gRPC's 4 MiB.
constexpr int max_request_bytes = 1 << 20;

// Exchanges each queue keeps for reuse once their call is answered (their buffers keep
// their capacity); more in flight at once are made and dropped.
constexpr std::size_t max_idle_exchanges = 256;

// Calls each queue has asked gRPC for at once: a burst of calls is taken in one pass
// of the queue instead of one call per poll.
constexpr int calls_awaited = 32;

using responder = grpc::ServerAsyncResponseWriter<pb::RateLimitResponse>;

// One call on one completion queue: requested, then answered, then reused for another.
// Its address is the tag of both steps on the queue.
struct exchange {
  enum class step { awaiting_call, answering };

  // Ready to be requested again: a ServerContext serves one call only.
  void reset() {
    writer.reset();
    context.reset();
    context.emplace();
    writer.emplace(&*context);
    request.Clear();
    response.Clear();
    current = step::awaiting_call;
  }

  std::optional<grpc::ServerContext> context;
  std::optional<responder> writer;
  pb::RateLimitRequest request;
  pb::RateLimitResponse response;
  call scratch;
  step current = step::awaiting_call;
};

struct queue {
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  std::vector<std::unique_ptr<exchange>> idle;  // only its thread touches it
  std::thread thread;
};

// Counts a call handed to a worker for as long as the call's coroutine lives, whether it
// ran or was dropped with its io_context.
class on_worker {
 public:
  explicit on_worker(std::atomic<int>& count) : count_(&count) { count.fetch_add(1); }
  on_worker(on_worker&& other) noexcept : count_(std::exchange(other.count_, nullptr)) {}
  on_worker(const on_worker&) = delete;
  on_worker& operator=(const on_worker&) = delete;
  on_worker& operator=(on_worker&&) = delete;
  ~on_worker() {
    if (count_ == nullptr) return;
    count_->fetch_sub(1);
    count_->notify_all();
  }

 private:
  std::atomic<int>* count_;
};

}  // namespace

class rate_limit_service::handler {
 public:
  handler(decider& decisions, std::vector<net::asio::io_context*> workers)
      : decisions_(decisions), workers_(std::move(workers)) {}

  void start(const config::host_port& listen);
  void stop();

 private:
  void serve(queue& q);       // a queue's thread: requested calls in, answers out
  void await_call(queue& q);  // asks gRPC for the queue's next call
  void handle(std::unique_ptr<exchange> x);
  net::awaitable<void> decide_on_worker(std::unique_ptr<exchange> x, on_worker);
  void answer(std::unique_ptr<exchange> x);
  void fail(std::unique_ptr<exchange> x, const grpc::Status& status);

  decider& decisions_;
  std::vector<net::asio::io_context*> workers_;
  pb::RateLimitService::AsyncService service_;
  std::vector<std::unique_ptr<queue>> queues_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<std::size_t> next_worker_{0};
  std::atomic<int> on_workers_{0};  // calls on a worker for Redis (stop() waits for them)
};

rate_limit_service::rate_limit_service(decider& decisions,
                                       std::vector<net::asio::io_context*> workers)
    : handler_(std::make_unique<handler>(decisions, std::move(workers))) {}

rate_limit_service::~rate_limit_service() {
  stop();
}

void rate_limit_service::start(const config::host_port& listen) {
  handler_->start(listen);
}

void rate_limit_service::stop() {
  handler_->stop();
}

void rate_limit_service::handler::start(const config::host_port& listen) {
  // gRPC's mutexes are absl's, and Debian's absl tracks every lock's order for deadlock
  // detection: about 4 % of a call's CPU (perf) for a check that is a debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen.to_string(), grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(max_request_bytes);
  // gRPC binds with SO_REUSEPORT by default: a second gateway on the same address
  // would silently take half the calls instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service_);
  // One completion queue and thread per worker: the thread that polls a queue decides
  // its calls (memory backend) without handing them to another thread.
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    queues_.push_back(std::make_unique<queue>());
    queues_.back()->cq = builder.AddCompletionQueue();
  }
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    queues_.clear();
    throw std::runtime_error("rls.listen " + listen.to_string() + ": cannot listen there");
  }
  for (auto& q : queues_) q->thread = std::thread([this, &q = *q] { serve(q); });
}

void rate_limit_service::handler::stop() {
  if (!server_) return;
  // Calls in flight finish (a Redis round trip is bounded by storage.redis.timeout);
  // any still running after the deadline are cancelled.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  // A call cancelled by the deadline may still be waiting on Redis; its answer must
  // reach the queue before the queue shuts.
  for (int n = on_workers_.load(); n != 0; n = on_workers_.load()) on_workers_.wait(n);
  for (auto& q : queues_) q->cq->Shutdown();
  for (auto& q : queues_) q->thread.join();
  server_.reset();  // before its queues
  queues_.clear();
}

void rate_limit_service::handler::serve(queue& q) {
  for (int i = 0; i < calls_awaited; ++i) await_call(q);
  void* tag = nullptr;
  bool ok = false;
  while (q.cq->Next(&tag, &ok)) {
    std::unique_ptr<exchange> x(static_cast<exchange*>(tag));
    if (x->current == exchange::step::answering) {
      if (q.idle.size() < max_idle_exchanges) q.idle.push_back(std::move(x));
      continue;
    }
    if (!ok) continue;  // the server is shutting down: no more calls on this queue
    await_call(q);
    handle(std::move(x));
  }
}

void rate_limit_service::handler::await_call(queue& q) {
  std::unique_ptr<exchange> x;
  if (q.idle.empty()) {
    x = std::make_unique<exchange>();
  } else {
    x = std::move(q.idle.back());
    q.idle.pop_back();
  }
  x->reset();
  service_.RequestShouldRateLimit(&*x->context, &x->request, &*x->writer, q.cq.get(), q.cq.get(),
                                  x.get());
  x.release();  // the queue holds it until its tag comes back
}

void rate_limit_service::handler::handle(std::unique_ptr<exchange> x) {
  x->current = exchange::step::answering;
  try {
    switch (decisions_.start(x->scratch, x->request)) {
      case decider::start_result::ready:
        break;
      case decider::start_result::invalid: {
        grpc::Status invalid(grpc::StatusCode::INVALID_ARGUMENT,
                             std::string(x->scratch.ev.problem));
        fail(std::move(x), invalid);
        return;
      }
      case decider::start_result::not_configured:
        // A reload removed `rls`; the listener goes at the next restart.
        fail(std::move(x), {grpc::StatusCode::UNAVAILABLE,
                            "the rate limit service is not configured (rls was removed)"});
        return;
    }
    if (decisions_.decide_now(x->scratch)) {
      answer(std::move(x));  // the memory store decided on this thread
      return;
    }
  } catch (const std::exception& e) {
    fail(std::move(x), {grpc::StatusCode::INTERNAL, e.what()});
    return;
  }
  // Redis: the round trip runs on a worker (round robin) and answers from there.
  auto& io = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
  net::asio::co_spawn(io, decide_on_worker(std::move(x), on_worker(on_workers_)),
                      net::asio::detached);
}

net::awaitable<void> rate_limit_service::handler::decide_on_worker(std::unique_ptr<exchange> x,
                                                                   on_worker) {
  std::optional<grpc::Status> failure;
  try {
    co_await decisions_.decide(x->scratch);
  } catch (const std::exception& e) {
    failure = grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  }
  if (failure) {
    fail(std::move(x), *failure);
  } else {
    answer(std::move(x));
  }
}

void rate_limit_service::handler::answer(std::unique_ptr<exchange> x) {
  try {
    decisions_.answer(x->scratch, x->response);
  } catch (const std::exception& e) {
    fail(std::move(x), {grpc::StatusCode::INTERNAL, e.what()});
    return;
  }
  x->scratch.snap.reset();        // the configuration is not kept alive by an idle exchange
  exchange& sent = *x.release();  // the queue holds it until its tag comes back
  sent.writer->Finish(sent.response, grpc::Status::OK, &sent);
}

void rate_limit_service::handler::fail(std::unique_ptr<exchange> x, const grpc::Status& status) {
  x->scratch.snap.reset();
  exchange& sent = *x.release();
  sent.writer->FinishWithError(status, &sent);
}

}  // namespace sluice::rls
