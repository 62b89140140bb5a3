// Replicas, Watch streams and the client cache, through real channels and a
// real MariaDB.
#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "router/client/route_cache.h"
#include "router/mysql_route_store.h"
#include "tests/router/router_fixture.h"

namespace tandem::router::testing {
namespace {

namespace v1 = ::tandem::router::v1;
using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using v1::ROUTE_STATE_MIGRATING;
using v1::ROUTE_STATE_STABLE;

class RouterWatchTest : public RouterTest {
 protected:
  // Moves customer `id` one legal step through `stub`; returns the route.
  static v1::Route Step(v1::RouterService::Stub& stub, int64_t id,
                        ::tandem::common::v1::System system,
                        v1::RouteState state) {
    v1::GetRouteRequest get;
    get.set_customer_id(id);
    v1::GetRouteResponse current;
    EXPECT_TRUE(stub.GetRoute(Ctx().get(), get, &current).ok());
    v1::SetRouteRequest request;
    request.set_customer_id(id);
    request.set_expected_version(current.route().version());
    request.set_system(system);
    request.set_state(state);
    v1::SetRouteResponse response;
    grpc::Status status = stub.SetRoute(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.route();
  }

  std::unique_ptr<RouteCache> Cache(int port) {
    RouteCacheOptions options;
    options.target = absl::StrCat("127.0.0.1:", port);
    options.token = kViewerToken;
    options.min_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    return RouteCache::Start(options);
  }
};

TEST_F(RouterWatchTest, TwoReplicasSeeEachOthersChanges) {
  auto a = StartRouter();
  auto b = StartRouter();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto stub_a = Stub(a->port());
  auto stub_b = Stub(b->port());
  ImportCustomers(*stub_a, 1, 5);
  // The import through A shows on B.
  ASSERT_TRUE(
      Eventually([&] { return b->table().FindCustomer(5).has_value(); }));

  v1::Route moved = Step(*stub_b, 2, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING);
  ASSERT_TRUE(Eventually([&] {
    auto route = a->table().FindCustomer(2);
    return route.has_value() && route->version() == moved.version();
  }));
  v1::LookupRequest lookup;
  lookup.mutable_key()->set_kind(v1::KEY_KIND_LOGIN);
  lookup.mutable_key()->set_value("user2");
  v1::LookupResponse found;
  ASSERT_TRUE(stub_a->Lookup(Ctx().get(), lookup, &found).ok());
  EXPECT_EQ(found.route().state(), ROUTE_STATE_MIGRATING);

  // A compare-and-set through A with the version B made wins; a stale one
  // through B loses.
  v1::SetRouteRequest flip;
  flip.set_customer_id(2);
  flip.set_expected_version(moved.version());
  flip.set_system(SYSTEM_TARGET);
  flip.set_state(ROUTE_STATE_STABLE);
  v1::SetRouteResponse flipped;
  ASSERT_TRUE(stub_a->SetRoute(Ctx().get(), flip, &flipped).ok());
  flip.set_state(ROUTE_STATE_MIGRATING);
  EXPECT_EQ(stub_b->SetRoute(Ctx().get(), flip, &flipped).error_code(),
            grpc::StatusCode::ABORTED);
}

TEST_F(RouterWatchTest, WatchStartsWithASnapshotThenStreamsChanges) {
  auto server = StartRouter();
  ASSERT_NE(server, nullptr);
  auto stub = Stub(server->port());
  ImportCustomers(*stub, 1, 3);
  auto context = Ctx(kViewerToken);
  auto reader = stub->Watch(context.get(), v1::WatchRequest());
  v1::WatchResponse response;
  int routes = 0;
  int keys = 0;
  bool first = true;
  int64_t snapshot_revision = 0;
  while (reader->Read(&response)) {
    EXPECT_EQ(response.reset(), first);
    first = false;
    for (const auto& item : response.snapshot()) {
      if (item.route().version() > 0) ++routes;
      keys += item.keys_added_size();
    }
    if (response.snapshot_done()) {
      snapshot_revision = response.revision();
      break;
    }
  }
  EXPECT_EQ(routes, 3);
  EXPECT_EQ(keys, 6);
  EXPECT_EQ(snapshot_revision, server->table().revision());
  v1::Route moved = Step(*stub, 3, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING);
  ASSERT_TRUE(reader->Read(&response));
  ASSERT_EQ(response.changes_size(), 1);
  EXPECT_EQ(response.changes(0).revision(), moved.version());
  EXPECT_EQ(response.changes(0).route_update().route().state(),
            ROUTE_STATE_MIGRATING);
  EXPECT_EQ(response.changes(0).stamp().actor(), "alice");
  context->TryCancel();
}

TEST_F(RouterWatchTest, CacheFollowsFlipsAndNotifiesListeners) {
  auto server = StartRouter();
  ASSERT_NE(server, nullptr);
  auto stub = Stub(server->port());
  ImportCustomers(*stub, 1, 5);
  auto cache = Cache(server->port());
  ASSERT_TRUE(cache->WaitForSync(absl::Seconds(10)));
  EXPECT_TRUE(cache->connected());
  EXPECT_EQ(cache->Staleness(), absl::ZeroDuration());
  auto route = cache->Lookup(v1::KEY_KIND_LOGIN, "user4");
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->customer_id(), 4);

