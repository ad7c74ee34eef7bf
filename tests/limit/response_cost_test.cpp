// Reading what a request cost from the upstream's answer (limit/response_cost.hpp): header
// and trailer numbers, JSON field paths, JSON bodies and event streams fed in pieces, and
// the bounds (size, depth, number range) that keep a hostile upstream harmless.
#include "limit/response_cost.hpp"

#include <gtest/gtest.h>

#include <string>

#include "config/units.hpp"

namespace sluice::limit {
namespace {

const std::vector<std::string> total = {"usage", "total_tokens"};

TEST(ResponseCost, HeaderNumbers) {
  EXPECT_EQ(read_cost_number("42"), 42);
  EXPECT_EQ(read_cost_number(" 0\t"), 0);
  EXPECT_EQ(read_cost_number("9007199254740991"), 9007199254740991);
  for (const char* bad : {"", " ", "-1", "+1", "1.5", "1e3", "1,2", "0x10", "9007199254740992",
                          "99999999999999999999"}) {
    EXPECT_EQ(read_cost_number(bad), std::nullopt) << bad;
  }
}

TEST(ResponseCost, FieldPaths) {
  EXPECT_EQ(config::units::parse_field_path("usage.total_tokens"), total);
  EXPECT_EQ(config::units::parse_field_path("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(config::units::parse_field_path("choices.0.n"),
            (std::vector<std::string>{"choices", "0", "n"}));
  for (const char* bad : {"", ".", "a.", ".a", "a..b", "a b", "a.$", "a.b.c.d.e.f.g.h.i"}) {
    EXPECT_EQ(config::units::parse_field_path(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(config::units::parse_field_path(std::string(65, 'x')), std::nullopt);
}

TEST(ResponseCost, JsonFields) {
  EXPECT_EQ(json_cost(R"({"usage":{"total_tokens":1234,"x":1}})", total), 1234);
  EXPECT_EQ(json_cost(R"({"usage":{"total_tokens":12.0}})", total), 12);
  EXPECT_EQ(json_cost(R"({"choices":[{"n":1},{"n":7}]})", {"choices", "1", "n"}), 7);
  for (const char* bad : {R"({"usage":{"total_tokens":-1}})", R"({"usage":{"total_tokens":1.5}})",
                          R"({"usage":{"total_tokens":"12"}})", R"({"usage":{}})", R"([1,2])",
                          R"({"usage":{"total_tokens":1e300}})", "not json", ""}) {
    EXPECT_EQ(json_cost(bad, total), std::nullopt) << bad;
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "[";
  EXPECT_EQ(json_cost(deep, total), std::nullopt) << "deeper than 32";
}

TEST(ResponseCost, JsonBodyInPieces) {
  usage_scanner s(total, false);
  const std::string body = R"({"id":"x","usage":{"prompt_tokens":5,"total_tokens":17}})";
  for (char c : body) s.feed(std::string_view(&c, 1));
  EXPECT_EQ(s.finish(), 17);
}

TEST(ResponseCost, JsonBodyLargerThanTheBoundIsNotRead) {
  usage_scanner s(total, false);
  s.feed(R"({"usage":{"total_tokens":3},"pad":")");
  s.feed(std::string(max_cost_body_bytes, 'x'));
  s.feed(R"("})");
  EXPECT_EQ(s.finish(), std::nullopt);
}

TEST(ResponseCost, EventStreamTakesTheLastEventWithTheField) {
  usage_scanner s(total, true);
  const std::string stream =
      "data: {\"choices\":[{\"delta\":\"Hel\"}]}\n\n"
      ": a comment\n\n"
      "data: {\"usage\":{\"total_tokens\":9}}\n\n"
      "event: message\r\ndata: {\"usage\":\r\ndata: {\"total_tokens\":21}}\r\n\r\n"
      "data: [DONE]\n\n";
  // Fed in awkward pieces: event boundaries fall inside them.
  for (std::size_t i = 0; i < stream.size(); i += 7) s.feed(std::string_view(stream).substr(i, 7));
  EXPECT_EQ(s.finish(), 21);
}

TEST(ResponseCost, EventStreamWithoutATrailingBlankLineReadsItsLastEvent) {
  usage_scanner s(total, true);
  s.feed("data: {\"usage\":{\"total_tokens\":4}}");
  EXPECT_EQ(s.finish(), 4);
}

TEST(ResponseCost, AnEventLargerThanTheBoundIsSkippedAndTheNextOneRead) {
  usage_scanner s(total, true);
  s.feed("data: {\"usage\":{\"total_tokens\":1},\"pad\":\"");
  for (int i = 0; i < 20; ++i) s.feed(std::string(max_cost_body_bytes / 10, 'x'));
  s.feed("\"}\n\ndata: {\"usage\":{\"total_tokens\":6}}\n\n");
  EXPECT_EQ(s.finish(), 6);
}

}  // namespace
}  // namespace sluice::limit
