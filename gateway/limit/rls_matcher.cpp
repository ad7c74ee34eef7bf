#include "limit/rls_matcher.hpp"

#include <algorithm>

namespace sluice::limit {

// One level of descriptors: by `key` or `key_value`, and the wildcard values in order.
struct rls_matcher::level {
  struct node {
    const config::rls_descriptor* descriptor;
    std::unique_ptr<level> next;  // null when the descriptor has no nested descriptors
  };
  std::unordered_map<std::string, node> by_composite;
  std::vector<std::pair<std::string, const node*>> wildcards;  // "key_prefix" (no '*')

  explicit level(const std::vector<config::rls_descriptor>& descriptors) {
    for (const auto& d : descriptors) {
      const std::string composite = d.key + (d.value.empty() ? "" : "_" + d.value);
      node n{&d, d.descriptors.empty() ? nullptr : std::make_unique<level>(d.descriptors)};
      by_composite.emplace(composite, std::move(n));
    }
    // After every insertion: pointers into an unordered_map stay valid across rehashes.
    for (const auto& d : descriptors) {
      if (d.value.empty() || d.value.back() != '*') continue;
      const std::string composite = d.key + "_" + d.value;
      wildcards.emplace_back(composite.substr(0, composite.size() - 1),
                             &by_composite.at(composite));
    }
  }

  const node* match(const rls_entry& e) const {
    std::string composite;
    composite.reserve(e.key.size() + 1 + e.value.size());
    composite.append(e.key).append("_").append(e.value);
    if (auto it = by_composite.find(composite); it != by_composite.end()) return &it->second;
    for (const auto& [prefix, n] : wildcards) {
      if (composite.starts_with(prefix)) return n;
    }
    if (auto it = by_composite.find(std::string(e.key)); it != by_composite.end()) {
      return &it->second;
    }
    return nullptr;
  }
};

rls_matcher::rls_matcher(const config::rls_config& config) {
  for (const auto& d : config.domains) {
    domains_.emplace(d.domain, std::make_unique<level>(d.descriptors));
  }
}

rls_matcher::~rls_matcher() = default;

bool rls_matcher::has_domain(std::string_view domain) const {
  return domains_.find(std::string(domain)) != domains_.end();
}

const config::rls_descriptor* rls_matcher::find(std::string_view domain,
                                                std::span<const rls_entry> entries) const {
  auto it = domains_.find(std::string(domain));
  if (it == domains_.end()) return nullptr;
  const level* at = it->second.get();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const level::node* n = at->match(entries[i]);
    if (n == nullptr) return nullptr;
    const bool last = i + 1 == entries.size();
    if (last) return n->descriptor->rate_limit ? n->descriptor : nullptr;
    if (!n->next) return nullptr;  // the request goes deeper than the config
    at = n->next.get();
  }
  return nullptr;  // no entries
}

void apply_replaces(std::span<const config::rls_descriptor*> found) {
  std::vector<std::string_view> replaced;
  for (const auto* d : found) {
    if (d == nullptr) continue;
    for (const auto& name : d->rate_limit->replaces) replaced.push_back(name);
  }
  if (replaced.empty()) return;
  for (auto& d : found) {
    if (d == nullptr || d->rate_limit->name.empty()) continue;
    if (std::find(replaced.begin(), replaced.end(), d->rate_limit->name) != replaced.end()) {
      d = nullptr;
    }
  }
}

}  // namespace sluice::limit
