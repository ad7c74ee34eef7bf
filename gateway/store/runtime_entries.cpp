#include "store/runtime_entries.hpp"

#include <charconv>

namespace sluice::app {
namespace {

// KEYS[1] a hash; ARGV field, value pairs: deletes each field that still holds that value.
constexpr const char* delete_if_unchanged = R"(local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n)";

}  // namespace

std::string access_field(identity::access_kind list, identity::subject_kind subject,
                         std::string_view value) {
  std::string out(identity::to_string(list));
  out += '|';
  out += identity::to_string(subject);
  out += '|';
  out += value;
  return out;
}

std::optional<identity::override_entry> parse_access_field(std::string_view field,
                                                           limit::micros expires_at) {
  const auto first = field.find('|');
  const auto second = first == std::string_view::npos ? first : field.find('|', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  const auto list = field.substr(0, first);
  const auto subject = field.substr(first + 1, second - first - 1);
  identity::override_entry e;
  if (list == "allow") {
    e.list = identity::access_kind::allow;
  } else if (list == "deny") {
    e.list = identity::access_kind::deny;
  } else {
    return std::nullopt;
  }
  if (subject == "ip") {
    e.subject = identity::subject_kind::ip;
  } else if (subject == "api_key") {
    e.subject = identity::subject_kind::api_key;
  } else if (subject == "user") {
    e.subject = identity::subject_kind::user;
  } else {
    return std::nullopt;
  }
  e.value = std::string(field.substr(second + 1));
  e.expires_at = expires_at;
  return e;
}

runtime_entries::runtime_entries(identity::memory_overrides& cache, redis::router* router,
                                 std::string key_prefix)
    : cache_(cache), router_(router) {
  set_key_prefix(std::move(key_prefix));
}

void runtime_entries::set_key_prefix(std::string key_prefix) {
  key_prefix_.store(std::make_shared<const std::string>(std::move(key_prefix)));
}

std::string runtime_entries::access_hash() const {
  return *key_prefix_.load() + "overrides:access";
}
std::string runtime_entries::tiers_hash() const {
  return *key_prefix_.load() + "overrides:tiers";
}
std::string runtime_entries::tenants_hash() const {
  return *key_prefix_.load() + "overrides:tenants";
}

net::awaitable<bool> runtime_entries::run(std::vector<std::string> args) {
  // Every command here names one key, args[1] (a hash); EVAL names it as args[3].
  const std::string_view key = args[0] == "EVAL" ? args[3] : args[1];
  const std::uint16_t slot = redis::key_slot(key);
  auto [ec, reply] = co_await router_->command(slot, std::move(args));
  co_return !ec && reply.type != redis::reply::kind::error;
}

net::awaitable<bool> runtime_entries::put_access(identity::override_entry entry) {
  return write(access_hash(), access_field(entry.list, entry.subject, entry.value),
               std::to_string(entry.expires_at), [this, entry] { cache_.put_access(entry); });
}

net::awaitable<bool> runtime_entries::remove_access(identity::access_kind list,
                                                    identity::subject_kind subject,
                                                    std::string value) {
  return write(access_hash(), access_field(list, subject, value), std::nullopt,
               [this, list, subject, value] { cache_.remove_access(list, subject, value); });
}

net::awaitable<bool> runtime_entries::write(std::string hash, std::string field,
                                            std::optional<std::string> value,
                                            std::function<void()> to_cache) {
  writes_.fetch_add(1, std::memory_order_acq_rel);
  if (router_ != nullptr) {
    std::vector<std::string> args;
    args.emplace_back(value ? "HSET" : "HDEL");
    args.push_back(std::move(hash));
    args.push_back(std::move(field));
    if (value) args.push_back(std::move(*value));
    if (!co_await run(std::move(args))) co_return false;
  }
  to_cache();
  writes_.fetch_add(1, std::memory_order_acq_rel);
  co_return true;
}

net::awaitable<bool> runtime_entries::put_tier(std::string api_key, std::string tier) {
  return write(tiers_hash(), api_key, tier,
               [this, api_key, tier] { cache_.put_tier(api_key, tier); });
}

net::awaitable<bool> runtime_entries::remove_tier(std::string api_key) {
  return write(tiers_hash(), api_key, std::nullopt,
               [this, api_key] { cache_.remove_tier(api_key); });
}

net::awaitable<bool> runtime_entries::put_tenant_number(std::string limit, std::string key,
                                                        std::int64_t n) {
  return write(tenants_hash(), identity::tenant_field(limit, key), std::to_string(n),
               [this, limit, key, n] { cache_.put_tenant_number(limit, key, n); });
}

net::awaitable<bool> runtime_entries::remove_tenant_number(std::string limit, std::string key) {
  return write(tenants_hash(), identity::tenant_field(limit, key), std::nullopt,
               [this, limit, key] { cache_.remove_tenant_number(limit, key); });
}

net::awaitable<void> runtime_entries::refresh(limit::micros now) {
  const std::string access_key = access_hash();
  const std::string tiers_key = tiers_hash();
  const std::string tenants_key = tenants_hash();
  if (router_ == nullptr || !router_->connected(redis::key_slot(access_key)) ||
      !router_->connected(redis::key_slot(tiers_key)) ||
      !router_->connected(redis::key_slot(tenants_key))) {
    cache_.drop_expired(now);
    co_return;
  }
  const std::uint64_t writes = writes_.load(std::memory_order_acquire);
  std::vector<std::string> get_access;
  get_access.emplace_back("HGETALL");
  get_access.push_back(access_key);
  auto [aec, access] =
      co_await router_->command(redis::key_slot(access_key), std::move(get_access));
  std::vector<std::string> get_tiers;
  get_tiers.emplace_back("HGETALL");
  get_tiers.push_back(tiers_key);
  auto [tec, tiers] = co_await router_->command(redis::key_slot(tiers_key), std::move(get_tiers));
  std::vector<std::string> get_tenants;
  get_tenants.emplace_back("HGETALL");
  get_tenants.push_back(tenants_key);
  auto [nec, tenants] =
      co_await router_->command(redis::key_slot(tenants_key), std::move(get_tenants));
  // Keep the last good copy when Redis cannot be read: entries do not vanish.
  if (aec || tec || nec || access.type != redis::reply::kind::array ||
      tiers.type != redis::reply::kind::array || tenants.type != redis::reply::kind::array) {
    co_return;
  }
  std::vector<identity::override_entry> entries;
  std::vector<std::pair<std::string, std::string>> expired;  // field, value
  for (std::size_t i = 0; i + 1 < access.elements.size(); i += 2) {
    const std::string& field = access.elements[i].text;
    const std::string& value = access.elements[i + 1].text;
    limit::micros expires_at = 0;
    std::from_chars(value.data(), value.data() + value.size(), expires_at);
    if (expires_at != 0 && expires_at <= now) {
      expired.emplace_back(field, value);
      continue;
    }
    if (auto e = parse_access_field(field, expires_at)) entries.push_back(std::move(*e));
  }
  std::map<std::string, std::string, std::less<>> tier_map;
  for (std::size_t i = 0; i + 1 < tiers.elements.size(); i += 2) {
    tier_map[tiers.elements[i].text] = tiers.elements[i + 1].text;
  }
  identity::tenant_numbers numbers;
  for (std::size_t i = 0; i + 1 < tenants.elements.size(); i += 2) {
    const std::string& value = tenants.elements[i + 1].text;
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc{} && end == value.data() + value.size() && n >= 1) {
      numbers[tenants.elements[i].text] = n;
    }
  }
  // A write made here meanwhile may be missing from what was read: keep the cache.
  if (writes_.load(std::memory_order_acquire) != writes) co_return;
  cache_.replace_all(entries, tier_map, numbers);
  if (!expired.empty()) {
    // Only fields still holding the expired value read above: an entry put again
    // since (here or on another gateway) stays.
    std::vector<std::string> del;
    del.emplace_back("EVAL");
    del.emplace_back(delete_if_unchanged);
    del.emplace_back("1");
    del.push_back(access_hash());
    for (auto& [field, value] : expired) {
      del.push_back(std::move(field));
      del.push_back(std::move(value));
    }
    co_await run(std::move(del));
  }
}

}  // namespace sluice::app
