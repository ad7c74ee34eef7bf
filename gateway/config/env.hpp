// ${VAR} and ${VAR:-default} substitution in config scalar values (SPEC 2).
// Pure functions of the text and the injected lookup; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/loader.hpp"

namespace sluice::config {

struct substitution_result {
  std::optional<std::string> value;  // the substituted text
  std::string error;                 // set when value is empty
};

// Replaces every ${NAME} (NAME: letters, digits, '_', not starting with a digit)
// and ${NAME:-default} in `text`. As in the shell, `:-` also applies to a set but
// empty NAME; an unset NAME without a default is an error.
substitution_result substitute_env(std::string_view text, const env_lookup& env);

}  // namespace sluice::config
