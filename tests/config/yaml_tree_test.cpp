#include "config/yaml_tree.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;

yaml_parse_result parse(std::string_view text, std::map<std::string, std::string> env = {}) {
  return parse_yaml(text, "t.yaml", testing::fake_env(std::move(env)));
}

// The error lines of parsing `text` with `limits`, on a guard thread (see finishes_within).
std::vector<std::string> bounded_errors(std::string text, yaml_parse_limits limits = {}) {
  return testing::finishes_within(10s, [text = std::move(text), limits = std::move(limits)] {
    auto result = parse_yaml(text, "t.yaml", testing::fake_env(), limits);
    std::vector<std::string> lines;
    for (const auto& error : result.errors) lines.push_back(error.to_string());
    if (!lines.empty() && result.root) lines.push_back("(root kept)");
    return lines;
  });
}

const std::string unexpected_comma =
    "cannot parse: unexpected ',' (outside [ ] and { } it cannot start a value; quote a value "
    "that starts with ',')";

TEST(ConfigYaml, KeepsEveryPairInOrderWithOneBasedPositions) {
  auto result = parse("b: 1\na: x\nb: 2\n");
  ASSERT_TRUE(result.errors.empty());
  const auto& root = *result.root;
  ASSERT_EQ(root.type, yaml_node::kind::map);
  ASSERT_EQ(root.pairs.size(), 3u);
  EXPECT_EQ(root.pairs[0].first->value, "b");
  EXPECT_EQ(root.pairs[1].first->value, "a");
  EXPECT_EQ(root.pairs[2].first->value, "b");
  EXPECT_EQ(root.pairs[2].second->value, "2");
  EXPECT_EQ(root.pairs[2].first->line, 3);
  EXPECT_EQ(root.pairs[2].first->column, 1);
  EXPECT_EQ(root.pairs[1].second->line, 2);
  EXPECT_EQ(root.pairs[1].second->column, 4);
}

TEST(ConfigYaml, DistinguishesNullQuotedAndPlainScalars) {
  auto result = parse("a:\nb: ~\nc: \"null\"\nd: ''\ne: [1, x]\n");
  ASSERT_TRUE(result.errors.empty());
  const auto& pairs = result.root->pairs;
  EXPECT_EQ(pairs[0].second->type, yaml_node::kind::null);
  EXPECT_EQ(pairs[0].second->line, 1);  // an empty value points at its key
  EXPECT_EQ(pairs[1].second->type, yaml_node::kind::null);
  EXPECT_EQ(pairs[2].second->type, yaml_node::kind::scalar);
  EXPECT_TRUE(pairs[2].second->quoted);
  EXPECT_EQ(pairs[3].second->value, "");
  ASSERT_EQ(pairs[4].second->type, yaml_node::kind::sequence);
  EXPECT_EQ(pairs[4].second->items[1]->value, "x");
  EXPECT_FALSE(pairs[4].second->items[1]->quoted);
}

TEST(ConfigYaml, ResolvesAliases) {
  auto result = parse("base: &b {rate: 5/s}\ncopy: *b\n");
  ASSERT_TRUE(result.errors.empty());
  const auto& copy = *result.root->pairs[1].second;
  ASSERT_EQ(copy.type, yaml_node::kind::map);
  EXPECT_EQ(copy.pairs[0].second->value, "5/s");
}

TEST(ConfigYaml, SubstitutesValuesButNotKeys) {
  auto result = parse("${K}: ${V}\nx: ${MISSING}\n", {{"V", "value"}, {"K", "key"}});
  ASSERT_TRUE(result.errors.empty());
  EXPECT_EQ(result.root->pairs[0].first->value, "${K}");
  EXPECT_EQ(result.root->pairs[0].second->value, "value");
  EXPECT_EQ(result.root->pairs[1].second->error,
            "environment variable 'MISSING' is not set (use ${MISSING:-default} for a default)");
}

TEST(ConfigYaml, SyntaxErrorsHaveOneBasedPositions) {
  auto result = parse("a: 1\n  b: 2\n");
  EXPECT_FALSE(result.root);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(), "t.yaml:2:4: invalid YAML: illegal map value");
}

TEST(ConfigYaml, UnknownAnchorIsASyntaxError) {
  auto result = parse("a: *nope\n");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            "t.yaml:1:4: invalid YAML: the referenced anchor is not defined");
}

