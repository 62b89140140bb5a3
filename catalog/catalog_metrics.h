// The catalog's own Prometheus metrics (tandem_catalog_*), in one place.
// Every method is safe from any thread and does nothing without a registry.
#pragma once

#include <cstdint>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class CatalogMetrics {
 public:
  // `registry` may be null (no metrics).
  explicit CatalogMetrics(prometheus::Registry* registry);

  void SetFreezeState(::tandem::catalog::v1::FreezeState state);
  // -1 when the router cannot be heard.
  void SetCustomersOnSource(int64_t customers);
  void Transition(::tandem::catalog::v1::FreezeState to, bool automatic);
  void Refusal(::tandem::catalog::v1::ChangeRefusal refusal);
  void Check(bool allowed);
  // A CheckChange the cache would allow, confirmed against the control
  // database: `current` when the cache was up to date.
  void CheckConfirmed(bool current);
  void Plan(const ::tandem::catalog::v1::CustomerPlan& plan);
  void Drift();
  void Applied();

 private:
  prometheus::Gauge* state_ = nullptr;
  prometheus::Gauge* on_source_ = nullptr;
  prometheus::Family<prometheus::Counter>* transitions_ = nullptr;
  prometheus::Family<prometheus::Counter>* refusals_ = nullptr;
  prometheus::Family<prometheus::Counter>* checks_ = nullptr;
  prometheus::Family<prometheus::Counter>* confirmations_ = nullptr;
  prometheus::Family<prometheus::Counter>* outcomes_ = nullptr;
  prometheus::Family<prometheus::Counter>* plans_ = nullptr;
  prometheus::Counter* drift_ = nullptr;
  prometheus::Counter* applied_ = nullptr;
};

}  // namespace tandem::catalog
