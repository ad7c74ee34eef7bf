// The JSON error bodies stay valid JSON (and valid UTF-8) whatever bytes their
// message carries: a message may quote a client's path.
#include "http/error_response.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

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

}  // namespace
}  // namespace sluice::net
