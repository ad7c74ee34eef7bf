#include "limit/response_cost.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>

#include "config/limit_params.hpp"
#include "limit/engine.hpp"

namespace sluice::limit {
namespace {

constexpr std::size_t max_json_depth = 32;

std::optional<std::int64_t> cost_of(const boost::json::value& v) {
  if (v.is_int64()) {
    const std::int64_t n = v.get_int64();
    if (n >= 0 && n <= max_exact_integer) return n;
  } else if (v.is_uint64()) {
    const std::uint64_t n = v.get_uint64();
    if (n <= static_cast<std::uint64_t>(max_exact_integer)) return static_cast<std::int64_t>(n);
  } else if (v.is_double()) {
    const double d = v.get_double();
    if (d >= 0 && d <= static_cast<double>(max_exact_integer) && std::floor(d) == d) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> index_of(const std::string& segment) {
  if (segment.size() > 9) return std::nullopt;  // no array is that long
  std::size_t n = 0;
  for (char c : segment) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

// Where the first event from `from` ends in `text`: the blank line after it ("\n\n",
// "\r\n\r\n" or "\r\r"), as (where the event's text ends, where the next one starts);
// npos when no event is complete yet.
std::pair<std::size_t, std::size_t> event_end(std::string_view text, std::size_t from) {
  std::pair<std::size_t, std::size_t> best{std::string_view::npos, 0};
  for (std::string_view blank :
       {std::string_view("\n\n"), std::string_view("\r\n\r\n"), std::string_view("\r\r")}) {
    const std::size_t at = text.find(blank, from);
    if (at < best.first) best = {at, at + blank.size()};
  }
  return best;
}

// A media type as compared: without spaces, lower case.
std::string lowered_token(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ' ' || c == '\t') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
  }
  return out;
}

}  // namespace

std::optional<std::int64_t> read_cost_number(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::int64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > max_exact_integer) return std::nullopt;
  return n;
}

std::optional<std::int64_t> json_cost(std::string_view json, const std::vector<std::string>& path) {
  boost::json::parse_options options;
  options.max_depth = max_json_depth;
  boost::system::error_code ec;
  const boost::json::value root =
      boost::json::parse(boost::json::string_view(json.data(), json.size()), ec, {}, options);
  if (ec) return std::nullopt;
  const boost::json::value* at = &root;
  for (const std::string& segment : path) {
    if (const auto* object = at->if_object()) {
      at = object->if_contains(segment);
    } else if (const auto* array = at->if_array()) {
      const auto index = index_of(segment);
      at = index && *index < array->size() ? &(*array)[*index] : nullptr;
    } else {
      at = nullptr;
    }
    if (at == nullptr) return std::nullopt;
  }
  return cost_of(*at);
}

usage_scanner::usage_scanner(std::vector<std::string> path, bool event_stream)
    : path_(std::move(path)), event_stream_(event_stream) {}

void usage_scanner::feed(std::string_view piece) {
  if (!event_stream_) {
    if (overflow_) return;
    if (buffer_.size() + piece.size() > max_cost_body_bytes) {
      overflow_ = true;
      buffer_.clear();
      buffer_.shrink_to_fit();
      return;
    }
    buffer_.append(piece);
    return;
  }
  buffer_.append(piece);
  scan_events(false);
}

std::optional<std::int64_t> usage_scanner::finish() {
  if (!event_stream_) {
    if (!overflow_ && !buffer_.empty()) found_ = json_cost(buffer_, path_);
    buffer_.clear();
    return found_;
  }
  scan_events(true);
  return found_;
}

void usage_scanner::scan_events(bool at_end) {
  std::size_t start = 0;
  for (;;) {
    const auto [end, next] = event_end(buffer_, start);
    if (end == std::string_view::npos) break;
    if (!overflow_) read_event(std::string_view(buffer_).substr(start, end - start));
    overflow_ = false;  // an event too large was skipped up to its end
    start = next;
  }
  if (at_end && !overflow_ && start < buffer_.size()) {
    read_event(std::string_view(buffer_).substr(start));
    start = buffer_.size();
  }
  buffer_.erase(0, start);
  if (buffer_.size() > max_cost_body_bytes) {
    // One event larger than the bound: skipped, up to its end.
    overflow_ = true;
    buffer_.erase(0, buffer_.size() - 1);  // keep the last byte: it may begin the blank line
  }
}

void usage_scanner::read_event(std::string_view event) {
  std::string data;
  while (!event.empty()) {
    std::size_t eol = event.find_first_of("\r\n");
    std::string_view line = event.substr(0, eol);
    if (line.substr(0, 5) == "data:") {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (!data.empty()) data.push_back('\n');
      data.append(line);
    }
    if (eol == std::string_view::npos) break;
    if (event[eol] == '\r' && eol + 1 < event.size() && event[eol + 1] == '\n') ++eol;
    event.remove_prefix(eol + 1);
  }
  if (data.empty() || data.front() != '{') return;  // e.g. "[DONE]"
  // Most events of a long stream (the tokens) do not name the field: not parsed. (A key
  // spelled with \u escapes is not looked for.)
  if (data.find(path_.back()) == std::string::npos) return;
  if (auto cost = json_cost(data, path_)) found_ = cost;
}

void response_costs::begin(const evaluation* ev) {
  sources_.clear();
  scanners_.clear();
  ended_ = false;
  if (ev == nullptr || ev->result != limit::outcome::allowed) return;
  for (std::size_t i = 0; i < ev->applied.size(); ++i) {
    const auto& def = ev->limit_of(ev->applied[i]).response_cost;
    if (def && i < ev->decisions.size() && ev->decisions[i].allowed) {
      sources_.push_back(source{i, &*def, std::nullopt});
    }
  }
}

bool response_costs::on_head(const field_lookup& fields, std::string_view content_type) {
  bool body = false;
  for (source& s : sources_) {
    if (s.def->source == config::response_cost_source::header) {
      if (auto text = fields(s.def->name)) s.value = read_cost_number(*text);
    } else if (s.def->source == config::response_cost_source::json) {
      body = true;
    }
  }
  if (!body) return false;
  // "text/event-stream", whatever parameters follow.
  const std::string_view media = content_type.substr(0, content_type.find(';'));
  const bool event_stream = lowered_token(media) == "text/event-stream";
  for (const source& s : sources_) {
    if (s.def->source != config::response_cost_source::json) continue;
    const bool known =
        std::any_of(scanners_.begin(), scanners_.end(),
                    [&](const usage_scanner& sc) { return sc.path() == s.def->path; });
    if (!known) scanners_.emplace_back(s.def->path, event_stream);
  }
  return true;
}

void response_costs::feed(std::string_view piece) {
  for (usage_scanner& scanner : scanners_) scanner.feed(piece);
}

void response_costs::on_end(const field_lookup& fields) {
  ended_ = true;
  for (source& s : sources_) {
    if (s.def->source == config::response_cost_source::trailer) {
      if (auto text = fields(s.def->name)) s.value = read_cost_number(*text);
    } else if (s.def->source == config::response_cost_source::json) {
      for (usage_scanner& scanner : scanners_) {
        if (scanner.path() == s.def->path) s.value = scanner.finish();
      }
    }
  }
}

std::int64_t response_costs::settled_cost(const evaluation& ev, std::size_t check) const {
  const std::int64_t reserved = ev.checks[check].cost;
  for (const source& s : sources_) {
    if (s.check != check) continue;
    if (s.value) return *s.value;
    return ended_ ? reserved : s.def->on_failure.value_or(reserved);
  }
  return reserved;
}

std::string_view response_costs::outcome(std::size_t check) const {
  for (const source& s : sources_) {
    if (s.check == check) return s.value ? "read" : ended_ ? "missing" : "failed";
  }
  return "";
}

}  // namespace sluice::limit
