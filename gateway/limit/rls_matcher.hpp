// Which configured limit applies to one descriptor of a rate limit service request
// (issue 13), with envoyproxy/ratelimit's rules (its GetLimit): the request's entries
// are walked level by level; at each level `key_value` is tried first, then a wildcard
// `key_prefix*` (in file order), then `key` alone; the limit found applies only when the
// request has no entries left below it. Built once per config load; immutable after,
// so lookups may run on any thread.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/rls_schema.hpp"

namespace sluice::limit {

struct rls_entry {
  std::string_view key;
  std::string_view value;
};

class rls_matcher {
 public:
  // Borrows `config`, which must outlive the matcher.
  explicit rls_matcher(const config::rls_config& config);
  ~rls_matcher();
  rls_matcher(const rls_matcher&) = delete;
  rls_matcher& operator=(const rls_matcher&) = delete;

  bool has_domain(std::string_view domain) const;
  // The configured descriptor whose rate_limit applies to `entries`, or nullptr (no
  // limit: an unknown domain, no match, or a match with entries left over).
  const config::rls_descriptor* find(std::string_view domain,
                                     std::span<const rls_entry> entries) const;

 private:
  struct level;
  std::unordered_map<std::string, std::unique_ptr<level>> domains_;
};

// envoyproxy/ratelimit's `replaces`: every found limit whose name is named in the
// `replaces` of another found limit of the same request no longer applies (set to null).
void apply_replaces(std::span<const config::rls_descriptor*> found);

}  // namespace sluice::limit
