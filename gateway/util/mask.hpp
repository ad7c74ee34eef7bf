// Masks secrets for logs, messages, the dashboard and /admin/config. Pure.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

// Keeps the first 4 characters of keys longer than 8 and hides the rest:
// "key-demo-pro" -> "key-****". Short values are hidden entirely.
inline std::string mask_secret(std::string_view value) {
  if (value.empty()) return {};
  if (value.size() <= 8) return "****";
  return std::string(value.substr(0, 4)) + "****";
}

// mask_secret plus 6 hex digits of a hash of the whole value: "key-****#3fa81c".
// Where masked keys are counted apart (the dashboard's top limited clients), keys
// sharing their first characters must not merge into one row. 24 bits of an FNV-1a
// hash tell keys apart without helping anyone guess a key.
inline std::string mask_secret_distinct(std::string_view value) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : value) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  constexpr char digits[] = "0123456789abcdef";
  std::string out = mask_secret(value);
  out += '#';
  for (int shift = 20; shift >= 0; shift -= 4) out += digits[(hash >> shift) & 0xf];
  return out;
}

// Hides the password of every URL userinfo in `text`, for messages that may echo a
// configured value (config errors, reload errors, logs, /admin/config):
//   "redis://:secret@h:6379"    -> "redis://:****@h:6379"
//   "redis://user:secret@h"     -> "redis://user:****@h"
//   "redis://token@h"           -> "redis://****@h"  (a lone userinfo is a secret too)
//   "'user:secret@h:6379'"      -> "'user:****@h:6379'"  (no scheme: only user:pass@)
// A URL's authority runs from "://" to the next '/', '?', '#', quote or space; its
// userinfo ends at the last '@' in it (so a password holding '@' is hidden whole).
// Without a scheme, the userinfo runs back from '@' to a space, quote or '/'. Other
// text is unchanged (an e-mail address keeps its name). Idempotent.
inline std::string mask_credentials(std::string_view text) {
  constexpr std::string_view hidden = "****";
  constexpr std::string_view ends = " \t\r\n'\"`";
  std::string out;
  std::size_t copied = 0;  // text[0, copied) is in `out`
  const auto hide = [&](std::size_t begin, std::size_t at, bool whole) {
    // text[begin, at) is a userinfo: keep "user:" and hide the rest (or all of it).
    if (at == begin) return;
    const std::size_t colon = text.substr(begin, at - begin).find(':');
    const std::size_t from = colon != std::string_view::npos ? begin + colon + 1 : begin;
    if (colon == std::string_view::npos && !whole) return;
    // Already "****" (a masked text masked again) is replaced all the same, so that what
    // follows in this token is not taken for another userinfo.
    out.append(text.substr(copied, from - copied));
    out += hidden;
    copied = at;
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t at = text.find('@', i);
    if (at == std::string_view::npos) break;
    // The token holding this '@': back to a space or quote.
    const std::size_t before = text.substr(0, at).find_last_of(ends);
    const std::size_t token = before == std::string_view::npos ? 0 : before + 1;
    const std::size_t scheme = text.substr(token, at - token).find("://");
    if (scheme != std::string_view::npos) {
      const std::size_t begin = token + scheme + 3;
      const std::size_t end =
          std::min(text.find_first_of("/?#", begin), text.find_first_of(ends, begin));
      const std::size_t last_at = text.substr(0, end).rfind('@');
      if (last_at != std::string_view::npos && last_at >= begin && begin >= copied) {
        if (text.substr(begin, at - begin).find('/') == std::string_view::npos) {
          hide(begin, last_at, true);
          // Always past this '@': the authority may end before it ("a://@?@").
          i = std::max(last_at, at) + 1;
          continue;
        }
      }
    } else {
      const std::size_t slash = text.substr(token, at - token).find_last_of('/');
      const std::size_t begin = slash == std::string_view::npos ? token : token + slash + 1;
      // A userinfo ends at the last '@' before the host ends (RFC 3986 3.2.1: it holds
      // no '@' of its own), so "u:p@x@y" and its masked form mask alike.
      const std::size_t end = std::min(text.find_first_of("/?#", at), text.find_first_of(ends, at));
      const std::size_t last_at = text.substr(0, end).rfind('@');
      if (begin >= copied) hide(begin, last_at, false);
      i = last_at + 1;
      continue;
    }
    i = at + 1;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace sluice
