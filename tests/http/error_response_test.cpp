// The JSON error bodies stay valid JSON (and valid UTF-8) whatever bytes their
// message carries: a message may quote a client's path.
#include "http/error_response.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

#include "telemetry/metrics.hpp"

namespace sluice::net {
namespace {

TEST(ErrorBody, InvalidUtf8AndControlBytesInTheMessageStayValidJson) {
  constexpr char raw[] = "Malformed path '/caf\xe9\xff\x00\x7f\xed\xa0\x80\xc3\xa9\"'";
  const std::string message(raw, sizeof raw - 1);
  const std::string body = error_body(gateway_error::bad_request, message);
  EXPECT_EQ(body, R"({"error":{"code":"bad_request","message":"Malformed path '/caf\ufffd\ufffd)"
                  R"(\u0000\u007f\ufffd\ufffd\ufffd)"
                  "\xc3\xa9"
                  R"(\"'"}})");
  boost::system::error_code ec;
  const auto parsed = boost::json::parse(body, ec);  // rejects invalid UTF-8 too
  ASSERT_FALSE(ec) << ec.message();
  std::string expected = "Malformed path '/caf\xef\xbf\xbd\xef\xbf\xbd";
  expected += '\0';
  expected += "\x7f\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9\"'";
  EXPECT_EQ(std::string(parsed.at("error").at("message").as_string()), expected);
}

// The one failure map: upstream faults feed the breaker and the error counter; failures
// on the client's side or of this machine never do, and a client that left gets nothing.
TEST(AnswerFor, MapsEveryExchangeFailureToItsAnswer) {
  using kind = admin::upstream_error_kind;
  struct row {
    exchange_failure failure;
    bool answered;
    int status;
    std::int64_t retry_after_s;
    std::optional<kind> fault;
  };
  const row rows[] = {
      {exchange_failure::connect, true, 502, 0, kind::connect},
      {exchange_failure::local_resources, true, 503, 1, std::nullopt},
      {exchange_failure::timeout, true, 504, 0, kind::timeout},
      {exchange_failure::reset, true, 502, 0, kind::reset},
      {exchange_failure::invalid, true, 502, 0, kind::invalid},
      {exchange_failure::client_gone, false, 400, 0, std::nullopt},
      {exchange_failure::client_body_too_large, true, 413, 0, std::nullopt},
      {exchange_failure::client_body_malformed, true, 400, 0, std::nullopt},
  };
  for (const auto& r : rows) {
    const failure_answer a = answer_for(r.failure);
    SCOPED_TRACE(static_cast<int>(r.failure));
    EXPECT_EQ(a.answered, r.answered);
    EXPECT_EQ(status_of(a.error), r.status);
    EXPECT_EQ(a.retry_after_s, r.retry_after_s);
    EXPECT_EQ(a.upstream_fault, r.fault);
    if (r.answered) {
      EXPECT_FALSE(a.message.empty());
    }
  }
  EXPECT_EQ(answer_for(exchange_failure::local_resources).error, gateway_error::overloaded);
}

}  // namespace
}  // namespace sluice::net
