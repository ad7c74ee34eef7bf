#include "config/yaml_tree.hpp"

#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace sluice::config {
namespace {

yaml_parse_result parse(std::string_view text, std::map<std::string, std::string> env = {}) {
  return parse_yaml(text, "t.yaml", testing::fake_env(std::move(env)));
}

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
