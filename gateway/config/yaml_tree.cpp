#include "config/yaml_tree.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <time.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "config/env.hpp"

// yaml-cpp 0.7 does not finish every input. SingleDocParser::HandleNode leaves a ','
// (a FLOW_ENTRY token) that it finds where a node should start unconsumed and reports a
// null, so HandleNextDocument starts a new empty document at that same ',' forever
// (upstream issue #1040, fixed after 0.8 by PR #1319). It happens wherever a ',' stands
// outside [ ] and { } at the top level: ",isten: x", a file holding ",", "[a],",
// "{}\n,", "!tag ,", "&a ,". Probing found no other loop: every input of up to 5 bytes
// over YAML's indicators (2.6 million), of up to 4 bytes over 30 characters, and 70
// CPU-minutes of libFuzzer (5 million inputs, none over 3 s or 2 GB); the scanner loops
// of issue #499 ("[:", "{:") are gone in 0.7.0. That loop emits parser events, so the
// parse is bounded in the event handler, in-process (a child process per file would add
// a fork and a copy of the tree, and guard against nothing found):
//  - a second document ends the parse (it is an error anyway); one that starts at a ','
//    is that loop and is reported as such;
//  - at most max_events events (YAML yields at most about 2 per byte, plus a few);
//  - a bound on the parsing thread's CPU time, read every 1024 events, for any slow
//    input not found yet. CPU time, not wall-clock time: a busy machine must not fail a
//    valid file (a 3 MB policy took 0.34 s of CPU and 2.8 s of wall time at load 13 on
//    2 cores), and a parse never waits, so only a loop can use up the bound.
//
// Aliases share the anchored node. Two ways to abuse that are refused here, where the
// tree is built, rather than in every reader that walks it:
//  - an alias inside the node its anchor names ("&a [*a]", "&m {k: *m}") would make the
//    tree contain itself: a shared_ptr cycle that leaks, and a walk that never ends.
//    An anchored collection is known to be open until its end event; an alias to it
//    before then is an error;
//  - an alias bomb ("a: &a [x,x,x,x]", "b: &b [*a,*a,*a,*a]", ... nine lines expand to
//    4^9 nodes) costs the builder nothing but the readers a walk of every expanded node
//    (and a copy of every expanded scalar). The builder counts the expanded document,
//    nodes plus scalar bytes (after ${VAR} substitution, which can grow a value too),
//    and stops past max_expanded, by default in proportion to the text's size: the
//    readers then never walk more than a file of a few times that size without aliases.
namespace sluice::config {

namespace {

using mutable_node = std::shared_ptr<yaml_node>;

// Thrown by tree_builder to end a parse that went past a bound or into a second document.
struct parse_stopped {
  YAML::Mark mark;
  std::string message;
  bool keep_root = false;  // the first document is complete and worth reading
};

constexpr std::size_t events_per_byte = 8;     // four times what any YAML yields
constexpr std::size_t events_baseline = 1024;  // a few per document, whatever its size
// A text of n bytes holds at most about 2n nodes and n scalar bytes without aliases.
constexpr std::size_t expanded_per_byte = 8;
// Room for ${VAR} values (one environment string is at most 128 KiB on Linux) in a short file.
constexpr std::size_t expanded_baseline = 256 * 1024;
// Reading the thread's CPU clock is a system call (~0.2 us): not on every event.
constexpr std::size_t events_per_clock_reading = 1024;

// Turns parser events into a yaml_node tree, within `limits`. Owned by one parse_yaml
// call; not thread-safe.
class tree_builder final : public YAML::EventHandler {
 public:
  tree_builder(const env_lookup& env, std::string_view text, const yaml_parse_limits& limits)
      : env_(env),
        text_(text),
        limits_(limits),
        max_events_(limits.max_events != 0 ? limits.max_events
                                           : events_baseline + events_per_byte * text.size()),
        max_expanded_(limits.max_expanded != 0
                          ? limits.max_expanded
                          : expanded_baseline + expanded_per_byte * text.size()),
        cpu_deadline_(limits.cpu_clock() + limits.cpu_time_limit) {}

