// A load generator for Envoy's rate limit service API (issue 13's benchmark): gRPC calls
// of ShouldRateLimit, one prepared request, on a fixed schedule or with a fixed number in
// flight, and the latency of each call as a JSON summary on stdout.
//
//   sluice_rls_load --target 127.0.0.1:8081 --body body.bin --rate 20000 --seconds 10
//   sluice_rls_load --target 127.0.0.1:8081 --body body.bin --in-flight 128 --seconds 10
//
// --body is a gRPC length-prefixed RateLimitRequest (flag 0, 4-byte big-endian length, the
// message), as scripts/bench/rls_bench.py writes it for h2load.
//
// Why not only h2load: h2load's --rps timer starts what is due in clumps of up to -m
// streams per connection, so its p99 at a "fixed rate" is the p99 of bursts. Here call i
// is due at start + i / rate (open loop: a slow answer never delays the next call) and its
// latency runs from when it was due, not from when it was sent, so a client that falls
// behind its schedule shows as latency too (no coordinated omission). The latency from
// the send is reported beside it.
//
// One thread and one completion queue drive every call; each connection is a channel of
// its own (a local subchannel pool, so the channels do not share one connection), and
// calls go round-robin over them. Every call carries a 5 s deadline.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/prctl.h>

#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"

namespace {

using clock_type = std::chrono::steady_clock;
namespace rls = envoy::service::ratelimit::v3;

struct options {
  std::string target;
  std::string body;
  double rate = 0;  // calls/s on the schedule; 0: keep `in_flight` calls outstanding
  int in_flight = 0;
  double seconds = 10;
  int connections = 4;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "sluice_rls_load: %s\nusage: sluice_rls_load --target HOST:PORT --body FILE "
               "(--rate CALLS_PER_S | --in-flight N) [--seconds S] [--connections N]\n",
               why);
  std::exit(2);
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (i + 1 >= argc) usage("every option takes a value");
    const char* value = argv[++i];
    if (flag == "--target") {
      o.target = value;
    } else if (flag == "--body") {
      o.body = value;
    } else if (flag == "--rate") {
      o.rate = std::atof(value);
    } else if (flag == "--in-flight") {
      o.in_flight = std::atoi(value);
    } else if (flag == "--seconds") {
      o.seconds = std::atof(value);
    } else if (flag == "--connections") {
      o.connections = std::atoi(value);
    } else {
      usage("unknown option");
    }
  }
  if (o.target.empty() || o.body.empty()) usage("--target and --body are required");
  if ((o.rate > 0) == (o.in_flight > 0)) usage("give exactly one of --rate and --in-flight");
  if (o.seconds <= 0 || o.connections < 1) usage("--seconds and --connections must be positive");
  return o;
}

rls::RateLimitRequest read_request(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string framed{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (framed.size() < 5 || framed[0] != 0) usage("--body is not an uncompressed gRPC message");
  rls::RateLimitRequest request;
  if (!request.ParseFromArray(framed.data() + 5, static_cast<int>(framed.size() - 5))) {
    usage("--body does not hold a RateLimitRequest");
  }
  return request;
}

struct call {
  grpc::ClientContext context;
  rls::RateLimitResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<rls::RateLimitResponse>> reader;
  clock_type::time_point due;
  clock_type::time_point sent;
};

// Nearest-rank percentile of sorted microseconds, as milliseconds.
double percentile_ms(const std::vector<std::int64_t>& sorted_us, double p) {
  if (sorted_us.empty()) return 0;
  auto rank =
      static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted_us.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted_us.size());
  return static_cast<double>(sorted_us[rank - 1]) / 1000.0;
}

