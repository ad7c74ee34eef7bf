#include <cstdlib>

#include "config/loader.hpp"
#include "config/schema.hpp"
#include "util/mask.hpp"

namespace sluice::config {

std::string source_location::to_string() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string host_port::to_string() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string config_error::to_string() const {
  std::string out = where.to_string();
  if (!out.empty()) out += ": ";
  if (!field.empty()) out += field + ": ";
  // Every way out of a config error (--check-config, reload errors, /admin/stats,
  // logs) passes here: no URL password leaves it.
  return mask_credentials(out + message);
}

std::string key_text(const std::vector<key_part>& key, std::string_view separator) {
  std::string out;
  for (const auto& part : key) {
    if (!out.empty()) out += separator;
    out += key_part_names[static_cast<std::size_t>(part.kind)];
    if (part.kind == key_part_kind::header || part.kind == key_part_kind::jwt) {
      out += ":" + part.header;
    }
  }
  return out;
}

std::optional<std::string> process_env(std::string_view name) {
  // getenv is safe here: Sluice never calls setenv after startup.
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace sluice::config
