// Leases on MIGRATING routes: a mover that neither flips nor renews in time
// has its move aborted by the router, a late flip is refused, and every
// dispatcher following Watch sees the abort.
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "router/client/route_cache.h"
#include "tests/router/router_fixture.h"

namespace tandem::router::testing {
namespace {

using ::tandem::common::v1::SYSTEM_SOURCE;
using ::tandem::common::v1::SYSTEM_TARGET;
using v1::ROUTE_STATE_MIGRATING;
using v1::ROUTE_STATE_STABLE;

class RouterLeaseTest : public RouterTest {
 protected:
  v1::Route Get(v1::RouterService::Stub& stub, int64_t customer) {
    v1::GetRouteRequest request;
    request.set_customer_id(customer);
    v1::GetRouteResponse response;
    grpc::Status status = stub.GetRoute(Ctx().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.route();
  }

  grpc::Status Set(v1::RouterService::Stub& stub, int64_t customer,
                   int64_t version, ::tandem::common::v1::System system,
                   v1::RouteState state, int64_t lease_ms,
                   v1::Route* out = nullptr,
                   const std::string& request_id = "") {
    v1::SetRouteRequest request;
    request.set_request_id(request_id);
    request.set_customer_id(customer);
    request.set_expected_version(version);
    request.set_system(system);
    request.set_state(state);
    request.set_lease_ms(lease_ms);
    v1::SetRouteResponse response;
    grpc::Status status = stub.SetRoute(Ctx().get(), request, &response);
    if (out != nullptr) *out = response.route();
    return status;
  }

  // The control database's clock, which leases are measured by.
  int64_t DbNowMs() {
    auto rows =
        db()->Query("SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)");
    EXPECT_TRUE(rows.ok()) << rows.status();
    int64_t now = 0;
    EXPECT_TRUE(rows.ok() && !rows->empty() &&
                absl::SimpleAtoi((*rows)[0], &now));
    return now;
  }
};

TEST_F(RouterLeaseTest, ALeaseThatRunsOutAbortsTheMoveAndWatchersSeeIt) {
  auto router = StartRouter();
  ASSERT_NE(router, nullptr);
  auto stub = Stub(router->port());
  ImportCustomers(*stub, 1, 2);
  RouteCacheOptions cache_options;
  cache_options.target = absl::StrCat("127.0.0.1:", router->port());
  cache_options.token = kViewerToken;
  auto cache = RouteCache::Start(cache_options);
  ASSERT_TRUE(cache->WaitForSync(absl::Seconds(10)));

  v1::Route migrating;
  const int64_t stable_version = Get(*stub, 1).version();
  ASSERT_TRUE(Set(*stub, 1, stable_version, SYSTEM_SOURCE,
                  ROUTE_STATE_MIGRATING, 300, &migrating, "move-1")
                  .ok());
  EXPECT_EQ(migrating.state(), ROUTE_STATE_MIGRATING);
  EXPECT_GT(migrating.lease_expires_unix_ms(), migrating.updated_at_unix_ms());
  ASSERT_TRUE(cache->WaitForRevision(migrating.version(), absl::Seconds(10)));
  EXPECT_EQ(cache->FindCustomer(1)->state(), ROUTE_STATE_MIGRATING);

  // Nobody flips or renews: the router puts the route back by itself.
  ASSERT_TRUE(
      Eventually([&] { return Get(*stub, 1).state() == ROUTE_STATE_STABLE; },
                 absl::Seconds(20)));
  v1::Route reverted = Get(*stub, 1);
  EXPECT_EQ(reverted.system(), SYSTEM_SOURCE);
  EXPECT_EQ(reverted.updated_by(), "router");
  EXPECT_EQ(reverted.lease_expires_unix_ms(), 0);
  EXPECT_GT(reverted.version(), migrating.version());
  ASSERT_TRUE(Eventually([&] {
    auto route = cache->FindCustomer(1);
    return route.has_value() && route->state() == ROUTE_STATE_STABLE;
  }));

  // The mover retries its start (the answer was lost): the recorded "lease
  // granted" is no longer true, so it is not replayed; the retry meets the
  // compare-and-set like a new request.
  grpc::Status retried = Set(*stub, 1, stable_version, SYSTEM_SOURCE,
                             ROUTE_STATE_MIGRATING, 300, nullptr, "move-1");
  EXPECT_EQ(retried.error_code(), grpc::StatusCode::ABORTED)
      << retried.error_message();
  EXPECT_EQ(Get(*stub, 1).version(), reverted.version());
  // The mover comes back too late: its flip fails its compare-and-set.
  grpc::Status late =
      Set(*stub, 1, migrating.version(), SYSTEM_TARGET, ROUTE_STATE_STABLE, 0);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::ABORTED)
      << late.error_message();
  EXPECT_EQ(Get(*stub, 1).system(), SYSTEM_SOURCE);
  // The other customer was never touched.
  EXPECT_EQ(Get(*stub, 2).version(), cache->FindCustomer(2)->version());
  EXPECT_EQ(Get(*stub, 2).state(), ROUTE_STATE_STABLE);
}

TEST_F(RouterLeaseTest, AFlipAfterTheLeaseRanOutIsRefusedBeforeTheRouterActs) {
  // The reaper is effectively off, so only the flip's own check can stop it.
  auto router = StartRouter("127.0.0.1:0", "", absl::Hours(1));
  ASSERT_NE(router, nullptr);
  auto stub = Stub(router->port());
  ImportCustomers(*stub, 1, 1);
  v1::Route migrating;
  ASSERT_TRUE(Set(*stub, 1, Get(*stub, 1).version(), SYSTEM_SOURCE,
                  ROUTE_STATE_MIGRATING, 50, &migrating)
                  .ok());
  ASSERT_TRUE(Eventually(
      [&] { return DbNowMs() > migrating.lease_expires_unix_ms(); }));

  grpc::Status flip =
      Set(*stub, 1, migrating.version(), SYSTEM_TARGET, ROUTE_STATE_STABLE, 0);
  EXPECT_EQ(flip.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(flip.error_message().find("lease"), std::string::npos)
      << flip.error_message();
  grpc::Status renew = Set(*stub, 1, migrating.version(), SYSTEM_SOURCE,
                           ROUTE_STATE_MIGRATING, 60000);
  EXPECT_EQ(renew.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Get(*stub, 1).version(), migrating.version());
  // Aborting is what the router would do anyway, and stays allowed.
  v1::Route aborted;
  ASSERT_TRUE(Set(*stub, 1, migrating.version(), SYSTEM_SOURCE,
                  ROUTE_STATE_STABLE, 0, &aborted)
                  .ok());
  EXPECT_EQ(aborted.state(), ROUTE_STATE_STABLE);
}

TEST_F(RouterLeaseTest, ARenewedLeaseKeepsTheMoveUntilTheFlip) {
  auto router = StartRouter();
  ASSERT_NE(router, nullptr);
  auto stub = Stub(router->port());
  ImportCustomers(*stub, 1, 1);
  v1::Route started;
  ASSERT_TRUE(Set(*stub, 1, Get(*stub, 1).version(), SYSTEM_SOURCE,
                  ROUTE_STATE_MIGRATING, 5000, &started)
                  .ok());
  v1::Route renewed;
  ASSERT_TRUE(Set(*stub, 1, started.version(), SYSTEM_SOURCE,
                  ROUTE_STATE_MIGRATING, 600000, &renewed)
                  .ok());
  EXPECT_EQ(renewed.state(), ROUTE_STATE_MIGRATING);
  EXPECT_GT(renewed.version(), started.version());
  EXPECT_GT(renewed.lease_expires_unix_ms(), started.lease_expires_unix_ms());
  v1::Route flipped;
  ASSERT_TRUE(Set(*stub, 1, renewed.version(), SYSTEM_TARGET,
                  ROUTE_STATE_STABLE, 0, &flipped)
                  .ok());
  EXPECT_EQ(flipped.system(), SYSTEM_TARGET);
  EXPECT_EQ(flipped.lease_expires_unix_ms(), 0);
  // A stable route has no lease to run out: nothing changes it.
  EXPECT_EQ(Get(*stub, 1).version(), flipped.version());
}

TEST_F(RouterLeaseTest, BadLeasesAreRefusedAndChangeNothing) {
  auto router = StartRouter();
  ASSERT_NE(router, nullptr);
  auto stub = Stub(router->port());
  ImportCustomers(*stub, 1, 1);
  const int64_t version = Get(*stub, 1).version();
  EXPECT_EQ(Set(*stub, 1, version, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, -1)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      Set(*stub, 1, version, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, 3600001)
          .error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  // A lease on a change into STABLE means nothing: refused.
  v1::Route migrating;
  ASSERT_TRUE(Set(*stub, 1, version, SYSTEM_SOURCE, ROUTE_STATE_MIGRATING, 0,
                  &migrating)
                  .ok());
  EXPECT_EQ(migrating.lease_expires_unix_ms(), 0);
  EXPECT_EQ(Set(*stub, 1, migrating.version(), SYSTEM_TARGET,
                ROUTE_STATE_STABLE, 1000)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Staying MIGRATING without a lease is no renewal.
  EXPECT_EQ(Set(*stub, 1, migrating.version(), SYSTEM_SOURCE,
                ROUTE_STATE_MIGRATING, 0)
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Get(*stub, 1).version(), migrating.version());
}

}  // namespace
}  // namespace tandem::router::testing
