// Fuzzes the rate limit service's request path from its JSON form (POST /json,
// gateway/rls/json.hpp) through the proto mapping (rls/messages.hpp) and the decision
// (limit/rls_decision.hpp) on the memory store, on envoyproxy/ratelimit's README
// examples plus a token bucket from the `sluice:` extension. Properties:
// - a body is either read or refused with a reason;
// - read_request copies at most one descriptor, and one entry per descriptor, beyond
//   the decision's bounds, and views exactly the message's strings;
// - a request prepare_rls accepts gets one status per descriptor, OVER_LIMIT overall
//   exactly when a status is OVER_LIMIT, and a response whose JSON reads back equal,
//   whose 429 body is a JSON object and whose added fields hold no line break.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <string>
#include <string_view>

#include "config/rls_loader.hpp"
#include "config/yaml_tree.hpp"
#include "fuzz_support.hpp"
#include "limit/rls_decision.hpp"
#include "rls/json.hpp"
#include "rls/messages.hpp"

namespace {

using namespace sluice;

// envoyproxy/ratelimit's README examples (tests/fixtures/rls/examples: nine domains,
// wildcards, unlimited, shadow_mode, replaces), plus a domain of Sluice's extension.
constexpr std::string_view extension_yaml = R"(domain: api
descriptors:
  - key: user
    rate_limit:
      unit: second
      requests_per_unit: 2
      sluice: { algorithm: token_bucket, burst: 3 }
)";

config::rls_config load() {
  auto loaded = config::load_rls_config(std::string(SLUICE_FIXTURES_DIR) + "/rls/examples",
                                        [](std::string_view) { return std::nullopt; });
  if (!loaded.ok()) std::abort();
  auto parsed =
      config::parse_yaml(extension_yaml, "api.yaml", [](std::string_view) { return std::nullopt; });
  std::vector<config::config_error> errors;
  config::read_rls_document(*parsed.root, "api.yaml", errors, *loaded.config);
  if (!errors.empty()) std::abort();
  return std::move(*loaded.config);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const limit::rls_policy policy(load(), 7);
  static limit::memory_store store(4096);
  static limit::rls_evaluation ev;
  static limit::rls_request request;
  static limit::header_list fields;
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  rls::pb::RateLimitRequest in;
  if (auto problem = rls::read_json_request(body, in)) {
    FUZZ_CHECK(!problem->empty(), body);
    return 0;
  }
  rls::read_request(in, request);
  FUZZ_CHECK(request.domain == in.domain(), body);
  FUZZ_CHECK(request.descriptors.size() ==
                 std::min<std::size_t>(in.descriptors_size(), limit::max_rls_descriptors + 1),
             body);
  for (std::size_t i = 0; i < request.descriptors.size(); ++i) {
    const auto& d = in.descriptors(static_cast<int>(i));
    const auto& entries = request.descriptors[i].entries;
    FUZZ_CHECK(
        entries.size() == std::min<std::size_t>(d.entries_size(), limit::max_rls_entries + 1),
        body);
    for (std::size_t j = 0; j < entries.size(); ++j) {
      FUZZ_CHECK(entries[j].key == d.entries(static_cast<int>(j)).key(), body);
      FUZZ_CHECK(entries[j].value == d.entries(static_cast<int>(j)).value(), body);
    }
  }

  // A clock from the request (its hits_addend), so windows and buckets move.
  const limit::micros now = 1'796'464'800'000'000 + (in.hits_addend() % 86'400) * 1'000'000;
  limit::decide_rls(policy, request, store, now, limit::rls_charging::all_or_nothing, ev);
  if (!ev.problem.empty()) {
    FUZZ_CHECK(
        request.domain.empty() || request.descriptors.empty() ||
            request.descriptors.size() > limit::max_rls_descriptors ||
            [&] {
              for (const auto& d : request.descriptors) {
                if (d.entries.size() > limit::max_rls_entries || d.limit) return true;
              }
              return false;
            }(),
        body);
    return 0;
  }
  FUZZ_CHECK(ev.statuses.size() == request.descriptors.size(), body);
  bool any_over = false;
  for (const auto& s : ev.statuses) any_over = any_over || s.code == limit::rls_code::over_limit;
  FUZZ_CHECK(any_over == (ev.overall == limit::rls_code::over_limit), body);

  rls::pb::RateLimitResponse out;
  rls::write_response(ev, rls::storage_answer::decided, now, config::headers_config{}, fields, out);
  FUZZ_CHECK(out.statuses_size() == static_cast<int>(request.descriptors.size()), body);
  const std::string json = rls::json_response(out);
  rls::pb::RateLimitResponse back;
  google::protobuf::util::JsonParseOptions options;
  FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(json, &back, options).ok(), json);
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(out, back), json);
  FUZZ_CHECK(rls::json_status(out) == (any_over ? 429 : 200), body);
  // The 429 body names descriptors from the request: it must stay one JSON object.
  if (!out.raw_body().empty()) {
    google::protobuf::Struct raw;
    FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(out.raw_body(), &raw, options).ok(),
               out.raw_body());
    FUZZ_CHECK(raw.fields().contains("error"), out.raw_body());
  }
  for (const auto& h : out.response_headers_to_add()) {
    FUZZ_CHECK(h.value().find_first_of("\r\n") == std::string::npos, h.value());
  }
  return 0;
}
