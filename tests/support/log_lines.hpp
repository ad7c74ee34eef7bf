// Collects the log lines a component under test writes (from any thread) and answers
// what they hold.
#pragma once

#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

struct log_lines {
  std::mutex mutex;
  std::vector<std::string> lines;
  // The log function to give the component: appends each line.
  std::function<void(std::string_view)> fn() {
    return [this](std::string_view line) {
      std::lock_guard lock(mutex);
      lines.emplace_back(line);
    };
  }
  bool contains(std::string_view needle) { return count(needle) > 0; }
  // How many lines hold `needle`.
  int count(std::string_view needle) {
    std::lock_guard lock(mutex);
    return static_cast<int>(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find(needle) != std::string::npos;
    }));
  }
  // Every line, each ended by a newline (for failure messages).
  std::string all() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
};

}  // namespace sluice::test
