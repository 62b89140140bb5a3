#include "router/route_table.h"

#include <mutex>

#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"

namespace tandem::router {

RouteTable::RouteTable() {
  absl::MutexLock lock(&actors_mu_);
  actors_.push_back("");
  actor_ids_[""] = 0;
}

std::string RouteTable::EncodeKey(KeyKind kind, absl::string_view value) {
  std::string encoded;
  encoded.reserve(value.size() + 1);
  encoded.push_back(static_cast<char>(kind));
  encoded.append(value.data(), value.size());
  return encoded;
}

size_t RouteTable::RouteShardOf(int64_t customer_id) {
  // Customer ids are often dense; mix them so shards fill evenly.
  uint64_t x = static_cast<uint64_t>(customer_id) * 0x9E3779B97F4A7C15ull;
  return (x >> 58) % kShards;
}

size_t RouteTable::KeyShardOf(absl::string_view encoded) {
  return absl::Hash<absl::string_view>{}(encoded) % kShards;
}

uint32_t RouteTable::InternActor(absl::string_view actor) {
  absl::MutexLock lock(&actors_mu_);
  auto [it, inserted] =
      actor_ids_.try_emplace(std::string(actor), actors_.size());
  if (inserted) {
    actors_.emplace_back(actor);
  }
  return it->second;
}

Route RouteTable::ToRoute(int64_t customer_id, const Entry& entry) const {
  Route route;
  route.set_customer_id(customer_id);
  route.set_system(static_cast<System>(entry.system));
  route.set_state(static_cast<RouteState>(entry.state));
  route.set_version(entry.version);
  route.set_updated_at_unix_ms(entry.updated_at_unix_ms);
  if (entry.actor != 0) {
    absl::MutexLock lock(&actors_mu_);
    route.set_updated_by(actors_[entry.actor]);
  }
  return route;
}

std::optional<Route> RouteTable::FindCustomer(int64_t customer_id) const {
  const RouteShard& shard = route_shards_[RouteShardOf(customer_id)];
  std::shared_lock lock(shard.mu);
  auto it = shard.routes.find(customer_id);
  if (it == shard.routes.end()) {
    return std::nullopt;
  }
  Entry entry = it->second;
  lock.unlock();
  return ToRoute(customer_id, entry);
}

std::optional<int64_t> RouteTable::ResolveKey(KeyKind kind,
                                              absl::string_view value) const {
  if (kind == ::tandem::router::v1::KEY_KIND_CUSTOMER_ID) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(value, &id) || id <= 0) {
      return std::nullopt;
    }
    const RouteShard& shard = route_shards_[RouteShardOf(id)];
    std::shared_lock lock(shard.mu);
    if (!shard.routes.contains(id)) {
      return std::nullopt;
    }
    return id;
  }
  std::string encoded = EncodeKey(kind, value);
  const KeyShard& shard = key_shards_[KeyShardOf(encoded)];
  std::shared_lock lock(shard.mu);
  auto it = shard.keys.find(encoded);
  if (it == shard.keys.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<Route> RouteTable::Lookup(KeyKind kind,
                                        absl::string_view value) const {
  std::optional<int64_t> customer = ResolveKey(kind, value);
  if (!customer.has_value()) {
    return std::nullopt;
  }
  return FindCustomer(*customer);
}

RouteCounts RouteTable::Counts() const {
  using ::tandem::common::v1::SYSTEM_SOURCE;
  using ::tandem::common::v1::SYSTEM_TARGET;
  using ::tandem::router::v1::ROUTE_STATE_MIGRATING;
  using ::tandem::router::v1::ROUTE_STATE_STABLE;
  RouteCounts counts;
  counts.source_stable = counts_[SYSTEM_SOURCE][ROUTE_STATE_STABLE].load();
  counts.source_migrating =
      counts_[SYSTEM_SOURCE][ROUTE_STATE_MIGRATING].load();
  counts.target_stable = counts_[SYSTEM_TARGET][ROUTE_STATE_STABLE].load();
  counts.target_migrating =
      counts_[SYSTEM_TARGET][ROUTE_STATE_MIGRATING].load();
  counts.keys = key_count_.load();
  return counts;
}

void RouteTable::CountRoute(uint8_t system, uint8_t state, int delta) {
  if (system < 3 && state < 3) {
    counts_[system][state].fetch_add(delta);
  }
}

void RouteTable::PutRoute(const Route& route, bool only_if_newer) {
  Entry entry{route.version(), route.updated_at_unix_ms(),
              InternActor(route.updated_by()),
              static_cast<uint8_t>(route.system()),
              static_cast<uint8_t>(route.state())};
  RouteShard& shard = route_shards_[RouteShardOf(route.customer_id())];
  std::unique_lock lock(shard.mu);
  auto [it, inserted] = shard.routes.try_emplace(route.customer_id(), entry);
  if (inserted) {
    lock.unlock();
    CountRoute(entry.system, entry.state, +1);
    return;
  }
  if (only_if_newer && it->second.version >= entry.version) {
    return;
  }
  Entry old = it->second;
  it->second = entry;
  lock.unlock();
  CountRoute(old.system, old.state, -1);
  CountRoute(entry.system, entry.state, +1);
}

void RouteTable::PutKey(const Key& key, int64_t customer_id) {
  std::string encoded = EncodeKey(key.kind(), key.value());
  KeyShard& shard = key_shards_[KeyShardOf(encoded)];
  std::unique_lock lock(shard.mu);
  auto [it, inserted] =
      shard.keys.insert_or_assign(std::move(encoded), customer_id);
  if (inserted) {
    key_count_.fetch_add(1);
  }
}

void RouteTable::RemoveKey(const Key& key, int64_t customer_id) {
  std::string encoded = EncodeKey(key.kind(), key.value());
  KeyShard& shard = key_shards_[KeyShardOf(encoded)];
  std::unique_lock lock(shard.mu);
  auto it = shard.keys.find(encoded);
  if (it != shard.keys.end() && it->second == customer_id) {
    shard.keys.erase(it);
    key_count_.fetch_sub(1);
  }
}

void RouteTable::Apply(const RouteChange& change) {
  if (change.has_route_update()) {
    const RouteUpdate& update = change.route_update();
    int64_t customer = update.route().customer_id();
    if (update.route().version() > 0) {
      PutRoute(update.route(), /*only_if_newer=*/true);
    }
    for (const Key& key : update.keys_added()) {
      PutKey(key, customer);
    }
    for (const Key& key : update.keys_removed()) {
      RemoveKey(key, customer);
    }
  } else if (change.change_case() == RouteChange::kDefaultSystem) {
    default_system_.store(change.default_system());
  }
  if (change.revision() > revision()) {
    revision_.store(change.revision(), std::memory_order_release);
  }
}

void RouteTable::ApplySnapshotItem(const RouteUpdate& update) {
  if (update.route().version() > 0) {
    PutRoute(update.route(), /*only_if_newer=*/false);
  }
  for (const Key& key : update.keys_added()) {
    PutKey(key, update.route().customer_id());
  }
}

void RouteTable::Clear() {
  for (RouteShard& shard : route_shards_) {
    std::unique_lock lock(shard.mu);
    shard.routes = {};
  }
  for (KeyShard& shard : key_shards_) {
    std::unique_lock lock(shard.mu);
    shard.keys = {};
  }
  for (auto& row : counts_) {
    for (auto& count : row) {
      count.store(0);
    }
  }
  key_count_.store(0);
  revision_.store(0);
}

void RouteTable::SetRevision(int64_t revision) {
  revision_.store(revision, std::memory_order_release);
}

void RouteTable::SnapshotShard(int shard_index,
                               std::vector<RouteUpdate>* out) const {
  std::vector<std::pair<int64_t, Entry>> routes;
  {
    const RouteShard& shard = route_shards_[shard_index];
    std::shared_lock lock(shard.mu);
    routes.assign(shard.routes.begin(), shard.routes.end());
  }
  for (const auto& [customer, entry] : routes) {
    RouteUpdate& item = out->emplace_back();
    *item.mutable_route() = ToRoute(customer, entry);
  }
  const KeyShard& shard = key_shards_[shard_index];
  std::shared_lock lock(shard.mu);
  absl::flat_hash_map<int64_t, RouteUpdate*> by_customer;
  size_t first = out->size();
  for (const auto& [encoded, customer] : shard.keys) {
    auto [it, inserted] = by_customer.try_emplace(customer, nullptr);
    if (inserted) {
      RouteUpdate& item = out->emplace_back();
      item.mutable_route()->set_customer_id(customer);
      it->second = nullptr;
    }
  }
  // Pointers are taken after the vector stopped growing.
  for (size_t i = first; i < out->size(); ++i) {
    by_customer[(*out)[i].route().customer_id()] = &(*out)[i];
  }
  for (const auto& [encoded, customer] : shard.keys) {
    Key* key = by_customer[customer]->add_keys_added();
    key->set_kind(static_cast<KeyKind>(encoded[0]));
    key->set_value(encoded.substr(1));
  }
}

}  // namespace tandem::router
