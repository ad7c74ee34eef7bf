// What Sluice believes from a sentinel: raw reply bytes in (through the bounded RESP
// parser, with the sentinel's limits), the master address or a failure out. Every
// malformed answer is a failure of that sentinel, never a throw.
#include "redis/sentinel.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::redis {
namespace {

// The one reply `bytes` hold, parsed with the sentinel limits; a failed parse is a
// test failure.
reply parsed(const std::string& bytes) {
  reply_parser parser(sentinel_reply_limits);
  parser.feed(bytes.data(), bytes.size());
  reply r;
  EXPECT_EQ(parser.next(r), reply_parser::status::ready) << parser.error();
  return r;
}

reply_parser::status parse_status(const std::string& bytes) {
  reply_parser parser(sentinel_reply_limits);
  parser.feed(bytes.data(), bytes.size());
  reply r;
  return parser.next(r);
}

TEST(SentinelAnswer, AHostAndAPortNameTheMaster) {
  auto a = parse_master_address(parsed("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"));
  ASSERT_TRUE(a.master) << a.error;
  EXPECT_EQ(a.master->host, "127.0.0.1");
  EXPECT_EQ(a.master->port, 6380);
  EXPECT_EQ(a.master->to_string(), "127.0.0.1:6380");

  a = parse_master_address(parsed("*2\r\n$3\r\n::1\r\n$5\r\n65535\r\n"));
  ASSERT_TRUE(a.master) << a.error;
  EXPECT_EQ(a.master->to_string(), "[::1]:65535");
  a = parse_master_address(parsed("*2\r\n$16\r\nredis-1.internal\r\n$4\r\n6379\r\n"));
  ASSERT_TRUE(a.master) << a.error;
  EXPECT_EQ(a.master->host, "redis-1.internal");
}

TEST(SentinelAnswer, NilErrorsAndOtherShapesAreFailures) {
  const std::pair<std::string, std::string> cases[] = {
      {"*-1\r\n", "does not know the master"},
      {"$-1\r\n", "does not know the master"},
      {"-NOAUTH Authentication required.\r\n", "answered NOAUTH Authentication required."},
      {"+OK\r\n", "answered something that is not a host and a port"},
      {":6379\r\n", "answered something that is not a host and a port"},
      {"*1\r\n$9\r\n127.0.0.1\r\n", "answered something that is not a host and a port"},
      {"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
       "answered something that is not a host and a port"},
      {"*2\r\n:1\r\n:2\r\n", "answered something that is not a host and a port"},
      {"*2\r\n*0\r\n$4\r\n6379\r\n", "answered something that is not a host and a port"},
      {"*2\r\n$0\r\n\r\n$4\r\n6379\r\n", "a master host that is not a host name or IP"},
      {"*2\r\n$11\r\n10.0.0.1 80\r\n$4\r\n6379\r\n", "a master host that is not a host name or IP"},
      {"*2\r\n$10\r\n10.0.0.1\r\n\r\n$4\r\n6379\r\n",
       "a master host that is not a host name or IP"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n65536\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$2\r\n-1\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n63 79\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$6\r\n006379\r\n", "a master port that is not a port"},
      {"*2\r\n$9\r\n127.0.0.1\r\n$0\r\n\r\n", "a master port that is not a port"},
  };
  for (const auto& [bytes, error] : cases) {
    const auto a = parse_master_address(parsed(bytes));
    EXPECT_FALSE(a.master) << bytes;
    EXPECT_EQ(a.error, error) << bytes;
  }
  const auto long_host = std::string(256, 'a');
  const auto a = parse_master_address(parsed("*2\r\n$256\r\n" + long_host + "\r\n$4\r\n6379\r\n"));
  EXPECT_EQ(a.error, "a master host that is not a host name or IP");
}

TEST(SentinelAnswer, RepliesBeyondTheSentinelLimitsAreProtocolErrors) {
  // More elements, or more bytes, than a sentinel ever sends: the connection is
  // dropped before anything is allocated for what they announce.
  EXPECT_EQ(parse_status("*17\r\n"), reply_parser::status::protocol_error);
  // An announcement alone costs nothing: the bytes are counted as they come.
  EXPECT_EQ(parse_status("$2000000000\r\n"), reply_parser::status::incomplete);
  EXPECT_EQ(parse_status("$5000\r\n" + std::string(5000, 'x') + "\r\n"),
            reply_parser::status::protocol_error);
  EXPECT_EQ(parse_status("?\r\n"), reply_parser::status::protocol_error);
}

std::string message(const std::string& payload) {
  return "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$" + std::to_string(payload.size()) +
         "\r\n" + payload + "\r\n";
}

TEST(SentinelSwitchMaster, ItsMastersMessageNamesTheNewAddress) {
  auto a =
      parse_switch_master(parsed(message("mymaster 127.0.0.1 6379 127.0.0.1 6380")), "mymaster");
  ASSERT_TRUE(a.master) << a.error;
  EXPECT_EQ(a.master->to_string(), "127.0.0.1:6380");
}

TEST(SentinelSwitchMaster, AnotherMastersMessageIsIgnored) {
  auto a = parse_switch_master(parsed(message("other 127.0.0.1 6379 127.0.0.1 6380")), "mymaster");
  EXPECT_FALSE(a.master);
  EXPECT_EQ(a.error, "");
  a = parse_switch_master(parsed(message("mymaster2 127.0.0.1 6379 127.0.0.1 6380")), "mymaster");
  EXPECT_FALSE(a.master);
  EXPECT_EQ(a.error, "");
}

TEST(SentinelSwitchMaster, MalformedMessagesAreFailures) {
  const std::pair<std::string, std::string> cases[] = {
      {message("mymaster 127.0.0.1 6379 127.0.0.1"),
       "sent a +switch-master message without 5 fields"},
      {message("mymaster 127.0.0.1 6379 127.0.0.1 6380 extra"),
       "sent a +switch-master message without 5 fields"},
      {message(""), "sent a +switch-master message without 5 fields"},
      {message("mymaster 127.0.0.1 6379 127.0.0.1 99999"), "a master port that is not a port"},
      {message("mymaster 127.0.0.1 6379  6380"), "a master host that is not a host name or IP"},
      {"*3\r\n$8\r\npmessage\r\n$14\r\n+switch-master\r\n$1\r\nx\r\n",
       "sent something that is not a +switch-master message"},
      {"*3\r\n$7\r\nmessage\r\n$8\r\n+sdown!!\r\n$1\r\nx\r\n",
       "sent something that is not a +switch-master message"},
      {"*2\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n",
       "sent something that is not a +switch-master message"},
      {"*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n:1\r\n",
       "sent something that is not a +switch-master message"},
      {"$7\r\nmessage\r\n", "sent something that is not a +switch-master message"},
      {"-ERR\r\n", "sent something that is not a +switch-master message"},
  };
  for (const auto& [bytes, error] : cases) {
    const auto a = parse_switch_master(parsed(bytes), "mymaster");
    EXPECT_FALSE(a.master) << bytes;
    EXPECT_EQ(a.error, error) << bytes;
  }
}

}  // namespace
}  // namespace sluice::redis
