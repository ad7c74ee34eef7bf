#include "identity/overrides.hpp"

#include <mutex>

namespace sluice::identity {

std::string_view to_string(access_kind k) {
  return k == access_kind::allow ? "allow" : "deny";
}

std::string_view to_string(subject_kind k) {
  switch (k) {
    case subject_kind::ip:
      return "ip";
    case subject_kind::api_key:
      return "api_key";
    case subject_kind::user:
      return "user";
  }
  return "unknown";
}

void write_tenant_field(std::string& out, std::string_view limit, std::string_view key) {
  out.assign(limit).append("|").append(key);
}

std::string tenant_field(std::string_view limit, std::string_view key) {
  std::string field;
  write_tenant_field(field, limit, key);
  return field;
}

std::optional<std::int64_t> memory_overrides::tenant_number(std::string_view limit,
                                                            std::string_view key) const {
  if (empty()) return std::nullopt;
  // On the request path: the field is built in a per-thread buffer, no allocation.
  thread_local std::string field;
  write_tenant_field(field, limit, key);
  std::shared_lock lock(mutex_);
  auto it = tenant_numbers_.find(field);
  if (it == tenant_numbers_.end()) return std::nullopt;
  return it->second;
}

void memory_overrides::put_tenant_number(std::string_view limit, std::string_view key,
                                         std::int64_t n) {
  std::unique_lock lock(mutex_);
  tenant_numbers_[tenant_field(limit, key)] = n;
  update_count();
}

bool memory_overrides::remove_tenant_number(std::string_view limit, std::string_view key) {
  std::unique_lock lock(mutex_);
  const bool erased = tenant_numbers_.erase(tenant_field(limit, key)) > 0;
  update_count();
  return erased;
}

tenant_numbers memory_overrides::list_tenant_numbers() const {
  std::shared_lock lock(mutex_);
  return tenant_numbers_;
}

bool memory_overrides::contains(access_kind list, subject_kind subject, std::string_view value,
                                limit::micros now) const {
  if (empty()) return false;
  std::shared_lock lock(mutex_);
  auto it = access_.find(access_key{list, subject, std::string(value)});
  return it != access_.end() && (it->second == 0 || it->second > now);
}

std::optional<std::string> memory_overrides::tier_of(std::string_view api_key,
                                                     limit::micros /*now*/) const {
  if (empty()) return std::nullopt;
  std::shared_lock lock(mutex_);
  auto it = tiers_.find(api_key);
  if (it == tiers_.end()) return std::nullopt;
  return it->second;
}

void memory_overrides::put_access(const override_entry& entry) {
  std::unique_lock lock(mutex_);
  access_[access_key{entry.list, entry.subject, entry.value}] = entry.expires_at;
  update_count();
}

bool memory_overrides::remove_access(access_kind list, subject_kind subject,
                                     std::string_view value) {
  std::unique_lock lock(mutex_);
  bool erased = access_.erase(access_key{list, subject, std::string(value)}) > 0;
  update_count();
  return erased;
}

void memory_overrides::put_tier(std::string_view api_key, std::string_view tier) {
  std::unique_lock lock(mutex_);
  tiers_[std::string(api_key)] = std::string(tier);
  update_count();
}

bool memory_overrides::remove_tier(std::string_view api_key) {
  std::unique_lock lock(mutex_);
  auto it = tiers_.find(api_key);
  if (it == tiers_.end()) return false;
  tiers_.erase(it);
  update_count();
  return true;
}

std::vector<override_entry> memory_overrides::list_access(limit::micros now) const {
  std::shared_lock lock(mutex_);
  std::vector<override_entry> out;
  for (const auto& [key, expires_at] : access_) {
    if (expires_at != 0 && expires_at <= now) continue;
    out.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), expires_at});
  }
  return out;
}

void memory_overrides::replace_all(const std::vector<override_entry>& access,
                                   const std::map<std::string, std::string, std::less<>>& tiers,
                                   const tenant_numbers& numbers) {
  std::unique_lock lock(mutex_);
  access_.clear();
  for (const auto& e : access) access_[access_key{e.list, e.subject, e.value}] = e.expires_at;
  tiers_ = tiers;
  tenant_numbers_ = numbers;
  update_count();
}

void memory_overrides::drop_expired(limit::micros now) {
  std::unique_lock lock(mutex_);
  std::erase_if(access_,
                [now](const auto& entry) { return entry.second != 0 && entry.second <= now; });
  update_count();
}

std::map<std::string, std::string, std::less<>> memory_overrides::list_tiers() const {
  std::shared_lock lock(mutex_);
  return tiers_;
}

// Called with the write lock held. Expired entries stay until drop_expired() (the
// once-a-second refresh): readers and list_access() ignore them meanwhile.
void memory_overrides::update_count() {
  count_.store(access_.size() + tiers_.size() + tenant_numbers_.size(), std::memory_order_release);
}

}  // namespace sluice::identity
