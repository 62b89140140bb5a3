// The hold stage: a customer whose route is MIGRATING waits (kHold) until
// the route changes, then goes where it points; so does a request that a
// billing system refused because the customer has left it (the "customer
// exported" answer, upstream_exchange.h), until the route points
// elsewhere; if the route still names the system that answered so, and is
// not MIGRATING, the request is sent to that system again after a pause
// (10 ms, doubling to 500 ms), since no route change may come. Past the
// hold timeout (one for all of a request's holds): 503 with Retry-After
// and a maintenance page. Other customers never wait.
#pragma once

#include <optional>

#include "absl/time/time.h"
#include "portal-proxy/proxy_metrics.h"
#include "portal-proxy/route_source.h"
#include "portal-proxy/stage.h"

namespace tandem::proxy {

class HoldStage final : public Stage {
 public:
  // None owned; all must outlive the stage.
  HoldStage(const RouteSource* routes, absl::Duration timeout,
            int retry_after_seconds, ProxyMetrics* metrics)
      : routes_(routes),
        timeout_(timeout),
        retry_after_seconds_(retry_after_seconds),
        metrics_(metrics) {}

  StageResult Run(Exchange& exchange) const override;

  // Whether `exchange` must wait while its customer's route is `route`
  // (nullopt: the customer has no route).
  bool MustWait(const Exchange& exchange,
                const std::optional<RouteInfo>& route) const;

 private:
  void Finish(Exchange& exchange) const;

  const RouteSource* routes_;
  absl::Duration timeout_;
  int retry_after_seconds_;
  ProxyMetrics* metrics_;
};

}  // namespace tandem::proxy
