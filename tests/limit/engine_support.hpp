// What the engine tests share: a request's headers without HTTP, and a limit's definition.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/schema.hpp"
#include "limit/engine.hpp"

namespace sluice::limit {

// Header lines in order; a name may repeat (the first line wins find(), as in Beast).
class fake_headers final : public request_headers {
 public:
  fake_headers(std::initializer_list<std::pair<const std::string, std::string>> h) : h_(h) {}
  header_lines lines(std::string_view lower_name) const override {
    auto it = h_.find(std::string(lower_name));
    if (it == h_.end()) return {};
    return {std::string_view(it->second), h_.count(std::string(lower_name)) > 1};
  }

 private:
  std::multimap<std::string, std::string> h_;
};

// A limit named `name` on `key` at rate `r`.
inline config::limit_def make_limit(std::string name, std::vector<config::key_part> key,
                                    config::rate r, algorithm algo = algorithm::token_bucket,
                                    std::int64_t burst = 0) {
  config::limit_def l;
  l.name = std::move(name);
  l.key = std::move(key);
  l.rate = r;
  l.algo = algo;
  l.burst = burst;
  return l;
}

}  // namespace sluice::limit
