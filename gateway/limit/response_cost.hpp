// What a request cost, read from the upstream's answer (issue 14, a limit's `cost:`):
// a header or trailer value, or a field of a JSON body, or of a text/event-stream's
// data events (the last one that has it: an LLM API's streamed usage). Pure parsing of
// upstream bytes, bounded in size and depth; nothing here throws on bad input. The
// session feeds the response to a usage_scanner and settles the limit with the value
// (limit/engine.hpp settles_to()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"

namespace sluice::limit {

// The most a JSON body (or one event of a stream) may hold for its cost to be read:
// beyond, the body is relayed as ever but its cost is not read.
inline constexpr std::size_t max_cost_body_bytes = 1024 * 1024;

// A header or trailer value as a cost: optional whitespace around decimal digits, at
// most 2^53 - 1; nullopt for anything else (a sign, a fraction, a list, empty).
std::optional<std::int64_t> read_cost_number(std::string_view text);

// The field at `path` (config::units::parse_field_path(); a segment of digits also
// indexes an array) of one JSON text, as a cost: a non-negative integer (a whole
// number written as a decimal, 12.0, counts) at most 2^53 - 1; nullopt when the text
// is not JSON, nests deeper than 32, or the field is absent or no such number.
std::optional<std::int64_t> json_cost(std::string_view json, const std::vector<std::string>& path);

// Reads a cost field from a body as it streams by, in pieces. A JSON body is kept (up
// to max_cost_body_bytes) and read at the end; a text/event-stream body is read event by
// event ("data:" lines of one event joined, as the EventSource spec does), each kept
// only until its end, and the last event that has the field gives the cost (an event
// whose text does not name the field's last key is not parsed).
class usage_scanner {
 public:
  usage_scanner(std::vector<std::string> path, bool event_stream);
  void feed(std::string_view piece);
  // The cost once the body has ended; nullopt when none was found (or the body was too
  // large to read).
  std::optional<std::int64_t> finish();
  const std::vector<std::string>& path() const { return path_; }

 private:
  void scan_events(bool at_end);
  void read_event(std::string_view event);

  std::vector<std::string> path_;
  bool event_stream_ = false;
  bool overflow_ = false;  // JSON: the body outgrew the bound; stream: the current event
  std::string buffer_;
  std::optional<std::int64_t> found_;
};

struct evaluation;

// The costs one response settles: for each of the request's limits with `cost:`, what
// the response said, read as it streams by (session: begin, on_head, feed while the
// body is relayed, on_end), then settled_cost(). One per connection, reused.
class response_costs {
 public:
  // A lookup of a response field by lower-case name: its last value (a trailer comes
  // after the head's fields, so the last value of a trailer name is the trailer's).
  using field_lookup = std::function<std::optional<std::string_view>(std::string_view)>;

  // Forgets the previous response; notes the sources ev's admitted limits read (none
  // for a null ev: a policy without `cost:`).
  void begin(const evaluation* ev);
  bool any() const { return !sources_.empty(); }
  // The head arrived: header sources are read; returns whether the body must be fed.
  bool on_head(const field_lookup& fields, std::string_view content_type);
  void feed(std::string_view piece);
  // The response ended completely (its body relayed, or none): trailers and JSON fields
  // are read. Without it the exchange failed.
  void on_end(const field_lookup& fields);
  // What check `check` of ev settles to: for a limit with `cost:`, the cost the response
  // gave, else on_failure when the exchange failed, else the reserve; otherwise (and for
  // a check that was not charged) its cost, nothing to settle.
  std::int64_t settled_cost(const evaluation& ev, std::size_t check) const;
  // How check's cost was found, for the metrics (telemetry/metrics.hpp
  // response_cost_outcomes): read, missing (a complete response without one) or failed
  // (none read, the exchange failed); "" for a check without `cost:`.
  std::string_view outcome(std::size_t check) const;

 private:
  struct source {
    std::size_t check = 0;
    const config::response_cost_def* def = nullptr;
    std::optional<std::int64_t> value;
  };
  std::vector<source> sources_;
  bool ended_ = false;
  std::vector<usage_scanner> scanners_;  // one per distinct JSON field path
};

}  // namespace sluice::limit
