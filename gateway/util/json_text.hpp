// Minimal JSON text output for the few fixed-shape bodies Sluice writes on the
// request path (error bodies), where building a DOM would only cost allocations.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

// Appends `s` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);

// Appends `s` escaped for the inside of a JSON string literal (no quotes), so a
// literal can be assembled from several pieces.
void append_json_chars(std::string& out, std::string_view s);

}  // namespace sluice
