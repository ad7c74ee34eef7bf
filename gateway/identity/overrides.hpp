// Runtime access entries and tier assignments made through the admin API (SPEC 9):
// allow/deny by ip, api_key or user with an optional expiry, per-API-key tiers, and
// per-tenant numbers of limits with `tenant_rate:` (issue 14).
// They outlive reloads (they are not part of the YAML). The memory implementation
// lives here; the Redis backend shares them between gateways.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/limit_params.hpp"

namespace sluice::identity {

enum class access_kind { allow, deny };
enum class subject_kind { ip, api_key, user };

std::string_view to_string(access_kind k);
std::string_view to_string(subject_kind k);

// A tenant number's entry name: "<limit>|<key text>" (a limit name holds no '|').
std::string tenant_field(std::string_view limit, std::string_view key);
// The same written over `out` (a buffer reused on the request path).
void write_tenant_field(std::string& out, std::string_view limit, std::string_view key);
using tenant_numbers = std::map<std::string, std::int64_t, std::less<>>;

struct override_entry {
  access_kind list;
  subject_kind subject;
  std::string value;
  limit::micros expires_at = 0;  // 0 = never
};

// Looked up on every request; implementations must be thread-safe and cheap when
// empty (the common case).
class overrides {
 public:
  virtual ~overrides() = default;

  // Whether `value` (an IP in canonical text, an API key or a user) is on `list`.
  virtual bool contains(access_kind list, subject_kind subject, std::string_view value,
                        limit::micros now) const = 0;
  // The tier assigned to an API key at runtime, if any.
  virtual std::optional<std::string> tier_of(std::string_view api_key, limit::micros now) const = 0;
  // The N set at runtime for `key` (its key text) under the limit named `limit`, if any.
  virtual std::optional<std::int64_t> tenant_number(std::string_view limit,
                                                    std::string_view key) const = 0;
  // True when no entry of any kind exists (lets the hot path skip lookups).
  virtual bool empty() const = 0;

  virtual void put_access(const override_entry& entry) = 0;
  virtual bool remove_access(access_kind list, subject_kind subject, std::string_view value) = 0;
  virtual void put_tier(std::string_view api_key, std::string_view tier) = 0;
  virtual bool remove_tier(std::string_view api_key) = 0;
  virtual void put_tenant_number(std::string_view limit, std::string_view key, std::int64_t n) = 0;
  virtual bool remove_tenant_number(std::string_view limit, std::string_view key) = 0;
  virtual std::vector<override_entry> list_access(limit::micros now) const = 0;
};

// In-process entries. Owned by the gateway; thread-safe (a reader/writer lock,
// skipped entirely while there are no entries).
class memory_overrides final : public overrides {
 public:
  bool contains(access_kind list, subject_kind subject, std::string_view value,
                limit::micros now) const override;
  std::optional<std::string> tier_of(std::string_view api_key, limit::micros now) const override;
  std::optional<std::int64_t> tenant_number(std::string_view limit,
                                            std::string_view key) const override;
  bool empty() const override { return count_.load(std::memory_order_acquire) == 0; }

  void put_access(const override_entry& entry) override;
  bool remove_access(access_kind list, subject_kind subject, std::string_view value) override;
  void put_tier(std::string_view api_key, std::string_view tier) override;
  bool remove_tier(std::string_view api_key) override;
  void put_tenant_number(std::string_view limit, std::string_view key, std::int64_t n) override;
  bool remove_tenant_number(std::string_view limit, std::string_view key) override;
  std::vector<override_entry> list_access(limit::micros now) const override;

  // Replaces every entry at once (the cache of entries shared through Redis).
  void replace_all(const std::vector<override_entry>& access,
                   const std::map<std::string, std::string, std::less<>>& tiers,
                   const tenant_numbers& numbers);
  std::map<std::string, std::string, std::less<>> list_tiers() const;
  tenant_numbers list_tenant_numbers() const;  // by tenant_field()
  // Forgets access entries whose TTL has passed, so that empty() can become true again
  // and requests go back to skipping the lookup.
  void drop_expired(limit::micros now);

 private:
  using access_key = std::tuple<access_kind, subject_kind, std::string>;
  void update_count();

  mutable std::shared_mutex mutex_;
  std::map<access_key, limit::micros, std::less<>> access_;  // -> expires_at (0 = never)
  std::map<std::string, std::string, std::less<>> tiers_;
  tenant_numbers tenant_numbers_;
  std::atomic<std::size_t> count_{0};
};

}  // namespace sluice::identity
