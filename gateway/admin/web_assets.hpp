// Web pages of the admin listener (the dashboard), embedded at build time from
// gateway/admin/*.html (cmake/embed_files.cmake). Pure; thread-safe.
#pragma once

#include <string_view>

namespace sluice::admin {

// The content of the file named `name` (e.g. "dashboard.html"); empty if unknown.
std::string_view web_asset(std::string_view name);

}  // namespace sluice::admin
