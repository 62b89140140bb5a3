// The in-memory routing table: routes by customer id and keys by value, with
// the default system and the revision they are complete up to. The router
// serves from it and every dispatcher's client cache is one, fed by Watch.
//
// Many readers, one writer: lookups may run on any thread at any time; the
// Apply* methods must be called from one thread at a time, in revision
// order. Sharded so that readers on different cores rarely share a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::router {

using ::tandem::common::v1::System;
using ::tandem::router::v1::Key;
using ::tandem::router::v1::KeyKind;
using ::tandem::router::v1::Route;
using ::tandem::router::v1::RouteChange;
using ::tandem::router::v1::RouteState;
using ::tandem::router::v1::RouteUpdate;

// Counts of routes by system and state, and of keys.
struct RouteCounts {
  int64_t source_stable = 0;
  int64_t source_migrating = 0;
  int64_t target_stable = 0;
  int64_t target_migrating = 0;
  int64_t keys = 0;
};

class RouteTable {
 public:
  static constexpr int kShards = 64;

  RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Returns the route of `customer_id`, if it has one.
  std::optional<Route> FindCustomer(int64_t customer_id) const;

  // Resolves `key` to a customer id: KEY_KIND_CUSTOMER_ID resolves when that
  // customer has a route; other kinds when the key is known.
  std::optional<int64_t> ResolveKey(KeyKind kind,
                                    absl::string_view value) const;

  // Resolves `key` and returns its customer's route.
  std::optional<Route> Lookup(KeyKind kind, absl::string_view value) const;

  // Where traffic of unknown keys goes.
  System default_system() const { return default_system_.load(); }

  // The revision the table is complete up to.
  int64_t revision() const { return revision_.load(std::memory_order_acquire); }

  RouteCounts Counts() const;

  // Applies one change. A route update whose route is older than the route
  // already held is ignored for the route (keys still apply), so replaying
  // changes over a newer snapshot is harmless.
  void Apply(const RouteChange& change);

  // Applies one snapshot item: sets the route when `update.route().version()`
  // is positive, and adds `keys_added` for `update.route().customer_id()`.
  void ApplySnapshotItem(const RouteUpdate& update);

  // Drops everything (a Watch reset).
  void Clear();

  // Marks the table complete up to `revision`, with `default_system`.
  void SetRevision(int64_t revision);
  void SetDefaultSystem(System system) { default_system_.store(system); }

  // Appends shard `shard`'s routes (as items with a route) and keys (as
  // items with keys only, grouped by customer) to `out`.
  void SnapshotShard(int shard, std::vector<RouteUpdate>* out) const;

  // Interns `actor` and returns its short id; the table keeps every distinct
  // actor name once instead of once per route.
  uint32_t InternActor(absl::string_view actor);

 private:
  struct Entry {
    int64_t version;
    int64_t updated_at_unix_ms;
    uint32_t actor;
    uint8_t system;
    uint8_t state;
  };
  struct alignas(64) RouteShard {
    mutable std::shared_mutex mu;
    absl::flat_hash_map<int64_t, Entry> routes;
  };
  struct alignas(64) KeyShard {
    mutable std::shared_mutex mu;
    // The map key is the kind as one byte followed by the value.
    absl::flat_hash_map<std::string, int64_t> keys;
  };

  static std::string EncodeKey(KeyKind kind, absl::string_view value);
  static size_t RouteShardOf(int64_t customer_id);
  static size_t KeyShardOf(absl::string_view encoded);
  Route ToRoute(int64_t customer_id, const Entry& entry) const;
  void PutRoute(const Route& route, bool only_if_newer);
  void PutKey(const Key& key, int64_t customer_id);
  void RemoveKey(const Key& key, int64_t customer_id);
  void CountRoute(uint8_t system, uint8_t state, int delta);

  RouteShard route_shards_[kShards];
  KeyShard key_shards_[kShards];
  std::atomic<int64_t> revision_{0};
  std::atomic<System> default_system_{::tandem::common::v1::SYSTEM_SOURCE};
  // Indexed [system][state]; only the writer changes them.
  std::atomic<int64_t> counts_[3][3] = {};
  std::atomic<int64_t> key_count_{0};

  mutable absl::Mutex actors_mu_;
  std::vector<std::string> actors_ ABSL_GUARDED_BY(actors_mu_);
  absl::flat_hash_map<std::string, uint32_t> actor_ids_
      ABSL_GUARDED_BY(actors_mu_);
};

}  // namespace tandem::router
