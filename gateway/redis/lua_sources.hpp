// The Lua scripts of the Redis backend, embedded at build time from the *.lua
// files in the source tree (cmake/embed_lua.cmake). Pure; thread-safe.
#pragma once

#include <string_view>

namespace sluice::redis {

// The content of the Lua file named `name` (e.g. "bucket.lua"); empty if unknown.
std::string_view lua_source(std::string_view name);

}  // namespace sluice::redis
