#include "router/route_table.h"

#include <cstring>

#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "router/login_fold.h"

namespace tandem::router {

absl::string_view RouteTable::EntryBytes(const std::string& arena,
                                         uint32_t offset) {
  uint32_t length;
  std::memcpy(&length, arena.data() + offset + 8, sizeof(length));
  return absl::string_view(arena.data() + offset + kEntryHeader, length);
}

absl::string_view RouteTable::KeyShard::Bytes(uint32_t offset) const {
  return EntryBytes(arena, offset);
}

int64_t RouteTable::KeyShard::CustomerOf(uint32_t offset) const {
  int64_t customer_id;
  std::memcpy(&customer_id, arena.data() + offset, sizeof(customer_id));
  return customer_id;
}

void RouteTable::KeyShard::SetCustomer(uint32_t offset, int64_t customer_id) {
  std::memcpy(arena.data() + offset, &customer_id, sizeof(customer_id));
}

uint32_t RouteTable::KeyIndex::Find(const std::string& arena,
                                    const HashedKey& key) const {
  if (slots_.empty()) {
    return kNotFound;
  }
  const size_t mask = slots_.size() - 1;
  const uint32_t tag = TagOf(key.hash);
  for (size_t i = key.hash & mask;; i = (i + 1) & mask) {
    const uint64_t slot = slots_[i];
    if (slot == kEmpty) {
      return kNotFound;
    }
    if (IsLive(slot) && static_cast<uint32_t>(slot >> 32) == tag) {
      const uint32_t offset = static_cast<uint32_t>(slot) - 1;
      if (EntryBytes(arena, offset) == key.bytes) {
        return offset;
      }
    }
  }
}

void RouteTable::KeyIndex::Insert(const std::string& arena,
                                  const HashedKey& key, uint32_t offset) {
  // At most three quarters full, tombstones included, so that probes stay
  // short and always end at an empty slot.
  if ((used_ + 1) * 4 > slots_.size() * 3) {
    // Twice the size when live keys fill more than three eighths; the same
    // size (dropping tombstones) otherwise.
    const bool grow = (live_ + 1) * 8 > slots_.size() * 3;
    Rehash(arena,
           std::max<size_t>(16, grow ? slots_.size() * 2 : slots_.size()));
  }
  slots_[EmptySlotFor(key.hash)] = SlotOf(key.hash, offset);
  ++live_;
  ++used_;
}

size_t RouteTable::KeyIndex::EmptySlotFor(size_t hash) const {
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i] != kEmpty) {
    i = (i + 1) & mask;
  }
  return i;
}

void RouteTable::KeyIndex::Erase(const HashedKey& key, uint32_t offset) {
  const size_t mask = slots_.size() - 1;
  const uint64_t wanted = SlotOf(key.hash, offset);
  for (size_t i = key.hash & mask; slots_[i] != kEmpty; i = (i + 1) & mask) {
    if (slots_[i] == wanted) {
      slots_[i] = kTombstone;
      --live_;
      return;
    }
  }
}

void RouteTable::KeyIndex::Clear() {
  slots_ = {};
  live_ = 0;
  used_ = 0;
}

void RouteTable::KeyIndex::Rehash(const std::string& arena, size_t capacity) {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(capacity, kEmpty);
  for (uint64_t slot : old) {
    if (!IsLive(slot)) continue;
    const HashedKey key =
        HashKey(EntryBytes(arena, static_cast<uint32_t>(slot) - 1));
    slots_[EmptySlotFor(key.hash)] = slot;
  }
  used_ = live_;
}

RouteTable::Packed RouteTable::Pack(int64_t version, System system,
                                    RouteState state) {
  return (static_cast<uint64_t>(version) << 4) |
         (static_cast<uint64_t>(system & 3) << 2) |
         static_cast<uint64_t>(state & 3);
}

RouteInfo RouteTable::Unpack(int64_t customer_id, Packed packed) {
  return RouteInfo{customer_id, static_cast<System>((packed >> 2) & 3),
                   static_cast<RouteState>(packed & 3),
                   static_cast<int64_t>(packed >> 4)};
}

absl::string_view RouteTable::EncodeKey(KeyKind kind, absl::string_view value,
                                        std::string* out, bool* valid) {
  out->clear();
  out->push_back(static_cast<char>(kind));
  bool ok = true;
  if (kind == ::tandem::router::v1::KEY_KIND_LOGIN) {
    // Logins match as the billing systems' collation matches them. A login
    // that is not UTF-8 is kept as it came, and matches no lookup.
    ok = AppendFoldedLogin(value, out);
    if (!ok) {
      out->resize(1);
      out->append(value.data(), value.size());
    }
  } else {
    out->append(value.data(), value.size());
  }
  if (valid != nullptr) *valid = ok;
  return *out;
}

size_t RouteTable::RouteShardOf(int64_t customer_id) {
  // Customer ids are often dense; mix them so shards fill evenly.
  uint64_t x = static_cast<uint64_t>(customer_id) * 0x9E3779B97F4A7C15ull;
  return (x >> 58) % kShards;
}

RouteTable::HashedKey RouteTable::HashKey(absl::string_view encoded) {
  return HashedKey{encoded, absl::Hash<absl::string_view>{}(encoded)};
}

size_t RouteTable::KeyShardOf(const HashedKey& key) {
  // The top bits: the shard's set uses the low ones (its position and
  // control byte), so both can share one hash.
  return (key.hash >> 58) % kShards;
}

std::optional<RouteInfo> RouteTable::FindInfo(int64_t customer_id) const {
  if (customer_id <= 0) {
    return std::nullopt;
  }
  std::optional<Packed> packed =
      route_shards_[RouteShardOf(customer_id)].routes.Find(customer_id);
  if (!packed.has_value()) {
    return std::nullopt;
  }
  return Unpack(customer_id, *packed);
}

