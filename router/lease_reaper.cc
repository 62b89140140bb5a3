#include "router/lease_reaper.h"

#include "common/log.h"
#include "router/transitions.h"

namespace tandem::router {

LeaseReaper::LeaseReaper(RouteStore* store, ChangeFeed* feed,
                         LeaseReaperOptions options,
                         prometheus::Registry* registry, Clock& clock)
    : store_(store), feed_(feed), options_(options), clock_(clock) {
  if (registry != nullptr) {
    expired_ = &prometheus::BuildCounter()
                    .Name("tandem_router_leases_expired_total")
                    .Help(
                        "Moves the router aborted because their lease ran "
                        "out (the mover neither flipped nor renewed).")
                    .Register(*registry)
                    .Add({});
    errors_ = &prometheus::BuildCounter()
                   .Name("tandem_router_lease_check_errors_total")
                   .Help(
                       "Passes of the lease reaper that failed (database "
                       "errors).")
                   .Register(*registry)
                   .Add({});
  }
}

LeaseReaper::~LeaseReaper() { Stop(); }

void LeaseReaper::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void LeaseReaper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int> LeaseReaper::RunOnce() {
  absl::StatusOr<std::vector<RouteChange>> changes = store_->ExpireLeases(
      Actor{"router", "lease expired: the mover neither flipped nor renewed"},
      options_.batch);
  if (!changes.ok()) {
    if (errors_ != nullptr) errors_->Increment();
    return changes.status();
  }
  for (const RouteChange& change : *changes) {
    const Route& route = change.route_update().route();
    TANDEM_LOG(Warning, "lease_expired")
        .With("customer_id", route.customer_id())
        .With("to", RouteStateName(route.system(), route.state()))
        .With("version", route.version());
  }
  if (!changes->empty()) {
    if (expired_ != nullptr) expired_->Increment(changes->size());
    if (feed_ != nullptr) feed_->Wake();
  }
  return static_cast<int>(changes->size());
}

void LeaseReaper::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (clock_.AwaitWithDeadline(mu_, absl::Condition(&stopping_),
                                   clock_.Now() + options_.interval)) {
        return;
      }
    }
    absl::StatusOr<int> expired = RunOnce();
    if (!expired.ok()) {
      TANDEM_LOG(Warning, "lease_check_failed")
          .With("error", expired.status().ToString());
    }
  }
}

}  // namespace tandem::router