void print_latencies(const char* name, std::vector<std::int64_t>& us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (auto v : us) sum += static_cast<double>(v);
  std::printf(
      "\"%s\": {\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, "
      "\"max_ms\": %.3f, \"mean_ms\": %.3f}",
      name, percentile_ms(us, 50), percentile_ms(us, 90), percentile_ms(us, 99),
      percentile_ms(us, 99.9), us.empty() ? 0.0 : static_cast<double>(us.back()) / 1000.0,
      us.empty() ? 0.0 : sum / static_cast<double>(us.size()) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  const rls::RateLimitRequest request = read_request(opt.body);

  std::vector<std::unique_ptr<rls::RateLimitService::Stub>> stubs;
  for (int i = 0; i < opt.connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per channel
    auto channel = grpc::CreateCustomChannel(opt.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "sluice_rls_load: cannot connect to %s\n", opt.target.c_str());
      return 1;
    }
    stubs.push_back(rls::RateLimitService::NewStub(channel));
  }

  grpc::CompletionQueue queue;
  // The sleeps of a paced run are tens of microseconds: no timer slack on top of them.
  prctl(PR_SET_TIMERSLACK, 1UL);
  constexpr auto poll_period = std::chrono::microseconds(50);
  const bool paced = opt.rate > 0;
  const auto period = std::chrono::duration<double>(paced ? 1.0 / opt.rate : 0.0);
  const auto start = clock_type::now();
  const auto stop_sending = start + std::chrono::duration_cast<clock_type::duration>(
                                        std::chrono::duration<double>(opt.seconds));
  const std::uint64_t scheduled = paced ? static_cast<std::uint64_t>(opt.rate * opt.seconds) : 0;
  auto due_of = [&](std::uint64_t i) {
    return start +
           std::chrono::duration_cast<clock_type::duration>(period * static_cast<double>(i));
  };

  std::uint64_t started = 0, done = 0, outstanding = 0, max_outstanding = 0;
  std::map<std::string, std::uint64_t> grpc_codes, overall_codes;
  std::vector<std::int64_t> from_due_us, from_send_us, late_us;
  from_due_us.reserve(paced ? scheduled : 1 << 20);
  from_send_us.reserve(from_due_us.capacity());
  clock_type::time_point first_send{}, last_send{}, last_done{};

  auto send = [&](clock_type::time_point due) {
    auto* c = new call;
    c->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    c->due = due;
    c->sent = clock_type::now();
    if (started == 0) first_send = c->sent;
    last_send = c->sent;
    c->reader = stubs[started % stubs.size()]->AsyncShouldRateLimit(&c->context, request, &queue);
    c->reader->Finish(&c->response, &c->status, c);
    ++started;
    max_outstanding = std::max(max_outstanding, ++outstanding);
  };

  for (;;) {
    const auto now = clock_type::now();
    if (paced) {
      while (started < scheduled && due_of(started) <= now) send(due_of(started));
    } else {
      while (now < stop_sending && outstanding < static_cast<std::uint64_t>(opt.in_flight))
        send(now);
    }
    const bool sending = paced ? started < scheduled : now < stop_sending;
    if (!sending && outstanding == 0) break;

    void* tag = nullptr;
    bool ok = false;
    // gRPC sleeps in whole milliseconds (deadlines are rounded up to the next one),
    // which would start the calls of each millisecond together. So a paced run polls
    // the queue without waiting (a deadline already past: the thread that polls is the
    // one that does the I/O) and, when nothing has completed, sleeps on its own until
    // the next call is due, at most `poll_period`: calls leave on time, and an answer
    // is seen at most that late (it counts in its latency, never against it).
    const bool wait_in_grpc = !(paced && sending);
    const auto deadline =
        wait_in_grpc ? now + std::chrono::milliseconds(100) : now - std::chrono::seconds(1);
    // gRPC takes deadlines on the system clock only.
    const auto next =
        queue.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + (deadline - now));
    if (next == grpc::CompletionQueue::SHUTDOWN) break;
    if (next != grpc::CompletionQueue::GOT_EVENT) {
      if (!wait_in_grpc)
        std::this_thread::sleep_until(std::min(due_of(started), now + poll_period));
      continue;
    }

    std::unique_ptr<call> c(static_cast<call*>(tag));
    last_done = clock_type::now();
    --outstanding;
    ++done;
    auto us = [](clock_type::duration d) {
      return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    };
    from_due_us.push_back(us(last_done - c->due));
    from_send_us.push_back(us(last_done - c->sent));
    late_us.push_back(us(c->sent - c->due));
    ++grpc_codes[std::to_string(static_cast<int>(c->status.error_code()))];
    if (c->status.ok())
      ++overall_codes[rls::RateLimitResponse::Code_Name(c->response.overall_code())];
  }
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {  // a shut-down queue is drained before it is destroyed
  }

  const double wall = std::chrono::duration<double>(last_done - start).count();
  const double span = std::chrono::duration<double>(last_send - first_send).count();
  std::printf("{\"mode\": \"%s\", \"target_rate\": %.0f, \"in_flight\": %d, \"connections\": %d, ",
              paced ? "paced" : "closed", opt.rate, opt.in_flight, opt.connections);
  std::printf("\"started\": %llu, \"done\": %llu, \"seconds\": %.6f, \"start_span_s\": %.6f, ",
              static_cast<unsigned long long>(started), static_cast<unsigned long long>(done), wall,
              span);
  std::printf("\"max_outstanding\": %llu, \"grpc_codes\": {",
              static_cast<unsigned long long>(max_outstanding));
  const char* sep = "";
  for (const auto& [code, n] : grpc_codes) {
    std::printf("%s\"%s\": %llu", sep, code.c_str(), static_cast<unsigned long long>(n));
    sep = ", ";
  }
  std::printf("}, \"overall_codes\": {");
  sep = "";
  for (const auto& [code, n] : overall_codes) {
    std::printf("%s\"%s\": %llu", sep, code.c_str(), static_cast<unsigned long long>(n));
    sep = ", ";
  }
  std::printf("}, ");
  print_latencies("from_due", from_due_us);
  std::printf(", ");
  print_latencies("from_send", from_send_us);
  std::printf(", ");
  print_latencies("send_late", late_us);
  std::printf("}\n");
  return 0;
}