std::optional<int64_t> RouteTable::ResolveKey(KeyKind kind,
                                              absl::string_view value) const {
  if (kind == ::tandem::router::v1::KEY_KIND_CUSTOMER_ID) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(value, &id) || id <= 0 || !FindInfo(id).has_value()) {
      return std::nullopt;
    }
    return id;
  }
  std::string buffer;
  bool valid = true;
  const HashedKey key = HashKey(EncodeKey(kind, value, &buffer, &valid));
  if (!valid) {
    return std::nullopt;
  }
  const KeyShard& shard = key_shards_[KeyShardOf(key)];
  absl::ReaderMutexLock lock(&shard.mu);
  const uint32_t offset = shard.index.Find(shard.arena, key);
  if (offset == KeyIndex::kNotFound) {
    return std::nullopt;
  }
  return shard.CustomerOf(offset);
}

std::optional<RouteInfo> RouteTable::LookupInfo(KeyKind kind,
                                                absl::string_view value) const {
  std::optional<int64_t> customer = ResolveKey(kind, value);
  if (!customer.has_value()) {
    return std::nullopt;
  }
  return FindInfo(*customer);
}

std::optional<Route> RouteTable::FindCustomer(int64_t customer_id) const {
  std::optional<RouteInfo> info = FindInfo(customer_id);
  if (!info.has_value()) {
    return std::nullopt;
  }
  Route route;
  route.set_customer_id(info->customer_id);
  route.set_system(info->system);
  route.set_state(info->state);
  route.set_version(info->version);
  return route;
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

void RouteTable::CountRoute(Packed packed, int delta) {
  uint64_t system = (packed >> 2) & 3;
  uint64_t state = packed & 3;
  if (system < 3 && state < 3) {
    counts_[system][state].fetch_add(delta);
  }
}

void RouteTable::PutRoute(const Route& route, bool only_if_newer) {
  Packed packed = Pack(route.version(), route.system(), route.state());
  RouteShard& shard = route_shards_[RouteShardOf(route.customer_id())];
  absl::MutexLock lock(&shard.writer_mu);
  if (only_if_newer) {
    std::optional<Packed> current = shard.routes.Find(route.customer_id());
    if (current.has_value() && (*current >> 4) >= (packed >> 4)) {
      return;
    }
  }
  std::optional<Packed> old = shard.routes.Put(route.customer_id(), packed);
  if (old.has_value()) {
    CountRoute(*old, -1);
  }
  CountRoute(packed, +1);
}

void RouteTable::PutKey(const Key& key, int64_t customer_id) {
  std::string buffer;
  const HashedKey hashed = HashKey(EncodeKey(key.kind(), key.value(), &buffer));
  KeyShard& shard = key_shards_[KeyShardOf(hashed)];
  absl::MutexLock lock(&shard.mu);
  const uint32_t found = shard.index.Find(shard.arena, hashed);
  if (found != KeyIndex::kNotFound) {
    shard.SetCustomer(found, customer_id);
    return;
  }
  const uint32_t offset = static_cast<uint32_t>(shard.arena.size());
  const uint32_t length = static_cast<uint32_t>(hashed.bytes.size());
  char header[kEntryHeader];
  std::memcpy(header, &customer_id, 8);
  std::memcpy(header + 8, &length, 4);
  shard.arena.append(header, kEntryHeader);
  shard.arena.append(hashed.bytes.data(), hashed.bytes.size());
  shard.index.Insert(shard.arena, hashed, offset);
  key_count_.fetch_add(1);
}

void RouteTable::RemoveKey(const Key& key, int64_t customer_id) {
  std::string buffer;
  const HashedKey hashed = HashKey(EncodeKey(key.kind(), key.value(), &buffer));
  KeyShard& shard = key_shards_[KeyShardOf(hashed)];
  absl::MutexLock lock(&shard.mu);
  const uint32_t found = shard.index.Find(shard.arena, hashed);
  if (found == KeyIndex::kNotFound || shard.CustomerOf(found) != customer_id) {
    return;
  }
  shard.index.Erase(hashed, found);
  key_count_.fetch_sub(1);
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
    absl::MutexLock lock(&shard.writer_mu);
    shard.routes.Clear();
  }
  for (KeyShard& shard : key_shards_) {
    absl::MutexLock lock(&shard.mu);
    shard.index.Clear();
    shard.arena = {};
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
  std::vector<std::pair<int64_t, Packed>> routes;
  {
    const RouteShard& shard = route_shards_[shard_index];
    absl::MutexLock lock(&shard.writer_mu);
    shard.routes.CopyTo(&routes);
  }
  for (const auto& [customer, packed] : routes) {
    RouteInfo info = Unpack(customer, packed);
    Route* route = out->emplace_back().mutable_route();
    route->set_customer_id(customer);
    route->set_system(info.system);
    route->set_state(info.state);
    route->set_version(info.version);
  }
  const KeyShard& shard = key_shards_[shard_index];
  absl::ReaderMutexLock lock(&shard.mu);
  absl::flat_hash_map<int64_t, size_t> by_customer;
  shard.index.ForEach([&](uint32_t offset) {
    int64_t customer = shard.CustomerOf(offset);
    auto [it, inserted] = by_customer.try_emplace(customer, out->size());
    if (inserted) {
      out->emplace_back().mutable_route()->set_customer_id(customer);
    }
    absl::string_view bytes = shard.Bytes(offset);
    Key* key = (*out)[it->second].add_keys_added();
    key->set_kind(static_cast<KeyKind>(bytes[0]));
    key->set_value(std::string(bytes.substr(1)));
  });
}

}  // namespace tandem::router
