#include "config/yaml_tree.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <map>
#include <sstream>

#include "config/env.hpp"

namespace sluice::config {

namespace {

using mutable_node = std::shared_ptr<yaml_node>;

// Turns parser events into a yaml_node tree. Owned by one parse_yaml call; not thread-safe.
class tree_builder final : public YAML::EventHandler {
 public:
  explicit tree_builder(const env_lookup& env) : env_(env) {}

  yaml_node_ptr root() const { return root_; }
  int documents() const { return documents_; }
  const YAML::Mark& second_document() const { return second_document_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) second_document_ = mark;
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto node = make(yaml_node::kind::null, mark);
    // yaml-cpp marks an empty value at the start of the next line; point at its key.
    if (!stack_.empty() && stack_.back().pending_key &&
        node->line != stack_.back().pending_key->line) {
      node->line = stack_.back().pending_key->line;
      node->column = stack_.back().pending_key->column;
    }
    add(node, anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      throw YAML::ParserException(mark, "unknown alias");
    }
    attach(it->second);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    auto node = make(yaml_node::kind::scalar, mark);
    node->quoted = tag != "?";
    const bool is_key = !stack_.empty() && stack_.back().node->type == yaml_node::kind::map &&
                        !stack_.back().pending_key;
    if (is_key) {
      node->value = value;
    } else {
      auto substituted = substitute_env(value, env_);
      if (substituted.value) {
        if (*substituted.value != value) node->source = value;
        node->value = std::move(*substituted.value);
      } else {
        node->value = value;
        node->error = std::move(substituted.error);
      }
    }
    add(node, anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    auto node = make(yaml_node::kind::sequence, mark);
    add(node, anchor);
    stack_.push_back({node, nullptr});
  }
  void OnSequenceEnd() override { stack_.pop_back(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    auto node = make(yaml_node::kind::map, mark);
    add(node, anchor);
    stack_.push_back({node, nullptr});
  }
  void OnMapEnd() override { stack_.pop_back(); }

 private:
  struct frame {
    mutable_node node;
    yaml_node_ptr pending_key;  // maps: the key waiting for its value
  };

  static mutable_node make(yaml_node::kind type, const YAML::Mark& mark) {
    auto node = std::make_shared<yaml_node>();
    node->type = type;
    node->line = mark.line + 1;
    node->column = mark.column + 1;
    return node;
  }

  void add(const mutable_node& node, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = node;
    attach(node);
  }

  void attach(const yaml_node_ptr& node) {
    if (stack_.empty()) {
      if (documents_ == 1) root_ = node;
      return;
    }
    frame& top = stack_.back();
    if (top.node->type == yaml_node::kind::sequence) {
      top.node->items.push_back(node);
    } else if (!top.pending_key) {
      top.pending_key = node;
    } else {
      top.node->pairs.emplace_back(std::move(top.pending_key), node);
      top.pending_key = nullptr;
    }
  }

  const env_lookup& env_;
  std::vector<frame> stack_;
  std::map<YAML::anchor_t, yaml_node_ptr> anchors_;
  yaml_node_ptr root_;
  int documents_ = 0;
  YAML::Mark second_document_;
};

}  // namespace

yaml_parse_result parse_yaml(std::string_view text, const std::string& file,
                             const env_lookup& env) {
  yaml_parse_result result;
  std::istringstream in{std::string(text)};
  tree_builder builder(env);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::Exception& e) {
    result.errors.clear();  // a syntax error makes the rest meaningless
    const bool known = !e.mark.is_null();
    result.errors.push_back({{file, known ? e.mark.line + 1 : 0, known ? e.mark.column + 1 : 0},
                             "",
                             "invalid YAML: " + e.msg});
    return result;
  }
  if (builder.documents() > 1) {
    const auto& mark = builder.second_document();
    result.errors.push_back(
        {{file, mark.line + 1, mark.column + 1}, "", "only one YAML document is allowed per file"});
  }
  result.root = builder.root();
  if (!result.root) {
    auto empty = std::make_shared<yaml_node>();
    empty->line = 1;
    empty->column = 1;
    result.root = empty;
  }
  return result;
}

std::string describe(const yaml_node& node) {
  switch (node.type) {
    case yaml_node::kind::null:
      return "nothing";
    case yaml_node::kind::map:
      return "a map";
    case yaml_node::kind::sequence:
      return "a list";
    case yaml_node::kind::scalar:
      return "'" + node.value + "'";
  }
  return "?";
}

}  // namespace sluice::config
