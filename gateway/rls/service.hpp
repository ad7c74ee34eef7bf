// Envoy's rate limit service (issue 13): envoy.service.ratelimit.v3.RateLimitService/
// ShouldRateLimit over gRPC, on `rls.listen`, deciding with envoyproxy/ratelimit's
// configuration (`rls.config`, limit/rls_decision.hpp) on the gateway's own decision
// backend, so the proxy's limits and Envoy's share one memory store or one Redis.
//
// gRPC's asynchronous API: one completion queue per worker, each polled by its own
// thread, which takes a call, decides it with the gateway's rls::decider
// (rls/decider.hpp) and sends the answer. With the memory backend that is all one thread
// does for a call (gRPC's callback API handed each call between threads: more CPU per
// call and a longer tail); with Redis the call moves to a worker's io_context (round
// robin) for its round trip, bounded by storage.redis.timeout, and answers from there.
// The configuration is read from the current snapshot at each call, so a reload applies
// to the next call; the listener's address takes a restart. A queue reuses its answered
// calls' messages and scratch space for the next calls.
//
// Owned by the gateway; start() once, stop() before the workers stop.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "config/schema.hpp"
#include "net/asio.hpp"

namespace grpc {
class Server;
}

namespace sluice::rls {

class decider;

class rate_limit_service {
 public:
  // `decisions` must outlive the service; `workers` is not empty.
  rate_limit_service(decider& decisions, std::vector<net::asio::io_context*> workers);
  ~rate_limit_service();
  rate_limit_service(const rate_limit_service&) = delete;
  rate_limit_service& operator=(const rate_limit_service&) = delete;

  // Binds `listen` and starts serving; throws std::runtime_error when it cannot bind.
  void start(const config::host_port& listen);
  // Stops accepting calls and waits for those in flight (each bounded by the storage's
  // timeout) while the workers still run. Idempotent.
  void stop();

  class handler;  // the completion queues and their calls (service.cpp)

 private:
  std::unique_ptr<handler> handler_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace sluice::rls