// yaml-cpp 0.7 never returns from these: it leaves the ',' unconsumed and starts a new
// empty document at it, forever (yaml_tree.cpp). Exact bytes in, exact message out.
TEST(ConfigYaml, ACommaWhereAValueShouldStartIsAnErrorNotAHang) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {",", "t.yaml:1:1: "},
      {",isten: 0.0.0.0:8080\n", "t.yaml:1:1: "},
      {",\nlisten: 0.0.0.0:8080\n", "t.yaml:1:1: "},
      {"\n\n  ,\n", "t.yaml:3:3: "},
      {"\t,", "t.yaml:1:2: "},
      {"[a],", "t.yaml:1:4: "},
      {"[a, b]\n, c\n", "t.yaml:2:1: "},
      {"{}\n,", "t.yaml:2:1: "},
      {"!tag ,", "t.yaml:1:6: "},
      {"&a ,", "t.yaml:1:4: "},
      {"--- ,\n", "t.yaml:1:5: "},
      {"\xEF\xBB\xBF,isten: x\n", "t.yaml:1:1: "},  // after a UTF-8 byte order mark
  };
  for (const auto& [text, where] : cases) {
    EXPECT_THAT(bounded_errors(text), ::testing::ElementsAre(where + unexpected_comma))
        << "input: " << text;
  }
}

TEST(ConfigYaml, ParsingStopsAtASecondDocument) {
  // The first document is kept for its own errors; the second is never read (here it
  // would be a syntax error).
  EXPECT_THAT(bounded_errors("a: 1\n---\nb: [\n"),
              ::testing::ElementsAre("t.yaml:2:1: only one YAML document is allowed per file",
                                     "(root kept)"));
  EXPECT_THAT(bounded_errors("a: 1\n...\nb\n"),
              ::testing::ElementsAre("t.yaml:3:1: only one YAML document is allowed per file",
                                     "(root kept)"));
}

TEST(ConfigYaml, ParserEventsAreBudgeted) {
  yaml_parse_limits limits;
  limits.max_events = 5;  // document start, list start, three items: the fourth is one too many
  EXPECT_THAT(bounded_errors("[1, 2, 3, 4]", limits),
              ::testing::ElementsAre("t.yaml:1:11: cannot parse: more than 5 YAML events in 12 "
                                     "bytes (the parser is not making progress)"));
}

TEST(ConfigYaml, TheDefaultEventBudgetFitsTheDensestYaml) {
  // "[:,:,...]" yields four events per two bytes (an empty key and value per entry),
  // the most found for any YAML; the budget allows eight per byte.
  std::string dense = "[";
  for (int i = 0; i < 20000; ++i) dense += ":,";
  dense += "]";
  auto result = parse(dense);
  EXPECT_TRUE(result.errors.empty());
  ASSERT_TRUE(result.root);
  EXPECT_EQ(result.root->items.size(), 20000u);
}

TEST(ConfigYaml, ParsingHasACpuTimeBound) {
  // A CPU clock that reads 0 when the parse starts and 11 s ever after: the first check,
  // at the 1024th event (the 1022nd item, column 2044), is past the 10 s bound.
  auto readings = std::make_shared<int>(0);
  yaml_parse_limits limits;
  limits.cpu_time_limit = 10s;
  limits.cpu_clock = [readings]() -> std::chrono::nanoseconds {
    return (*readings)++ == 0 ? 0s : 11s;
  };
  std::string list = "[";
  for (int i = 0; i < 2000; ++i) list += "1,";
  list += "]";
  EXPECT_THAT(bounded_errors(list, limits),
              ::testing::ElementsAre("t.yaml:1:2044: cannot parse: gave up after 10000 ms of "
                                     "CPU time"));
  EXPECT_EQ(*readings, 2);  // one system call per 1024 events, not one per event
}

TEST(ConfigYaml, EmptyDocumentIsANullRoot) {
  auto result = parse("# nothing\n");
  ASSERT_TRUE(result.errors.empty());
  EXPECT_EQ(result.root->type, yaml_node::kind::null);
}

TEST(ConfigYaml, DescribesNodesForMessages) {
  auto result = parse("a: [1]\nb: {c: 1}\nc: x\nd:\n");
  const auto& pairs = result.root->pairs;
  EXPECT_EQ(describe(*pairs[0].second), "a list");
  EXPECT_EQ(describe(*pairs[1].second), "a map");
  EXPECT_EQ(describe(*pairs[2].second), "'x'");
  EXPECT_EQ(describe(*pairs[3].second), "nothing");
}

}  // namespace
}  // namespace sluice::config
