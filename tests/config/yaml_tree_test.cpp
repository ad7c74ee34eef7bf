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

TEST(ConfigYaml, AliasesShareTheAnchoredNodeAtAnyDepth) {
  auto result = parse("a: &a [1, 2]\nb: &b [*a, *a, {k: *a}]\nc: [*b, *a]\n");
  ASSERT_TRUE(result.errors.empty());
  const auto& pairs = result.root->pairs;
  const auto& a = pairs[0].second;
  const auto& b = pairs[1].second;
  EXPECT_EQ(b->items[0], a);  // shared, not copied
  EXPECT_EQ(b->items[1], a);
  EXPECT_EQ(b->items[2]->pairs[0].second, a);
  EXPECT_EQ(pairs[2].second->items[0], b);
  EXPECT_EQ(pairs[2].second->items[1], a);
}

// config_yaml_fuzz found these (tests/fuzz/corpus/config_yaml_fuzz/alias_cycle_*): the
// tree contained itself, a shared_ptr cycle that every parse leaked. Exact bytes in,
// exact message out, no tree; LeakSanitizer (the ASan build) checks nothing is left.
// yaml-cpp reads on past an escape cut off by the end of the text and reports a
// column beyond it (config_yaml_fuzz finding): the error points at the text's end.
TEST(ConfigYaml, AnErrorPastTheEndOfTheTextPointsAtItsEnd) {
  const std::string text = "listen:listen: \"u@?://path@xs \\ue";  // 33 bytes, one line
  auto result = parse(text);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].where.line, 1);
  EXPECT_EQ(result.errors[0].where.column, 34) << result.errors[0].to_string();
  auto second = parse("a: 1\nb: \"\\u12");
  ASSERT_EQ(second.errors.size(), 1u);
  EXPECT_EQ(second.errors[0].where.line, 2);
  EXPECT_LE(second.errors[0].where.column, 10) << second.errors[0].to_string();
}

TEST(ConfigYaml, AnAliasInsideTheNodeItNamesIsAnError) {
  const std::string cannot = " refers to a node that contains it (a node cannot contain itself)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a: &x [ *x ]", "t.yaml:1:9: alias *x"},
      {"&a [*a]", "t.yaml:1:5: alias *a"},
      {"&a {b: *a}", "t.yaml:1:8: alias *a"},
      {"&a {*a : 1}", "t.yaml:1:5: alias *a"},                  // as a key
      {"&top {a: [1, {b: *top}]}", "t.yaml:1:18: alias *top"},  // an ancestor
      {"routes: &r\n  - {name: a, match: \"/a\", x: *r}\n", "t.yaml:2:31: alias *r"},
      {"a: &a\n  b: &b\n    - c: *a\n", "t.yaml:3:10: alias *a"},
      {"a: &a\n  b: &b\n    - c: *b\n", "t.yaml:3:10: alias *b"},
      // An alias names the latest anchor before it: "&a [*a]" is a cycle even after an
      // earlier "&a"; an "&a" whose node is closed is fine.
      {"a: &a [1]\nb: &a [*a]\n", "t.yaml:2:8: alias *a"},
      {"a: &a [1]\nb: &b [*a]\nc: &a [*b, *b]\nd: *a\n", ""},
  };
  for (const auto& [text, want] : cases) {
    auto result = parse(text);
    if (want.empty()) {
      EXPECT_TRUE(result.errors.empty()) << text;
      continue;
    }
    EXPECT_FALSE(result.root) << text;
    ASSERT_EQ(result.errors.size(), 1u) << text;
    EXPECT_EQ(result.errors[0].to_string(), want + cannot) << text;
  }
}

TEST(ConfigYaml, TheExpandedDocumentIsBudgeted) {
  yaml_parse_limits limits;
  limits.max_expanded = 10;
  // Map 1, "a" 2, list 1, "1" 2, "2" 2 (the list: 5), "b" 2: 10; the alias adds 5.
  EXPECT_THAT(bounded_errors("a: &x [1, 2]\nb: *x\n", limits),
              ::testing::ElementsAre("t.yaml:2:4: cannot parse: more than 10 nodes and value "
                                     "bytes in 19 bytes once aliases are expanded and ${VAR}s "
                                     "substituted (an alias repeats a large node too often)"));
  limits.max_expanded = 15;
  EXPECT_THAT(bounded_errors("a: &x [1, 2]\nb: *x\n", limits), ::testing::IsEmpty());
}

// Billion laughs: ten lines, each a list of ten aliases of the line above, expand to
// 10^10 nodes; the parse stops within its budget (a guard thread fails the test if it
// runs away). The loader's test (policy_config_test) checks that the readers never see it.
TEST(ConfigYaml, AnAliasBombStopsWithinItsBudget) {
  std::string bomb = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level <= 9; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    bomb += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) bomb += (i == 0 ? "" : ", ") + prev;
    bomb += "]\n";
  }
  ASSERT_EQ(bomb.size(), 590u);
  // 256 KiB + 8 per byte = 266864: passed at the sixth *l3 (41111 each) on line 5.
  EXPECT_THAT(bounded_errors(bomb),
              ::testing::ElementsAre("t.yaml:5:35: cannot parse: more than 266864 nodes and "
                                     "value bytes in 590 bytes once aliases are expanded and "
                                     "${VAR}s substituted (an alias repeats a large node too "
                                     "often)"));
}

TEST(ConfigYaml, SubstitutedValuesCountTowardsTheExpandedDocument) {
  yaml_parse_limits limits;
  limits.max_expanded = 100;
  const std::string big(60, 'x');
  auto result =
      parse_yaml("a: ${BIG}\nb: ${BIG}\n", "t.yaml", testing::fake_env({{"BIG", big}}), limits);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(result.errors[0].to_string(),
              ::testing::StartsWith("t.yaml:2:4: cannot parse: more than 100 nodes"));
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
