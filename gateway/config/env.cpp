#include "config/env.hpp"

namespace sluice::config {

namespace {

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

}  // namespace

substitution_result substitute_env(std::string_view text, const env_lookup& env) {
  substitution_result result;
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{') {
      out += text[i++];
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      result.error = "unterminated '${' (expected ${NAME} or ${NAME:-default})";
      return result;
    }
    const std::string_view body = text.substr(i + 2, close - i - 2);
    const std::size_t sep = body.find(":-");
    const std::string_view name = body.substr(0, sep);
    bool valid = !name.empty() && is_name_start(name.front());
    for (char c : name) valid = valid && is_name_char(c);
    if (!valid) {
      result.error = "invalid variable reference '${" + std::string(body) +
                     "}' (expected ${NAME} or ${NAME:-default})";
      return result;
    }
    std::optional<std::string> found = env ? env(name) : std::nullopt;
    if (sep != std::string_view::npos) {
      if (!found || found->empty()) found = std::string(body.substr(sep + 2));
    } else if (!found) {
      result.error = "environment variable '" + std::string(name) + "' is not set (use ${" +
                     std::string(name) + ":-default} for a default)";
      return result;
    }
    out += *found;
    i = close + 1;
  }
  result.value = std::move(out);
  return result;
}

}  // namespace sluice::config
