// The in-memory routing table: routes by customer id and keys by value, with
// the default system and the revision they are complete up to. The router
// serves from it and every dispatcher's client cache is one, fed by Watch.
//
// Many readers, one writer: lookups may run on any thread at any time; the
// Apply* methods must be called from one thread at a time, in revision
// order. Sharded so that readers on different cores rarely share a lock.
//
// Sized for tens of millions of routes: a route is one packed 64-bit word
// (version, system, state) and a key is an entry in a per-shard byte arena,
// indexed by tagged offsets, so 1,000,000 customers with two keys each take
// about 130 MB (the portal-proxy's RSS goes from 40 to 166 MB between
// 100,000 and 1,000,000 routes, bench/reports/proxy.md). The
// audit fields of a route (updated_at/updated_by) are not kept here; they
// live in the database and in each Watch change.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "router/id_map.h"
#include "router/route_counts.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::router {

using ::tandem::common::v1::System;
using ::tandem::router::v1::Key;
using ::tandem::router::v1::KeyKind;
using ::tandem::router::v1::Route;
using ::tandem::router::v1::RouteChange;
using ::tandem::router::v1::RouteState;
using ::tandem::router::v1::RouteUpdate;

// The part of a route a dispatcher needs on its request path. Cheap to
// copy: no allocation, unlike Route.
struct RouteInfo {
  int64_t customer_id = 0;
  System system = ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  RouteState state = ::tandem::router::v1::ROUTE_STATE_UNSPECIFIED;
  int64_t version = 0;
};

class RouteTable {
 public:
  static constexpr int kShards = 64;

  RouteTable() = default;
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Returns the route of `customer_id` (customer id, system, state and
  // version), if it has one.
  std::optional<Route> FindCustomer(int64_t customer_id) const;

  // Resolves `key` to a customer id: KEY_KIND_CUSTOMER_ID resolves when that
  // customer has a route; other kinds when the key is known.
  std::optional<int64_t> ResolveKey(KeyKind kind,
                                    absl::string_view value) const;

  // Resolves `key` and returns its customer's route.
  std::optional<Route> Lookup(KeyKind kind, absl::string_view value) const;

  // The request-path forms of FindCustomer and Lookup: FindInfo takes no
  // lock at all; LookupInfo takes one key shard's read lock; neither
  // allocates (for keys of up to 14 bytes).
  std::optional<RouteInfo> FindInfo(int64_t customer_id) const;
  std::optional<RouteInfo> LookupInfo(KeyKind kind,
                                      absl::string_view value) const;

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

 private:
  // version << 4 | system << 2 | state.
  using Packed = uint64_t;
  static Packed Pack(int64_t version, System system, RouteState state);
  static RouteInfo Unpack(int64_t customer_id, Packed packed);

  // Readers use `routes` without any lock (see IdMap); `writer_mu` only
  // keeps a snapshot copy from overlapping the writer.
  struct alignas(64) RouteShard {
    mutable absl::Mutex writer_mu;
    IdMap routes;
  };

  // Keys of one shard. Each key is one entry of `arena`: its customer id
  // (8 bytes), the length of its encoded bytes (4 bytes) and the encoded
  // bytes (kind byte + value), so that a lookup that matches touches one
  // place after the index. Removed keys leave their entry behind until the
  // shard is cleared; keys are rarely removed.
  static constexpr size_t kEntryHeader = 12;
  // The encoded bytes of the entry at `offset`.
  static absl::string_view EntryBytes(const std::string& arena,
                                      uint32_t offset);
  // An encoded key with its hash, computed once per lookup for both the
  // shard and the shard's index.
  struct HashedKey {
    absl::string_view bytes;
    size_t hash;
  };
  // The index of a shard's arena: open addressing with linear probing over
  // 8-byte slots, each 32 bits of the key's hash above the shard's and the
  // position's bits (the tag) and the entry's offset + 1. A lookup reads
  // one slot's cache line and, when the tag matches, the entry: two places
  // in memory, where a table with separate control bytes takes three.
  class KeyIndex {
   public:
    static constexpr uint32_t kNotFound = ~uint32_t{0};
    // The offset of the entry holding `key`, or kNotFound.
    uint32_t Find(const std::string& arena, const HashedKey& key) const;
    // Adds the entry at `offset` (whose key is not in the index).
    void Insert(const std::string& arena, const HashedKey& key,
                uint32_t offset);
    // Removes the entry at `offset`, found for `key`.
    void Erase(const HashedKey& key, uint32_t offset);
    void Clear();
    // Calls `visit(offset)` for every entry.
    template <typename Visit>
    void ForEach(Visit visit) const {
      for (uint64_t slot : slots_) {
        if (IsLive(slot)) visit(static_cast<uint32_t>(slot) - 1);
      }
    }

   private:
    static constexpr uint64_t kEmpty = 0;
    static constexpr uint64_t kTombstone = uint64_t{1} << 32;
    static uint32_t TagOf(size_t hash) {
      return static_cast<uint32_t>(hash >> 26);
    }
    static uint64_t SlotOf(size_t hash, uint32_t offset) {
      return (uint64_t{TagOf(hash)} << 32) | (uint64_t{offset} + 1);
    }
    // The first empty slot on `hash`'s probe sequence (there is one: the
    // table is never full).
    size_t EmptySlotFor(size_t hash) const;
    static bool IsLive(uint64_t slot) {
      return static_cast<uint32_t>(slot) != 0;
    }
    void Rehash(const std::string& arena, size_t capacity);
    // Empty, or a power of two of them.
    std::vector<uint64_t> slots_;
    size_t live_ = 0;
    size_t used_ = 0;  // Live slots and tombstones.
  };
  struct alignas(64) KeyShard {
    absl::string_view Bytes(uint32_t offset) const;
    int64_t CustomerOf(uint32_t offset) const;
    void SetCustomer(uint32_t offset, int64_t customer_id);
    mutable absl::Mutex mu;
    std::string arena;
    KeyIndex index;
  };

  // Writes the encoded form of a key (kind byte + value; a login's value
  // folded as the billing systems' collation compares logins,
  // router/login_fold.h) into `out`. `valid` (when not null) is false for a
  // login that is not UTF-8, which no lookup matches.
  static absl::string_view EncodeKey(KeyKind kind, absl::string_view value,
                                     std::string* out, bool* valid = nullptr);
  static size_t RouteShardOf(int64_t customer_id);
  static HashedKey HashKey(absl::string_view encoded);
  static size_t KeyShardOf(const HashedKey& key);
  void PutRoute(const Route& route, bool only_if_newer);
  void PutKey(const Key& key, int64_t customer_id);
  void RemoveKey(const Key& key, int64_t customer_id);
  void CountRoute(Packed packed, int delta);

  RouteShard route_shards_[kShards];
  KeyShard key_shards_[kShards];
  std::atomic<int64_t> revision_{0};
  std::atomic<System> default_system_{::tandem::common::v1::SYSTEM_SOURCE};
  // Indexed [system][state]; only the writer changes them.
  std::atomic<int64_t> counts_[3][3] = {};
  std::atomic<int64_t> key_count_{0};
};

}  // namespace tandem::router
