// Where a dispatcher sends a customer's writes: the customer's route as the
// router's Watch-fed client cache (router/client/route_cache.h) has it now,
// as it was when a call started, and waits for it to settle or to move on.
//
// RouteView is the interface the charging dispatcher uses;
// CacheRouteView follows a real router; SourceOnlyRouteView is the
// single-system mode (no router: everybody on the source, for ever).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "router/client/route_cache.h"

namespace tandem::testbed {

struct RouteSnapshot {
  bool on_target = false;  // the system that is authoritative
  bool migrating = false;  // MIGRATING: writers wait
  int64_t version = 0;     // 0 for a customer the router does not know
  bool known = false;      // false: the router's default system
};

class RouteView {
 public:
  virtual ~RouteView() = default;

  // Starts keeping the history of these customers' routes (for At()),
  // from the routes they have now.
  virtual void Track(const std::vector<int64_t>& customer_ids) = 0;

  // The customer's route now.
  virtual RouteSnapshot Current(int64_t customer_id) const = 0;

  // The route the customer had at `when`, as far as this view has seen the
  // route change since Track() (before that, or for an untracked customer:
  // the route it has now).
  virtual RouteSnapshot At(int64_t customer_id, absl::Time when) const = 0;

  // Waits until the customer's route is not MIGRATING, up to `deadline`;
  // nullopt at the deadline.
  virtual std::optional<RouteSnapshot> WaitSettled(int64_t customer_id,
                                                   absl::Time deadline) = 0;

  // Waits until the customer's route has a version above `version` (the
  // route a refused write used has moved on), up to `deadline`; nullopt at
  // the deadline.
  virtual std::optional<RouteSnapshot> WaitPast(int64_t customer_id,
                                                int64_t version,
                                                absl::Time deadline) = 0;
};

// Everybody on the source, stable: the mode without a router. Waits never
// see a change (they return nullopt at once).
class SourceOnlyRouteView final : public RouteView {
 public:
  void Track(const std::vector<int64_t>&) override {}
  RouteSnapshot Current(int64_t) const override { return {}; }
  RouteSnapshot At(int64_t, absl::Time) const override { return {}; }
  std::optional<RouteSnapshot> WaitSettled(int64_t, absl::Time) override {
    return RouteSnapshot{};
  }
  std::optional<RouteSnapshot> WaitPast(int64_t, int64_t, absl::Time) override {
    return std::nullopt;
  }
};

// Follows the router through a RouteCache (which it does not own; it must
// outlive this view and be synced). Records every change it sees of a
// tracked customer, with the time it saw it, so that At() can answer for
// calls that started before a change.
class CacheRouteView final : public RouteView {
 public:
  explicit CacheRouteView(router::RouteCache* cache);
  ~CacheRouteView() override;
  CacheRouteView(const CacheRouteView&) = delete;
  CacheRouteView& operator=(const CacheRouteView&) = delete;

  void Track(const std::vector<int64_t>& customer_ids) override;
  RouteSnapshot Current(int64_t customer_id) const override;
  RouteSnapshot At(int64_t customer_id, absl::Time when) const override;
  std::optional<RouteSnapshot> WaitSettled(int64_t customer_id,
                                           absl::Time deadline) override;
  std::optional<RouteSnapshot> WaitPast(int64_t customer_id, int64_t version,
                                        absl::Time deadline) override;

 private:
  void OnChange(const router::RouteChange* change);

  router::RouteCache* cache_;
  int listener_ = -1;
  mutable absl::Mutex mu_;
  // Per customer: (seen at, route), oldest first.
  std::map<int64_t, std::vector<std::pair<absl::Time, RouteSnapshot>>> history_
      ABSL_GUARDED_BY(mu_);
  int64_t changes_ ABSL_GUARDED_BY(mu_) = 0;  // wakes waiters
};

}  // namespace tandem::testbed
