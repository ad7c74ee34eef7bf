// load_config: reads config.yaml, then the policy files it names, in two passes
// (structure, then meaning), and returns every error found, sorted by position.
#include "config/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "config/defaults.hpp"
#include "config/loader_internal.hpp"
#include "config/rls_loader.hpp"
#include "util/jwt.hpp"

namespace sluice::config {

namespace {

namespace fs = std::filesystem;

struct file_text {
  std::optional<std::string> text;
  std::string error;
};

// Reads a regular file of at most max_config_file_bytes. Checked before opening: a FIFO
// (or device) named *.yaml would block the reload on open or never end.
file_text read_file(const std::string& path) {
  file_text result;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!ec && fs::exists(status) && !fs::is_regular_file(status)) {
    result.error = "cannot read file: not a regular file";
    return result;
  }
  const auto size = fs::file_size(path, ec);
  if (!ec && size > defaults::max_config_file_bytes) {
    result.error = "cannot read file: " + std::to_string(size) + " bytes, more than the " +
                   std::to_string(defaults::max_config_file_bytes / (1024 * 1024)) +
                   " MiB a config or policy file may hold";
    return result;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    result.error = std::string("cannot read file: ") + std::strerror(errno);
    return result;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    result.error = std::string("cannot read file: ") + std::strerror(errno);
    return result;
  }
  result.text = std::move(buffer).str();
  return result;
}

// The policy files named by `policies` (a directory: its *.yaml files in name
// order, hidden files skipped; or one file), or nullopt after reporting why not.
std::optional<std::vector<std::string>> policy_files(const fs::path& resolved,
                                                     const source_location& at,
                                                     std::vector<config_error>& errors) {
  std::error_code ec;
  const auto status = fs::status(resolved, ec);
  const std::string shown = resolved.string();
  if (fs::is_regular_file(status)) return std::vector<std::string>{shown};
  if (!fs::is_directory(status)) {
    // Without a position the path is the default, which the user may not know about.
    errors.push_back(
        {at, "policies",
         "no such file or directory: '" + shown + "'" +
             (at.line == 0 ? " (the default; set 'policies' to your policy files)" : "")});
    return std::nullopt;
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(resolved, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".yaml" && !name.starts_with(".") && !entry.is_directory()) {
      names.push_back(name);
    }
  }
  if (ec) {
    errors.push_back({at, "policies", "cannot list '" + shown + "': " + ec.message()});
    return std::nullopt;
  }
  if (names.empty()) {
    errors.push_back({at, "policies", "no *.yaml files in policy directory '" + shown + "'"});
    return std::nullopt;
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> files;
  for (const auto& name : names) files.push_back((resolved / name).lexically_normal().string());
  return files;
}

}  // namespace

namespace detail {

yaml_node_ptr parse_file(const std::string& path, const env_lookup& env,
                         std::vector<config_error>& errors) {
  auto file = read_file(path);
  if (!file.text) {
    errors.push_back({{path, 0, 0}, "", file.error});
    return nullptr;
  }
  auto parsed = parse_yaml(*file.text, path, env);
  errors.insert(errors.end(), parsed.errors.begin(), parsed.errors.end());
  return parsed.root;
}

}  // namespace detail

load_result load_config(const std::string& config_path, const env_lookup& env,
                        const file_check& check_files) {
  load_result result;
  auto& errors = result.errors;
  server_config server = detail::default_server_config();
  server.file = config_path;
  detail::server_positions positions;

  yaml_node_ptr root = detail::parse_file(config_path, env, errors);
  if (root) {
    detail::error_sink sink(config_path, errors);
    detail::read_server_config(*root, sink, server, positions);
  }

  // identity.jwt's key set (util/jwt.hpp), read with the config: a reload whose JWKS
  // cannot be read or parsed keeps the running config, as for any config error.
  if (root && server.identity.jwt) {
    auto& jwt = *server.identity.jwt;
    auto file = read_file(jwt.jwks_file);
    std::string error = file.error;
    if (file.text) jwt.keys = jwt_keys::parse(*file.text, error);
    if (!jwt.keys) {
      errors.push_back(
          {positions.jwks_file, "identity.jwt.jwks_file", "'" + jwt.jwks_file + "': " + error});
    }
  }
  if (root && !server.identity.jwt) {
    for (const auto& [at, field] : {std::pair{positions.user_claim, "identity.user.claim"},
                                    std::pair{positions.tier_claim, "identity.tier.claim"}}) {
      if (at)
        errors.push_back({*at, field, "a claim needs identity.jwt (the token to read it from)"});
    }
  }

  detail::policy_state policies;
  bool policies_read = false;
  if (root && positions.policies_ok) {
    const fs::path configured(server.policies);
    const fs::path resolved =
        (configured.is_absolute() ? configured : fs::path(config_path).parent_path() / configured)
            .lexically_normal();
    server.policies = resolved.string();
    if (auto files = policy_files(resolved, positions.policies, errors)) {
      policies_read = true;
      for (const auto& file : *files) {
        yaml_node_ptr policy_root = detail::parse_file(file, env, errors);
        detail::error_sink sink(file, errors);
        if (policy_root) {
          detail::read_policy_file(*policy_root, sink, policies);
        } else {
          policies.policy.files.push_back(file);
          policies_read = false;  // references into an unreadable file would be noise
        }
      }
    }
  }
  // The rate limit service's directory (envoyproxy/ratelimit's format, rls_loader.hpp).
  std::shared_ptr<const rls_config> rls;
  if (root && server.rls) {
    auto loaded = load_rls_config(server.rls->config, env);
    for (auto& e : loaded.errors) {
      // The directory itself: pointed at where config.yaml names it.
      if (e.where.file == server.rls->config && e.where.line == 0) {
        e = {positions.rls_config, "rls.config", "'" + server.rls->config + "': " + e.message};
      }
      errors.push_back(std::move(e));
    }
    if (loaded.config) rls = std::make_shared<const rls_config>(std::move(*loaded.config));
  }
  if (policies_read) {
    detail::check_policies(policies, errors);
    detail::check_server_against_policies(server, positions, policies, errors);
  }

  // In file order (config first, then policies in merge order), then by position.
  std::map<std::string, std::size_t> file_rank{{config_path, 0}};
  for (const auto& file : policies.policy.files) file_rank.emplace(file, file_rank.size());
  const auto rank = [&](const config_error& e) {
    auto it = file_rank.find(e.where.file);
    return it == file_rank.end() ? file_rank.size() : it->second;
  };
  // Ties keep the order they were found in. Not std::stable_sort: libstdc++ 12's
  // temporary buffer allocates with nothrow new and frees with plain delete, which
  // AddressSanitizer reports as an alloc-dealloc mismatch.
  std::vector<std::size_t> order(errors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& ea = errors[a];
    const auto& eb = errors[b];
    return std::tuple(rank(ea), ea.where.line, ea.where.column, a) <
           std::tuple(rank(eb), eb.where.line, eb.where.column, b);
  });
  std::vector<config_error> sorted;
  sorted.reserve(errors.size());
  for (std::size_t i : order) sorted.push_back(std::move(errors[i]));
  errors = std::move(sorted);

  if (!errors.empty()) return result;
  loaded_config config{std::move(server), std::move(policies.policy), std::move(rls)};
  if (check_files) errors = check_files(config);
  if (errors.empty()) result.config = std::move(config);
  return result;
}

}  // namespace sluice::config
