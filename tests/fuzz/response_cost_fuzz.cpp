// Fuzzes reading a request's cost from the upstream's answer (gateway/limit/
// response_cost.hpp): the input is a body (a JSON text or an event stream) fed to a
// usage_scanner in pieces split by the input itself, and also a header value and a
// field path. Properties:
// - nothing throws or crashes, whatever the bytes (hostile upstream);
// - a cost found is in [0, 2^53 - 1];
// - how the body is split never changes the cost found (one piece or many);
// - a JSON body's cost is json_cost() of the whole body when it fits the bound;
// - a header value accepted is exactly its digits; a path accepted joins back to the text.
#include <cstdint>
#include <string>
#include <string_view>

#include "config/limit_params.hpp"
#include "config/units.hpp"
#include "fuzz_support.hpp"
#include "limit/response_cost.hpp"

namespace {

using namespace sluice::limit;

const std::vector<std::string> usage_total = {"usage", "total_tokens"};

std::optional<std::int64_t> scan(std::string_view body, bool event_stream,
                                 sluice::fuzz::split_points* splits) {
  usage_scanner s(usage_total, event_stream);
  if (splits == nullptr) {
    s.feed(body);
  } else {
    while (!body.empty()) {
      const std::size_t n = std::min(body.size(), splits->piece(body.size()));
      s.feed(body.substr(0, n));
      body.remove_prefix(n);
    }
  }
  return s.finish();
}

void check_range(std::optional<std::int64_t> cost, std::string_view input) {
  FUZZ_CHECK(!cost || (*cost >= 0 && *cost <= max_exact_integer), input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  sluice::fuzz::split_points splits(data, size);
  for (bool event_stream : {false, true}) {
    const auto whole = scan(input, event_stream, nullptr);
    check_range(whole, input);
    const auto pieces = scan(input, event_stream, &splits);
    FUZZ_CHECK(whole == pieces, input);
    if (!event_stream && input.size() <= max_cost_body_bytes && !input.empty()) {
      FUZZ_CHECK(whole == json_cost(input, usage_total), input);
    }
  }

  const auto number = read_cost_number(input);
  check_range(number, input);
  if (number) FUZZ_CHECK(input.find_first_not_of(" \t0123456789") == std::string_view::npos, input);

  if (const auto path = sluice::config::units::parse_field_path(input)) {
    std::string joined;
    for (const auto& segment : *path) joined += (joined.empty() ? "" : ".") + segment;
    FUZZ_CHECK(joined == input, input);
    check_range(json_cost(R"({"usage":{"total_tokens":3}})", *path), input);
  }
  return 0;
}
