// Test-only: what the charging dispatcher and the ledger checker run
// against - the three-server testbed, a router on the control server with a
// route for every customer, a Watch-fed route cache, and helpers that move a
// customer's route the way the migrator will (copy, MIGRATING, flip, mark
// exported).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "router/client/route_cache.h"
#include "router/router_server.h"
#include "tandem/router/v1/router.grpc.pb.h"
#include "testbed/traffic/ledger_check.h"
#include "testbed/traffic/route_view.h"
#include "tests/testbed/testbed_fixture.h"

namespace tandem::testbed {

inline constexpr char kRouterToken[] = "operator-token-0123456789";

class ChargingWorld {
 public:
  // Starts everything; customers 1..options.datagen.customers get routes
  // to the source.
  static absl::StatusOr<std::unique_ptr<ChargingWorld>> Start(
      const TestbedOptions& options);
  ~ChargingWorld();

  Testbed& tb() { return *tb_; }
  router::RouteCache& cache() { return *cache_; }
  std::string router_address() const;

  // Route changes through the router (compare-and-set); each returns once
  // the cache has seen the change.
  absl::Status StartMove(int64_t customer);      // SOURCE -> MIGRATING
  absl::Status Flip(int64_t customer);           // MIGRATING -> TARGET
  absl::Status StartRollback(int64_t customer);  // TARGET -> MIGRATING
  absl::Status FlipBack(int64_t customer);       // MIGRATING -> SOURCE
  // Marks the customer exported (or open again) on one system.
  absl::Status SetExported(bool on_target, int64_t customer, bool exported);
  // The whole move as the migrator does it, without live writes: copy with
  // the reference conversion, MIGRATING, flip, mark exported on v1.
  absl::Status MoveToTarget(int64_t customer);

  // The holders the router reports (for CheckLedger).
  HolderSource& holders() { return *holders_; }

  // Customers with an open status and 2-20 accounts whose products all have
  // a v2 counterpart (so the reference can copy them), ascending.
  std::vector<int64_t> MovableCustomers(int n);

 private:
  ChargingWorld() = default;
  absl::Status SetRoute(int64_t customer, ::tandem::common::v1::System system,
                        ::tandem::router::v1::RouteState state);

  std::unique_ptr<Testbed> tb_;
  std::unique_ptr<router::RouterServer> router_;
  std::unique_ptr<::tandem::router::v1::RouterService::Stub> stub_;
  std::unique_ptr<router::RouteCache> cache_;
  std::unique_ptr<HolderSource> holders_;
};

// A RouteView that counts the waits of the one it wraps, so that tests can
// see a write waiting (held, or refused and waiting for the route to move)
// before they change the route.
class CountingRouteView final : public RouteView {
 public:
  explicit CountingRouteView(RouteView* inner) : inner_(inner) {}
  void Track(const std::vector<int64_t>& ids) override { inner_->Track(ids); }
  RouteSnapshot Current(int64_t c) const override { return inner_->Current(c); }
  RouteSnapshot At(int64_t c, absl::Time t) const override {
    return inner_->At(c, t);
  }
  std::optional<RouteSnapshot> WaitSettled(int64_t c,
                                           absl::Time deadline) override {
    ++settle_waits;
    return inner_->WaitSettled(c, deadline);
  }
  std::optional<RouteSnapshot> WaitPast(int64_t c, int64_t version,
                                        absl::Time deadline) override {
    ++past_waits;
    return inner_->WaitPast(c, version, deadline);
  }
  std::atomic<int> settle_waits{0};
  std::atomic<int> past_waits{0};

 private:
  RouteView* inner_;
};

}  // namespace tandem::testbed
