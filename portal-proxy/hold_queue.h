// Requests held while their customer's route is MIGRATING.
//
// A connection that finds its customer migrating registers a wake-up
// callback here and waits (on its own io_context, with its own hold
// timeout). When the route cache applies a change for that customer (or a
// full resync), every waiter of the customer is woken; it re-reads the route
// and either forwards to the system the route now points at or holds again
// for the rest of its timeout. Other customers are never touched.
//
// Bounded per customer and in total: Hold() refuses beyond the bounds, and
// the caller answers 503 at once.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/gauge.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::proxy {

struct HoldOptions {
  int max_per_customer = 256;
  int max_total = 20000;
};

class HoldQueue {
 public:
  // Called at most once per ticket, from the thread that releases (the route
  // cache's thread), under the queue's lock: it must not block nor call back
  // into the queue; typically it posts to the waiter's executor.
  using Wake = std::function<void()>;

  // `held_gauge` (may be null) tracks the number of held requests.
  explicit HoldQueue(HoldOptions options,
                     prometheus::Gauge* held_gauge = nullptr)
      : options_(options), held_gauge_(held_gauge) {}

  // Registers a waiter for `customer_id`. Returns its ticket (positive), or 0
  // when a bound is reached (the request must not be held). `since` (when
  // the request's hold began) and `route_version` (the MIGRATING route that
  // started it) are reported by Snapshot().
  uint64_t Hold(int64_t customer_id, Wake wake,
                absl::Time since = absl::InfinitePast(),
                int64_t route_version = 0);

  // Removes a waiter that stopped waiting by itself (timed out, client
  // gone). Returns false when it was already released.
  bool Cancel(int64_t customer_id, uint64_t ticket);

  // Wakes and removes every waiter of `customer_id`.
  void Release(int64_t customer_id);
  // Wakes and removes every waiter (a route cache resync, or shutdown).
  void ReleaseAll();

  // Forgets every waiter without waking it (shutdown, once the waiters'
  // executors are stopped). No wake runs after this returns.
  void DropAll();

  // The RouteCache listener: releases the customer of a route update, or
  // everybody on a resync (`change` null).
  void OnRouteChange(const ::tandem::router::v1::RouteChange* change);

  int64_t held() const;
  int64_t held_customers() const;

  // One held customer, as an operator sees it.
  struct HeldCustomer {
    int64_t customer_id = 0;
    int64_t held_requests = 0;
    // When its longest-held request's hold began.
    absl::Time oldest_since;
    // The route version of that request's hold.
    int64_t route_version = 0;
  };
  // Every held customer, longest-held first (ties by customer id).
  std::vector<HeldCustomer> Snapshot() const;

 private:
  struct Waiter {
    uint64_t ticket;
    Wake wake;
    absl::Time since;
    int64_t route_version;
  };
  void UpdateGaugeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const HoldOptions options_;
  prometheus::Gauge* held_gauge_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<int64_t, std::vector<Waiter>> waiters_
      ABSL_GUARDED_BY(mu_);
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace tandem::proxy