  yaml_node_ptr root() const { return root_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    count(mark);
    if (++documents_ == 1) return;
    if (char_at(mark) == ',') {
      throw parse_stopped{mark,
                          "cannot parse: unexpected ',' (outside [ ] and { } it cannot start a "
                          "value; quote a value that starts with ',')",
                          false};
    }
    throw parse_stopped{mark, "only one YAML document is allowed per file", true};
  }
  void OnDocumentEnd() override { count(last_mark_); }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    count(mark);
    auto node = make(yaml_node::kind::null, mark);
    // yaml-cpp marks an empty value at the start of the next line; point at its key.
    if (!stack_.empty() && stack_.back().pending_key &&
        node->line != stack_.back().pending_key->line) {
      node->line = stack_.back().pending_key->line;
      node->column = stack_.back().pending_key->column;
    }
    add(node, anchor, mark);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    count(mark);
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      throw YAML::ParserException(mark, "unknown alias");
    }
    if (it->second.expanded == 0) {
      throw parse_stopped{mark, alias_name(mark) +
                                    " refers to a node that contains it (a node cannot "
                                    "contain itself)"};
    }
    grow(it->second.expanded, mark);
    attach(it->second.node);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    count(mark);
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
    add(node, anchor, mark);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    count(mark);
    open(make(yaml_node::kind::sequence, mark), anchor, mark);
  }
  void OnSequenceEnd() override {
    count(last_mark_);
    close();
  }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    count(mark);
    open(make(yaml_node::kind::map, mark), anchor, mark);
  }
  void OnMapEnd() override {
    count(last_mark_);
    close();
  }

 private:
  struct frame {
    mutable_node node;
    yaml_node_ptr pending_key;    // maps: the key waiting for its value
    YAML::anchor_t anchor;        // the node's own anchor, or NullAnchor
    std::size_t expanded_before;  // expanded_ before this node was added
  };
  struct anchored {
    yaml_node_ptr node;
    std::size_t expanded = 0;  // the node's expanded size; 0 while it is open (a collection
                               // whose end has not come): an alias to it would be a cycle
  };

  // Every event passes here: the budget and the CPU time bound end a parse that runs away.
  void count(const YAML::Mark& mark) {
    last_mark_ = mark;
    if (++events_ > max_events_) {
      throw parse_stopped{mark, "cannot parse: more than " + std::to_string(max_events_) +
                                    " YAML events in " + std::to_string(text_.size()) +
                                    " bytes (the parser is not making progress)"};
    }
    if (events_ % events_per_clock_reading == 0 && limits_.cpu_clock() > cpu_deadline_) {
      throw parse_stopped{mark, "cannot parse: gave up after " +
                                    std::to_string(limits_.cpu_time_limit.count()) +
                                    " ms of CPU time"};
    }
  }

  // The character a mark points at, or 0 when unknown (Mark::pos counts UTF-8 bytes
  // after a byte order mark; other encodings are converted first and do not map back).
  char char_at(const YAML::Mark& mark) const {
    const std::size_t bom = text_.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    if (mark.pos < 0 || bom + static_cast<std::size_t>(mark.pos) >= text_.size()) return 0;
    return text_[bom + static_cast<std::size_t>(mark.pos)];
  }

  // "*name" for the alias at `mark`, as written; "an alias" when the mark does not map
  // back to the text (UTF-16/32 input).
  std::string alias_name(const YAML::Mark& mark) const {
    if (char_at(mark) != '*') return "an alias";
    const std::size_t bom = text_.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    const std::string_view rest = text_.substr(bom + static_cast<std::size_t>(mark.pos));
    const std::size_t end = std::min(rest.find_first_of(" \t\r\n,[]{}", 1), rest.size());
    constexpr std::size_t longest = 64;  // a message, not a copy of the input
    return "alias " + std::string(rest.substr(0, std::min(end, longest))) +
           (end > longest ? "..." : "");
  }

  // Adds `size` (nodes + scalar bytes) to the expanded document; past the bound, stops.
  void grow(std::size_t size, const YAML::Mark& mark) {
    expanded_ += size;
    if (expanded_ > max_expanded_) {
      throw parse_stopped{mark, "cannot parse: more than " + std::to_string(max_expanded_) +
                                    " nodes and value bytes in " + std::to_string(text_.size()) +
                                    " bytes once aliases are expanded and ${VAR}s substituted "
                                    "(an alias repeats a large node too often)"};
    }
  }

  static mutable_node make(yaml_node::kind type, const YAML::Mark& mark) {
    auto node = std::make_shared<yaml_node>();
    node->type = type;
    node->line = mark.line + 1;
    node->column = mark.column + 1;
    return node;
  }

  // A scalar or null: complete when added.
  void add(const mutable_node& node, YAML::anchor_t anchor, const YAML::Mark& mark) {
    const std::size_t size = 1 + node->value.size();
    grow(size, mark);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {node, size};
    attach(node);
  }

  // A sequence or map: open (its anchor not yet usable) until close().
  void open(const mutable_node& node, YAML::anchor_t anchor, const YAML::Mark& mark) {
    const std::size_t before = expanded_;
    grow(1, mark);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {node, 0};
    attach(node);
    stack_.push_back({node, nullptr, anchor, before});
  }
  void close() {
    const frame& top = stack_.back();
    // Everything added since it opened is inside it.
    if (top.anchor != YAML::NullAnchor) {
      anchors_[top.anchor].expanded = expanded_ - top.expanded_before;
    }
    stack_.pop_back();
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
  std::string_view text_;
  const yaml_parse_limits& limits_;
  std::size_t max_events_;
  std::size_t max_expanded_;
  std::chrono::nanoseconds cpu_deadline_;
  std::size_t events_ = 0;
  std::size_t expanded_ = 0;  // nodes + scalar bytes of the tree with aliases expanded
  YAML::Mark last_mark_;
  std::vector<frame> stack_;
  std::map<YAML::anchor_t, anchored> anchors_;
  yaml_node_ptr root_;
  int documents_ = 0;
};

}  // namespace

std::chrono::nanoseconds thread_cpu_time() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

yaml_parse_result parse_yaml(std::string_view text, const std::string& file, const env_lookup& env,
                             const yaml_parse_limits& limits) {
  yaml_parse_result result;
  std::istringstream in{std::string(text)};
  tree_builder builder(env, text, limits);
  // Where the text ends (the position after its last byte): yaml-cpp may report a
  // position past it (an escape such as "\u cut off by the end of the file reads on),
  // which is reported as the end.
  const int end_line = 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  const auto last_newline = text.rfind('\n');
  const int end_column =
      1 + static_cast<int>(last_newline == std::string_view::npos ? text.size()
                                                                  : text.size() - last_newline - 1);
  const auto at = [&](const YAML::Mark& mark) -> source_location {
    if (mark.is_null()) return {file, 0, 0};
    const int line = mark.line + 1;
    const int column = mark.column + 1;
    if (line > end_line || (line == end_line && column > end_column)) {
      return {file, end_line, end_column};
    }
    return {file, line, column};
  };
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const parse_stopped& stop) {
    result.errors.push_back({at(stop.mark), "", stop.message});
    if (!stop.keep_root) return result;
  } catch (const YAML::Exception& e) {
    result.errors.clear();  // a syntax error makes the rest meaningless
    result.errors.push_back({at(e.mark), "", "invalid YAML: " + e.msg});
    return result;
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