  std::atomic<int> flips_seen{0};
  cache->AddListener([&](const RouteChange* change) {
    if (change != nullptr && change->has_route_update() &&
        change->route_update().route().customer_id() == 4 &&
        change->route_update().route().system() == SYSTEM_TARGET) {
      flips_seen++;
    }
  });
  Step(*stub, 4, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING);
  v1::Route flipped = Step(*stub, 4, SYSTEM_TARGET, ROUTE_STATE_STABLE);
  ASSERT_TRUE(cache->WaitForRevision(flipped.version(), absl::Seconds(5)));
  EXPECT_EQ(cache->FindCustomer(4)->system(), SYSTEM_TARGET);
  EXPECT_EQ(flips_seen.load(), 1);
  EXPECT_EQ(cache->Counts().target_stable, 1);

  v1::SetDefaultSystemRequest set_default;
  set_default.set_system(SYSTEM_TARGET);
  v1::SetDefaultSystemResponse set_response;
  ASSERT_TRUE(
      stub->SetDefaultSystem(Ctx().get(), set_default, &set_response).ok());
  ASSERT_TRUE(
      cache->WaitForRevision(set_response.revision(), absl::Seconds(5)));
  EXPECT_EQ(cache->default_system(), SYSTEM_TARGET);
}

TEST_F(RouterWatchTest, CacheServesWhileRouterIsDownAndResumesAfterRestart) {
  auto a = StartRouter();
  auto b = StartRouter();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  int port_a = a->port();
  auto stub_b = Stub(b->port());
  ImportCustomers(*stub_b, 1, 5);
  auto cache = Cache(port_a);
  ASSERT_TRUE(cache->WaitForSync(absl::Seconds(10)));
  ASSERT_TRUE(cache->WaitForRevision(b->table().revision(), absl::Seconds(5)));

  // Replica A goes away: the cache keeps answering, and says it is stale.
  a.reset();
  ASSERT_TRUE(Eventually([&] { return !cache->connected(); }));
  EXPECT_TRUE(cache->Lookup(v1::KEY_KIND_LOGIN, "user1").has_value());
  ASSERT_TRUE(
      Eventually([&] { return cache->Staleness() > absl::ZeroDuration(); }));

  // Meanwhile, a change through B.
  v1::Route moved = Step(*stub_b, 1, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING);
  EXPECT_EQ(cache->FindCustomer(1)->state(), ROUTE_STATE_STABLE);

  // A comes back on the same port: the cache resumes from its revision,
  // without a second snapshot, and catches up.
  a = StartRouter(absl::StrCat("127.0.0.1:", port_a));
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(cache->WaitForRevision(moved.version(), absl::Seconds(10)));
  EXPECT_EQ(cache->FindCustomer(1)->state(), ROUTE_STATE_MIGRATING);
  EXPECT_TRUE(Eventually([&] { return cache->connected(); }));
  EXPECT_EQ(cache->snapshots(), 1);
  EXPECT_GE(cache->reconnects(), 1);
}

TEST_F(RouterWatchTest, WatchResumesFromARevisionAfterDisconnect) {
  auto server = StartRouter();
  ASSERT_NE(server, nullptr);
  auto stub = Stub(server->port());
  ImportCustomers(*stub, 1, 3);
  int64_t resume_from = server->table().revision();
  v1::Route first = Step(*stub, 1, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING);
  v1::Route second = Step(*stub, 2, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING);
  v1::WatchRequest request;
  request.set_from_revision(resume_from);
  auto context = Ctx(kViewerToken);
  auto reader = stub->Watch(context.get(), request);
  v1::WatchResponse response;
  std::vector<int64_t> revisions;
  while (revisions.size() < 2 && reader->Read(&response)) {
    EXPECT_FALSE(response.reset());
    EXPECT_EQ(response.snapshot_size(), 0);
    for (const auto& change : response.changes()) {
      revisions.push_back(change.revision());
    }
  }
  EXPECT_EQ(revisions,
            (std::vector<int64_t>{first.version(), second.version()}));
  context->TryCancel();
}

TEST_F(RouterWatchTest, PrunedChangesAreReplacedByASnapshotOnResume) {
  auto server = StartRouter();
  ASSERT_NE(server, nullptr);
  auto stub = Stub(server->port());
  ImportCustomers(*stub, 1, 10);  // Ten changes, one per customer.
  int64_t revision = server->table().revision();
  ASSERT_EQ(revision, 10);
  // Everything up to revision 7 is older than the retention.
  auto pruned =
      db()->Query("DELETE FROM route_changes WHERE revision <= 7", database());
  ASSERT_TRUE(pruned.ok());
  server.reset();
  server = StartRouter();  // Remembers only what the log still has.
  ASSERT_NE(server, nullptr);
  stub = Stub(server->port());
  auto first_message = [&](int64_t from) {
    v1::WatchRequest request;
    request.set_from_revision(from);
    auto context = Ctx(kViewerToken);
    auto reader = stub->Watch(context.get(), request);
    v1::WatchResponse response;
    v1::Route moved =
        Step(*stub, 1 + from % 5, SYSTEM_SOURCE,
             from % 2 ? ROUTE_STATE_STABLE : ROUTE_STATE_MIGRATING);
    EXPECT_TRUE(reader->Read(&response));
    context->TryCancel();
    return response;
  };
  // From revision 8 the log is complete: changes, no snapshot.
  v1::WatchResponse resumed = first_message(8);
  EXPECT_FALSE(resumed.reset());
  ASSERT_GT(resumed.changes_size(), 0);
  EXPECT_EQ(resumed.changes(0).revision(), 9);
  // From revision 3 it is not: the stream starts over with a snapshot.
  v1::WatchResponse restarted = first_message(3);
  EXPECT_TRUE(restarted.reset());
  EXPECT_GT(restarted.snapshot_size(), 0);
}

TEST_F(RouterWatchTest, PruningKeepsTheNewestChanges) {
  auto server = StartRouter();
  ASSERT_NE(server, nullptr);
  auto stub = Stub(server->port());
  ImportCustomers(*stub, 1, 10);
  // The store deletes only what is both old enough and at most the given
  // revision.
  MysqlOptions options;
  options.url = db()->url();
  options.user = db()->user();
  options.password = db()->password();
  options.database = database();
  auto pool = MysqlPool::Create(options);
  ASSERT_TRUE(pool.ok());
  auto store = MysqlRouteStore::Create(pool->get());
  ASSERT_TRUE(store.ok());
  auto none = (*store)->PruneChanges(/*created_before_ms=*/0, 10);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  auto some = (*store)->PruneChanges(absl::ToUnixMillis(absl::Now()) + 1000, 6);
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(*some, 6);
  auto left = db()->Query("SELECT MIN(revision), COUNT(*) FROM route_changes",
                          database());
  ASSERT_TRUE(left.ok());
  EXPECT_EQ((*left)[0], "7\t4");
}

TEST_F(RouterWatchTest, TheFeedPrunesByItsClockNotTheWallClock) {
  // Time is the replica's clock's: two simulated hours pass in an instant,
  // and nothing is pruned before they do.
  SimulatedClock clock(absl::Now());
  RouterServerOptions options;
  options.db.url = db()->url();
  options.db.user = db()->user();
  options.db.password = db()->password();
  options.db.database = database();
  options.tokens = kTokensFile;
  options.worker_threads = 2;
  options.feed.retention = absl::Hours(1);
  options.feed.prune_interval = absl::Minutes(10);
  options.feed.remembered_changes = 2;
  options.clock = &clock;
  auto started = RouterServer::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<RouterServer> server = *std::move(started);
  auto stub = Stub(server->port());
  ImportCustomers(*stub, 1, 10);  // Ten changes, stamped now.
  auto logged = [&] {
    auto rows = db()->Query("SELECT COUNT(*) FROM route_changes", database());
    return rows.ok() ? (*rows)[0] : rows.status().ToString();
  };
  EXPECT_EQ(logged(), "10");
  clock.Advance(absl::Minutes(30));  // A prune pass, but nothing is old yet.
  server->feed().Wake();
  ASSERT_TRUE(Eventually([&] {
    return !clock.EarliestWaiter().has_value() ||
           *clock.EarliestWaiter() > clock.Now();
  }));
  EXPECT_EQ(logged(), "10");
  clock.Advance(absl::Hours(2));
  // Past the retention: all but the two remembered changes go.
  ASSERT_TRUE(Eventually([&] { return logged() == "2"; })) << logged();
}

TEST_F(RouterWatchTest, ShutdownEndsWatchStreamsWithUnavailable) {
  auto server = StartRouter();
  ASSERT_NE(server, nullptr);
  auto stub = Stub(server->port());
  ImportCustomers(*stub, 1, 3);
  auto context = Ctx(kViewerToken);
  auto reader = stub->Watch(context.get(), v1::WatchRequest());
  v1::WatchResponse response;
  while (reader->Read(&response) && !response.snapshot_done()) {
  }
  // Streams end at once; the grace period is for unary calls in flight.
  // With a grace far beyond the test's timeout, a shutdown that waited for
  // the open stream would fail the test by timing out (how fast it is
  // belongs in a benchmark, not here).
  server->Shutdown(absl::Hours(1));
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace tandem::router::testing
