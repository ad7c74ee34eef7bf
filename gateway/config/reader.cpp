#include "config/reader.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <limits>

#include "config/limit_params.hpp"
#include "config/units.hpp"

namespace sluice::config::detail {

std::string join_path(std::string_view base, std::string_view key) {
  if (base.empty()) return std::string(key);
  return std::string(base) + "." + std::string(key);
}

std::string index_path(std::string_view base, std::size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}

std::string without_substituted_value(const yaml_node& node, std::string message) {
  if (node.source.empty() || node.value.empty()) return message;
  const auto word_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  std::string out;
  std::size_t copied = 0;
  for (std::size_t at = message.find(node.value); at != std::string::npos;
       at = message.find(node.value, at + 1)) {
    const std::size_t end = at + node.value.size();
    if (at < copied) continue;
    // "1" must not turn "between 0 and 15" into "between 0 and ${N}5".
    if ((at > 0 && word_char(message[at - 1]) && word_char(node.value.front())) ||
        (end < message.size() && word_char(message[end]) && word_char(node.value.back()))) {
      continue;
    }
    out.append(message, copied, at - copied);
    out += node.source;
    copied = end;
  }
  if (copied == 0) return message;
  out.append(message, copied);
  return out;
}

namespace {

std::string position_text(const yaml_node& node) {
  return "line " + std::to_string(node.line) + ", column " + std::to_string(node.column);
}

// The scalar text of `node`, or nullopt after reporting a type or substitution error.
std::optional<std::string> scalar_text(const yaml_node& node, const std::string& path,
                                       error_sink& sink, std::string_view expected) {
  if (node.type != yaml_node::kind::scalar) {
    sink.add(node, path, "expected " + std::string(expected) + ", got " + describe(node));
    return std::nullopt;
  }
  if (!node.error.empty()) {
    sink.add(node, path, node.error);
    return std::nullopt;
  }
  return node.value;
}

}  // namespace

map_reader::map_reader(const yaml_node& node, std::string path, error_sink& sink,
                       std::initializer_list<std::string_view> allowed)
    : node_(node), path_(std::move(path)) {
  if (node.type == yaml_node::kind::null) {
    ok_ = true;
    return;
  }
  if (node.type != yaml_node::kind::map) {
    sink.add(node, path_, "expected a map, got " + describe(node));
    return;
  }
  ok_ = true;
  std::string allowed_names;
  for (auto name : allowed)
    allowed_names += (allowed_names.empty() ? "" : ", ") + std::string(name);
  for (const auto& [key, value] : node.pairs) {
    if (key->type != yaml_node::kind::scalar) {
      sink.add(*key, path_, "expected a plain key, got " + describe(*key));
      continue;
    }
    if (auto seen = index_.find(key->value); seen != index_.end()) {
      sink.add(*key, path_,
               "duplicate key '" + key->value + "' (first at " +
                   position_text(*entries_[seen->second].first) + ")");
      continue;
    }
    bool known = allowed.size() == 0;
    for (auto name : allowed) known = known || name == key->value;
    if (!known) {
      sink.add(*key, path_,
               "unknown key '" + key->value + "' (expected one of: " + allowed_names + ")");
      continue;
    }
    index_.emplace(key->value, entries_.size());
    entries_.emplace_back(key.get(), value.get());
  }
}

const yaml_node* map_reader::get(std::string_view key) const {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  const yaml_node* v = entries_[it->second].second;
  return v->type == yaml_node::kind::null ? nullptr : v;
}

std::optional<std::string> read_string(const yaml_node& node, const std::string& path,
                                       error_sink& sink) {
  return scalar_text(node, path, sink, "a string");
}

std::optional<bool> read_bool(const yaml_node& node, const std::string& path, error_sink& sink) {
  auto text = scalar_text(node, path, sink, "true or false");
  if (!text) return std::nullopt;
  // YAML 1.1 spellings, as yaml-cpp's as<bool>() accepts them.
  for (std::string_view t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    if (*text == t) return true;
  }
  for (std::string_view f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    if (*text == f) return false;
  }
  sink.add(node, path, "expected true or false, got '" + *text + "'");
  return std::nullopt;
}

std::optional<std::int64_t> read_int(const yaml_node& node, const std::string& path,
                                     error_sink& sink, std::int64_t min, std::int64_t max) {
  auto text = scalar_text(node, path, sink, "an integer");
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (text->empty() || ptr != end || ec == std::errc::invalid_argument) {
    sink.add(node, path, "expected an integer, got '" + *text + "'");
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    const bool open_ended = max >= limit::max_exact_integer;
    sink.add(
        node, path,
        (open_ended ? "must be >= " + std::to_string(min)
                    : "must be between " + std::to_string(min) + " and " + std::to_string(max)) +
            " (got " + *text + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<std::chrono::milliseconds> read_duration(const yaml_node& node,
                                                       const std::string& path, error_sink& sink) {
  auto text = scalar_text(node, path, sink, "a duration");
  if (!text) return std::nullopt;
  auto parsed = units::parse_duration(*text);
  if (!parsed.value) sink.add(node, path, parsed.error);
  return parsed.value;
}

std::optional<std::uint64_t> read_size(const yaml_node& node, const std::string& path,
                                       error_sink& sink, std::uint64_t min, std::uint64_t max) {
  auto text = scalar_text(node, path, sink, "a size");
  if (!text) return std::nullopt;
  auto parsed = units::parse_size(*text);
  if (!parsed.value) {
    sink.add(node, path, parsed.error);
    return std::nullopt;
  }
  if (*parsed.value < min || *parsed.value > max) {
    sink.add(node, path,
             "must be between " + units::format_size(min) + " and " + units::format_size(max) +
                 " (got " + *text + ")");
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<rate> read_rate(const yaml_node& node, const std::string& path, error_sink& sink) {
  auto text = scalar_text(node, path, sink, "a rate");
  if (!text) return std::nullopt;
  auto parsed = units::parse_rate(*text);
  if (!parsed.value) sink.add(node, path, parsed.error);
  return parsed.value;
}

std::optional<cidr> read_cidr(const yaml_node& node, const std::string& path, error_sink& sink) {
  auto text = scalar_text(node, path, sink, "a CIDR block");
  if (!text) return std::nullopt;
  auto parsed = cidr::parse(*text);
  if (!parsed) {
    sink.add(node, path,
             "invalid CIDR '" + *text +
                 "' (expected an address or address/prefix, e.g. "
                 "10.0.0.0/8 or 2001:db8::/32)");
  }
  return parsed;
}

host_port_result parse_host_port(std::string_view text) {
  host_port_result result;
  const auto invalid = [&] {
    result.error = "invalid address '" + std::string(text) +
                   "' (expected host:port, e.g. 0.0.0.0:8080 or [::]:8080)";
    return result;
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return invalid();
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return invalid();
    host = host.substr(1, host.size() - 2);
    auto address = ip_address::parse(host);
    if (!address || host.find(':') == std::string_view::npos) return invalid();
  } else if (host.find(':') != std::string_view::npos) {
    result.error = "invalid address '" + std::string(text) +
                   "' (an IPv6 address needs brackets, e.g. [::1]:8080)";
    return result;
  } else {
    for (char c : host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_';
      if (!ok) return invalid();
    }
  }
  int port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size()) {
    return invalid();
  }
  if (port < 1 || port > 65535) {
    result.error = "port must be between 1 and 65535 in '" + std::string(text) + "'";
    return result;
  }
  result.value = host_port{std::string(host), static_cast<std::uint16_t>(port)};
  return result;
}

std::optional<std::string> read_file_path(const yaml_node& node, const std::string& path,
                                          error_sink& sink) {
  auto text = read_string(node, path, sink);
  if (!text) return std::nullopt;
  if (text->empty()) {
    sink.add(node, path, "must name a file");
    return std::nullopt;
  }
  const std::filesystem::path configured(*text);
  if (configured.is_absolute()) return *text;
  return (std::filesystem::path(sink.file()).parent_path() / configured)
      .lexically_normal()
      .string();
}

std::optional<host_port> read_host_port(const yaml_node& node, const std::string& path,
                                        error_sink& sink) {
  auto text = scalar_text(node, path, sink, "host:port");
  if (!text) return std::nullopt;
  auto parsed = parse_host_port(*text);
  if (!parsed.value) sink.add(node, path, parsed.error);
  return parsed.value;
}

std::optional<std::vector<list_item>> read_list(const yaml_node& node, const std::string& path,
                                                error_sink& sink, bool scalar_ok) {
  std::vector<list_item> items;
  if (node.type == yaml_node::kind::null) return items;
  if (scalar_ok && node.type == yaml_node::kind::scalar) {
    items.push_back({&node, path});
    return items;
  }
  if (node.type != yaml_node::kind::sequence) {
    sink.add(node, path, "expected a list, got " + describe(node));
    return std::nullopt;
  }
  for (std::size_t i = 0; i < node.items.size(); ++i) {
    items.push_back({node.items[i].get(), index_path(path, i)});
  }
  return items;
}

std::string lower_ascii(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

bool is_claim_name(std::string_view text) {
  return !text.empty() && text.size() <= 128 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 127; });
}

std::optional<std::string> read_claim_name(const yaml_node& node, const std::string& path,
                                           error_sink& sink) {
  auto text = read_string(node, path, sink);
  if (!text) return std::nullopt;
  if (!is_claim_name(*text)) {
    sink.add(node, path, "must name a claim (" + std::string(claim_name_rule) + ")");
    return std::nullopt;
  }
  return text;
}

bool is_http_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace sluice::config::detail
