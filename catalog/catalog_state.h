// CatalogState: what one catalog replica keeps in memory — the freeze, the
// settings and the facts of every product, as of one revision of the control
// database — and the WatchFreeze listeners it tells about transitions.
//
// The state is re-read when its revision moves: at once after this
// replica's own changes (Reload), within the poll interval after another
// replica's (the poller), sooner when Poke() says it is behind. It is a
// cache: decisions that must hold across replicas (product changes, and
// CheckChange answers that would let a change through) confirm it against
// the control database.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "catalog/catalog_metrics.h"
#include "catalog/catalog_store.h"
#include "common/clock.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class CatalogState {
 public:
  using FreezeListener =
      std::function<void(const ::tandem::catalog::v1::WatchFreezeResponse&)>;

  // Collaborators are not owned and must outlive the state. Nothing is read
  // until Reload.
  CatalogState(CatalogStore* store, CatalogMetrics* metrics)
      : store_(store), metrics_(metrics) {}
  // Stops the poller.
  ~CatalogState();

  // Re-reads the state when its revision moved (always with `force`), and
  // tells listeners about a freeze transition it finds.
  absl::Status Reload(bool force);
  // Starts re-reading every `interval`, and at once after Poke().
  void StartPolling(absl::Duration interval, Clock& clock);
  // Asks the poller to re-read now: the cache is known to be behind.
  void Poke();

  // What a decision about one product needs, read at once: the revision the
  // cache holds, the freeze (see Freeze()) and the product's facts.
  struct View {
    int64_t revision = -1;
    ::tandem::catalog::v1::Freeze freeze;
    ProductFacts facts;
  };
  View ViewOf(::tandem::common::v1::System system, int64_t product_id) const;

  // The cached freeze, with customers_on_source and auto_lift filled in.
  ::tandem::catalog::v1::Freeze Freeze() const;
  // Fills customers_on_source and auto_lift of a freeze read elsewhere.
  void Decorate(::tandem::catalog::v1::Freeze* freeze) const;
  ::tandem::catalog::v1::CatalogSettings Settings() const;
  // As the router last reported; -1 when it cannot be heard.
  void SetCustomersOnSource(int64_t customers);

  // Registers `listener`, called (on the poller's thread or a caller of
  // Reload) with every freeze event after the current freeze, which it gets
  // at once. Returns a handle for RemoveListener.
  int64_t AddListener(FreezeListener listener);
  // After this returns the listener is never called again.
  void RemoveListener(int64_t handle);

 private:
  void PollLoop(absl::Duration interval, Clock& clock);
  ::tandem::catalog::v1::Freeze FreezeLocked() const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Calls every listener.
  void Publish(const ::tandem::catalog::v1::WatchFreezeResponse& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(publish_mu_);

  CatalogStore* const store_;
  CatalogMetrics* const metrics_;

  // Held while installing a state and telling listeners about it, so
  // events reach them in version order, and a new listener gets the current
  // freeze before any later event. Taken before mu_.
  absl::Mutex publish_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  CachedState cached_ ABSL_GUARDED_BY(mu_);
  int64_t customers_on_source_ ABSL_GUARDED_BY(mu_) = -1;
  std::map<int64_t, FreezeListener> listeners_ ABSL_GUARDED_BY(mu_);
  int64_t next_listener_ ABSL_GUARDED_BY(mu_) = 1;

  absl::Mutex poll_mu_;
  bool stopping_ ABSL_GUARDED_BY(poll_mu_) = false;
  bool poked_ ABSL_GUARDED_BY(poll_mu_) = false;
  std::thread poller_;
};

}  // namespace tandem::catalog
