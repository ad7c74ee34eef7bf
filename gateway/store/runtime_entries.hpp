// Where the admin API's runtime entries go (SPEC 9): allow/deny entries with an
// optional TTL and tier assignments per API key. The request path always reads the
// in-process cache (identity::memory_overrides: no round trip per request). With
// the Redis backend the entries also live in two Redis hashes so that every gateway
// sees them: writes go to Redis first, and refresh() (the control thread, every
// second) pulls the whole set into the cache, so entries made on another gateway
// apply here within about a second.
//
//   <key_prefix>overrides:access  field "<allow|deny>|<ip|api_key|user>|<value>",
//                                 value expires_at in Unix microseconds (0 = never)
//   <key_prefix>overrides:tiers   field <api_key>, value <tier>
//   <key_prefix>overrides:tenants field "<limit>|<key text>", value N (tenant_rate:)
//
// In every mode the same three keys; on a Redis Cluster each hash lives in its own slot
// (key_slot of its name), so both are read and written through that slot's master.
//
// Owned by the gateway; thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "identity/overrides.hpp"
#include "net/asio.hpp"
#include "redis/router.hpp"

namespace sluice::app {

class runtime_entries {
 public:
  // `router` null: entries live in this process only.
  runtime_entries(identity::memory_overrides& cache, redis::router* router, std::string key_prefix);

  void set_key_prefix(std::string key_prefix);
  bool shared() const { return router_ != nullptr; }

  // Each returns false when the shared storage could not be written (nothing changed).
  net::awaitable<bool> put_access(identity::override_entry entry);
  net::awaitable<bool> remove_access(identity::access_kind list, identity::subject_kind subject,
                                     std::string value);
  net::awaitable<bool> put_tier(std::string api_key, std::string tier);
  net::awaitable<bool> remove_tier(std::string api_key);
  // The N of a limit with `tenant_rate:` for one key text (issue 14).
  net::awaitable<bool> put_tenant_number(std::string limit, std::string key, std::int64_t n);
  net::awaitable<bool> remove_tenant_number(std::string limit, std::string key);
  identity::tenant_numbers list_tenant_numbers() const { return cache_.list_tenant_numbers(); }

  std::vector<identity::override_entry> list_access(limit::micros now) const {
    return cache_.list_access(now);
  }
  std::map<std::string, std::string, std::less<>> list_tiers() const { return cache_.list_tiers(); }

  // Pulls every entry from Redis into the cache and drops expired ones from Redis;
  // without Redis (or while it is unreachable) drops expired ones from the cache.
  net::awaitable<void> refresh(limit::micros now);

 private:
  std::string access_hash() const;
  std::string tiers_hash() const;
  std::string tenants_hash() const;
  // Sets (value) or removes (nullopt) `field` of `hash` in Redis first, when shared, then
  // applies the change to the cache (`to_cache`); false when Redis could not be written.
  net::awaitable<bool> write(std::string hash, std::string field, std::optional<std::string> value,
                             std::function<void()> to_cache);
  // Sends a command whose key is args[1] (to that key's slot).
  net::awaitable<bool> run(std::vector<std::string> args);

  identity::memory_overrides& cache_;
  redis::router* router_;
  std::atomic<std::shared_ptr<const std::string>> key_prefix_;
  // Bumped before and after every write: a pull that overlapped one may have read
  // the hashes before it and must not replace the cache (the next pull will).
  std::atomic<std::uint64_t> writes_{0};
};

// "<list>|<subject>|<value>" and back.
std::string access_field(identity::access_kind list, identity::subject_kind subject,
                         std::string_view value);
std::optional<identity::override_entry> parse_access_field(std::string_view field,
                                                           limit::micros expires_at);

}  // namespace sluice::app
