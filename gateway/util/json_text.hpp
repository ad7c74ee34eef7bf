// Minimal JSON text output for the few fixed-shape bodies Sluice writes on the
// request path (error bodies, access-log lines), where building a DOM would only
// cost allocations.
#pragma once

#include <string>
#include <string_view>

#include "util/text_buffer.hpp"

namespace sluice {

// Appends `s` as a JSON string literal, quotes included. The output is always valid
// JSON (RFC 8259) and valid UTF-8, whatever bytes `s` holds (a client's path, say):
// - well-formed UTF-8 passes through as is;
// - '"' and '\' are escaped; \n, \r and \t by name; every other control character
//   (U+0000..U+001F, U+007F and the C1 controls U+0080..U+009F) as \u00XX;
// - each byte that is not part of a well-formed UTF-8 sequence (Unicode table 3-7:
//   a stray continuation byte, a truncated sequence, an overlong encoding, an
//   encoded surrogate ED A0..BF xx, anything above U+10FFFF, C0, C1, F5..FF) becomes
//   one \ufffd (the replacement character): one per byte, so "/caf\xe9\xff" reads
//   "/caf\ufffd\ufffd".
void append_json_string(std::string& out, std::string_view s);
void append_json_string(text_buffer& out, std::string_view s);

// Appends `s` escaped for the inside of a JSON string literal (no quotes), so a
// literal can be assembled from several pieces; same rules as above. Pieces split
// inside a UTF-8 sequence escape each half as invalid bytes.
void append_json_chars(std::string& out, std::string_view s);
void append_json_chars(text_buffer& out, std::string_view s);

}  // namespace sluice
