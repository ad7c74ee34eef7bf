// The effective configuration as JSON for GET /admin/config: every server setting
// after defaults and ${VAR} substitution, and the merged policies. Secrets are
// masked (admin.token, the Redis password, API keys). Pure.
#pragma once

#include <string>

#include "config/schema.hpp"

namespace sluice::admin {

std::string config_json(const config::loaded_config& cfg);

}  // namespace sluice::admin
