#include "app/runtime_entries.hpp"

#include <charconv>

namespace sluice::app {

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

runtime_entries::runtime_entries(identity::memory_overrides& cache, redis::client* client,
                                 std::string key_prefix)
    : cache_(cache), client_(client) {
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

net::awaitable<bool> runtime_entries::run(std::vector<std::string> args) {
  auto [ec, reply] = co_await client_->command(std::move(args));
  co_return !ec && reply.type != redis::reply::kind::error;
}

net::awaitable<bool> runtime_entries::put_access(identity::override_entry entry) {
  if (client_ != nullptr) {
    std::vector<std::string> args;
    args.emplace_back("HSET");
    args.push_back(access_hash());
    args.push_back(access_field(entry.list, entry.subject, entry.value));
    args.push_back(std::to_string(entry.expires_at));
    if (!co_await run(std::move(args))) co_return false;
  }
  cache_.put_access(entry);
  co_return true;
}

net::awaitable<bool> runtime_entries::remove_access(identity::access_kind list,
                                                    identity::subject_kind subject,
                                                    std::string value) {
  if (client_ != nullptr) {
    std::vector<std::string> args;
    args.emplace_back("HDEL");
    args.push_back(access_hash());
    args.push_back(access_field(list, subject, value));
    if (!co_await run(std::move(args))) co_return false;
  }
  cache_.remove_access(list, subject, value);
  co_return true;
}

net::awaitable<bool> runtime_entries::put_tier(std::string api_key, std::string tier) {
  if (client_ != nullptr) {
    std::vector<std::string> args;
    args.emplace_back("HSET");
    args.push_back(tiers_hash());
    args.push_back(api_key);
    args.push_back(tier);
    if (!co_await run(std::move(args))) co_return false;
  }
  cache_.put_tier(api_key, tier);
  co_return true;
}

net::awaitable<bool> runtime_entries::remove_tier(std::string api_key) {
  if (client_ != nullptr) {
    std::vector<std::string> args;
    args.emplace_back("HDEL");
    args.push_back(tiers_hash());
    args.push_back(api_key);
    if (!co_await run(std::move(args))) co_return false;
  }
  cache_.remove_tier(api_key);
  co_return true;
}

net::awaitable<void> runtime_entries::refresh(limit::micros now) {
  if (client_ == nullptr || !client_->connected()) co_return;
  std::vector<std::string> get_access;
  get_access.emplace_back("HGETALL");
  get_access.push_back(access_hash());
  auto [aec, access] = co_await client_->command(std::move(get_access));
  std::vector<std::string> get_tiers;
  get_tiers.emplace_back("HGETALL");
  get_tiers.push_back(tiers_hash());
  auto [tec, tiers] = co_await client_->command(std::move(get_tiers));
  // Keep the last good copy when Redis cannot be read: entries do not vanish.
  if (aec || tec || access.type != redis::reply::kind::array ||
      tiers.type != redis::reply::kind::array) {
    co_return;
  }
  std::vector<identity::override_entry> entries;
  std::vector<std::string> expired;
  for (std::size_t i = 0; i + 1 < access.elements.size(); i += 2) {
    const std::string& field = access.elements[i].text;
    const std::string& value = access.elements[i + 1].text;
    limit::micros expires_at = 0;
    std::from_chars(value.data(), value.data() + value.size(), expires_at);
    if (expires_at != 0 && expires_at <= now) {
      expired.push_back(field);
      continue;
    }
    if (auto e = parse_access_field(field, expires_at)) entries.push_back(std::move(*e));
  }
  std::map<std::string, std::string, std::less<>> tier_map;
  for (std::size_t i = 0; i + 1 < tiers.elements.size(); i += 2) {
    tier_map[tiers.elements[i].text] = tiers.elements[i + 1].text;
  }
  cache_.replace_all(entries, tier_map);
  if (!expired.empty()) {
    std::vector<std::string> del;
    del.emplace_back("HDEL");
    del.push_back(access_hash());
    del.insert(del.end(), expired.begin(), expired.end());
    co_await run(std::move(del));
  }
}

}  // namespace sluice::app
