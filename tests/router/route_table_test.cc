#include "router/route_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "router/id_map.h"
#include "router/transitions.h"

namespace tandem::router {
namespace {

namespace v1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;

RouteChange Change(int64_t revision, int64_t customer, System system,
                   RouteState state, int64_t version) {
  RouteChange change;
  change.set_revision(revision);
  Route* route = change.mutable_route_update()->mutable_route();
  route->set_customer_id(customer);
  route->set_system(system);
  route->set_state(state);
  route->set_version(version);
  route->set_updated_by("op");
  return change;
}

TEST(RouteTableTest, AppliesChangesAndResolvesKeys) {
  RouteTable table;
  RouteChange change = Change(1, 42, SYSTEM_SOURCE, v1::ROUTE_STATE_STABLE, 1);
  auto* key = change.mutable_route_update()->add_keys_added();
  key->set_kind(v1::KEY_KIND_LOGIN);
  key->set_value("acme");
  table.Apply(change);
  EXPECT_EQ(table.revision(), 1);
  auto route = table.Lookup(v1::KEY_KIND_LOGIN, "acme");
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->customer_id(), 42);
  EXPECT_TRUE(table.Lookup(v1::KEY_KIND_CUSTOMER_ID, "42").has_value());
  EXPECT_FALSE(table.Lookup(v1::KEY_KIND_CUSTOMER_ID, "43").has_value());
  EXPECT_FALSE(table.Lookup(v1::KEY_KIND_ACCOUNT_ID, "acme").has_value());
  EXPECT_EQ(table.Counts().source_stable, 1);
  EXPECT_EQ(table.Counts().keys, 1);
}

TEST(RouteTableTest, OlderRouteVersionsDoNotOverwriteNewerOnes) {
  RouteTable table;
  table.Apply(Change(5, 7, SYSTEM_TARGET, v1::ROUTE_STATE_STABLE, 5));
  table.Apply(Change(3, 7, SYSTEM_SOURCE, v1::ROUTE_STATE_MIGRATING, 3));
  EXPECT_EQ(table.FindCustomer(7)->system(), SYSTEM_TARGET);
  EXPECT_EQ(table.revision(), 5);
  EXPECT_EQ(table.Counts().target_stable, 1);
  EXPECT_EQ(table.Counts().source_migrating, 0);
}

TEST(RouteTableTest, KeyRemovalOnlyRemovesTheOwnersKey) {
  RouteTable table;
  RouteChange add = Change(1, 1, SYSTEM_SOURCE, v1::ROUTE_STATE_STABLE, 1);
  auto* key = add.mutable_route_update()->add_keys_added();
  key->set_kind(v1::KEY_KIND_API_TOKEN);
  key->set_value("t");
  table.Apply(add);
  RouteChange remove_other;
  remove_other.set_revision(2);
  remove_other.mutable_route_update()->mutable_route()->set_customer_id(2);
  *remove_other.mutable_route_update()->add_keys_removed() = *key;
  table.Apply(remove_other);
  EXPECT_TRUE(table.ResolveKey(v1::KEY_KIND_API_TOKEN, "t").has_value());
}

TEST(RouteTableTest, SnapshotShardsRebuildAnEqualTable) {
  RouteTable table;
  for (int i = 1; i <= 500; ++i) {
    RouteChange change = Change(i, i, i % 2 ? SYSTEM_SOURCE : SYSTEM_TARGET,
                                v1::ROUTE_STATE_STABLE, i);
    auto* key = change.mutable_route_update()->add_keys_added();
    key->set_kind(v1::KEY_KIND_LOGIN);
    key->set_value("user" + std::to_string(i));
    table.Apply(change);
  }
  RouteTable copy;
  for (int shard = 0; shard < RouteTable::kShards; ++shard) {
    std::vector<RouteUpdate> items;
    table.SnapshotShard(shard, &items);
    for (const RouteUpdate& item : items) copy.ApplySnapshotItem(item);
  }
  EXPECT_EQ(copy.Counts().source_stable, 250);
  EXPECT_EQ(copy.Counts().target_stable, 250);
  EXPECT_EQ(copy.Counts().keys, 500);
  for (int i = 1; i <= 500; ++i) {
    auto route = copy.Lookup(v1::KEY_KIND_LOGIN, "user" + std::to_string(i));
    ASSERT_TRUE(route.has_value());
    EXPECT_EQ(route->customer_id(), i);
    EXPECT_EQ(route->version(), i);
  }
}

// Keys come and go in waves (a customer's API tokens are rotated, logins
// renamed): removed keys leave tombstones in their shard's index, and the
// index must keep finding every live key, and none of the removed ones,
// through growth and through the rehashes that drop tombstones.
TEST(RouteTableTest, KeysStayFoundThroughWavesOfAddsAndRemovals) {
  RouteTable table;
  constexpr int kCustomers = 4000;
  int64_t revision = 0;
  auto token = [](int customer, int wave) {
    return "tok" + std::to_string(customer) + "w" + std::to_string(wave);
  };
  for (int customer = 1; customer <= kCustomers; ++customer) {
    table.Apply(
        Change(++revision, customer, SYSTEM_SOURCE, v1::ROUTE_STATE_STABLE, 1));
  }
  for (int wave = 0; wave < 6; ++wave) {
    for (int customer = 1; customer <= kCustomers; ++customer) {
      RouteChange rotate;
      rotate.set_revision(++revision);
      RouteUpdate* update = rotate.mutable_route_update();
      update->mutable_route()->set_customer_id(customer);
      Key* added = update->add_keys_added();
      added->set_kind(v1::KEY_KIND_API_TOKEN);
      added->set_value(token(customer, wave));
      if (wave > 0 && customer % 3 != 0) {
        Key* removed = update->add_keys_removed();
        removed->set_kind(v1::KEY_KIND_API_TOKEN);
        removed->set_value(token(customer, wave - 1));
      }
      table.Apply(rotate);
    }
    for (int customer = 1; customer <= kCustomers; ++customer) {
      for (int earlier = 0; earlier <= wave; ++earlier) {
        // Every third customer keeps all its tokens; the others only the
        // newest.
        const bool kept = earlier == wave || customer % 3 == 0;
        std::optional<int64_t> found =
            table.ResolveKey(v1::KEY_KIND_API_TOKEN, token(customer, earlier));
        ASSERT_EQ(found.has_value(), kept)
            << token(customer, earlier) << " in wave " << wave;
        if (kept) {
          ASSERT_EQ(*found, customer);
        }
      }
    }
  }
  const int64_t keepers = kCustomers / 3;
  EXPECT_EQ(table.Counts().keys, keepers * 6 + (kCustomers - keepers));
  // A removed key can come back, for another customer.
  RouteChange again;
  again.set_revision(++revision);
  again.mutable_route_update()->mutable_route()->set_customer_id(7);
  Key* key = again.mutable_route_update()->add_keys_added();
  key->set_kind(v1::KEY_KIND_API_TOKEN);
  key->set_value(token(1, 0));
  table.Apply(again);
  EXPECT_EQ(table.ResolveKey(v1::KEY_KIND_API_TOKEN, token(1, 0)), 7);
  // And the snapshot holds exactly the live keys.
  int64_t snapshot_keys = 0;
  for (int shard = 0; shard < RouteTable::kShards; ++shard) {
    std::vector<RouteUpdate> items;
    table.SnapshotShard(shard, &items);
    for (const RouteUpdate& item : items)
      snapshot_keys += item.keys_added_size();
  }
  EXPECT_EQ(snapshot_keys, table.Counts().keys);
}

TEST(IdMapTest, GrowsAndOverwritesWhileReadersRead) {
  IdMap map;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> wrong{0};
  // A reader checks that every id it finds carries its own value (the
  // writer stores id * 10 + generation, generation < 10).
  std::thread reader([&] {
    uint64_t x = 12345;
    while (!stop.load()) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      int64_t id = 1 + (x >> 33) % 200000;
      std::optional<uint64_t> v = map.Find(id);
      if (v.has_value() && static_cast<int64_t>(*v / 10) != id) wrong++;
    }
  });
  for (int generation = 0; generation < 3; ++generation) {
    for (int64_t id = 1; id <= 200000; ++id) {
      std::optional<uint64_t> old = map.Put(id, id * 10 + generation);
      ASSERT_EQ(old.has_value(), generation > 0);
    }
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(map.size(), 200000u);
  EXPECT_EQ(map.Find(777), std::optional<uint64_t>(7772));
  EXPECT_FALSE(map.Find(200001).has_value());
  std::vector<std::pair<int64_t, uint64_t>> all;
  map.CopyTo(&all);
  EXPECT_EQ(all.size(), 200000u);
  map.Clear();
  EXPECT_FALSE(map.Find(777).has_value());
  EXPECT_EQ(map.size(), 0u);
}

TEST(TransitionsTest, OnlyTheDesignedMovesAreLegal) {
  using v1::ROUTE_STATE_MIGRATING;
  using v1::ROUTE_STATE_STABLE;
  struct Case {
    System from_system;
    RouteState from_state;
    System to_system;
    RouteState to_state;
    bool legal;
    int64_t lease_ms = 0;
  };
  const Case cases[] = {
      {SYSTEM_SOURCE, ROUTE_STATE_STABLE, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING,
       true},
      {SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, SYSTEM_TARGET, ROUTE_STATE_STABLE,
       true},
      {SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, SYSTEM_SOURCE, ROUTE_STATE_STABLE,
       true},
      {SYSTEM_TARGET, ROUTE_STATE_STABLE, SYSTEM_TARGET, ROUTE_STATE_MIGRATING,
       true},
      {SYSTEM_TARGET, ROUTE_STATE_MIGRATING, SYSTEM_SOURCE, ROUTE_STATE_STABLE,
       true},
      {SYSTEM_TARGET, ROUTE_STATE_MIGRATING, SYSTEM_TARGET, ROUTE_STATE_STABLE,
       true},
      {SYSTEM_SOURCE, ROUTE_STATE_STABLE, SYSTEM_TARGET, ROUTE_STATE_STABLE,
       false},
      {SYSTEM_SOURCE, ROUTE_STATE_STABLE, SYSTEM_TARGET, ROUTE_STATE_MIGRATING,
       false},
      {SYSTEM_SOURCE, ROUTE_STATE_STABLE, SYSTEM_SOURCE, ROUTE_STATE_STABLE,
       false},
      {SYSTEM_TARGET, ROUTE_STATE_STABLE, SYSTEM_SOURCE, ROUTE_STATE_STABLE,
       false},
      {SYSTEM_TARGET, ROUTE_STATE_STABLE, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING,
       false},
      {SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, SYSTEM_SOURCE,
       ROUTE_STATE_MIGRATING, false},
      // A renewal of the lease keeps the route where it is.
      {SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, SYSTEM_SOURCE,
       ROUTE_STATE_MIGRATING, true, 5000},
      {SYSTEM_TARGET, ROUTE_STATE_MIGRATING, SYSTEM_TARGET,
       ROUTE_STATE_MIGRATING, true, 5000},
      {SYSTEM_TARGET, ROUTE_STATE_MIGRATING, SYSTEM_TARGET,
       ROUTE_STATE_MIGRATING, false},
      {SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, SYSTEM_TARGET,
       ROUTE_STATE_MIGRATING, false, 5000},
      {SYSTEM_SOURCE, ROUTE_STATE_STABLE, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING,
       true, 5000},
      {SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, SYSTEM_TARGET,
       ROUTE_STATE_MIGRATING, false},
      {SYSTEM_TARGET, ROUTE_STATE_MIGRATING, SYSTEM_SOURCE,
       ROUTE_STATE_MIGRATING, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.lease_ms);
    absl::Status status = CheckTransition(c.from_system, c.from_state,
                                          c.to_system, c.to_state, c.lease_ms);
    EXPECT_EQ(status.ok(), c.legal)
        << RouteStateName(c.from_system, c.from_state) << " -> "
        << RouteStateName(c.to_system, c.to_state);
    if (!c.legal) {
      EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    }
  }
}

TEST(TransitionsTest, LeasesOnlyOnChangesIntoMigrating) {
  using v1::ROUTE_STATE_MIGRATING;
  using v1::ROUTE_STATE_STABLE;
  EXPECT_EQ(CheckTransition(SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, SYSTEM_TARGET,
                            ROUTE_STATE_STABLE, 1000)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckTransition(SYSTEM_SOURCE, ROUTE_STATE_STABLE, SYSTEM_SOURCE,
                            ROUTE_STATE_MIGRATING, -1)
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::router
