#include "portal-proxy/hold_stage.h"

#include "absl/time/clock.h"
#include "common/log.h"

namespace tandem::proxy {

bool HoldStage::MustWait(const Exchange& x,
                         const std::optional<RouteInfo>& route) const {
  if (route && route->state == ::tandem::router::v1::ROUTE_STATE_MIGRATING) {
    return true;
  }
  if (!x.exported_from) return false;
  const System system = route ? route->system : routes_->default_system();
  return FromSystem(system) == *x.exported_from;
}

void HoldStage::Finish(Exchange& x) const {
  if (!x.hold.active) return;
  x.hold.active = false;
  const double held =
      std::chrono::duration<double>(Exchange::Clock::now() - x.hold.start)
          .count();
  x.record.held_seconds = std::max(x.record.held_seconds, 0.0) + held;
  metrics_->hold_duration()->Observe(held);
}

StageResult HoldStage::Run(Exchange& x) const {
  const int64_t customer = x.resolution.customer_id;
  if (customer <= 0) {
    if (!x.exported_from) return StageResult::kContinue;
    // Nobody to wait for: the request cannot be placed again.
    metrics_->CountExportedReplay("unknown_customer");
    x.record.outcome = "exported_unknown_customer";
    SetMaintenanceReply(x.wants_html, retry_after_seconds_, &x.reply);
    return StageResult::kReply;
  }
  std::optional<RouteInfo> route = x.resolution.route;
  if (x.hold.active || x.exported_from) route = routes_->FindInfo(customer);
  if (!MustWait(x, route)) {
    x.resolution.route = route;
    x.resolution.system = route ? route->system : routes_->default_system();
    x.backend = FromSystem(x.resolution.system);
    Finish(x);
    return StageResult::kContinue;
  }
  const auto now = Exchange::Clock::now();
  if (!x.hold.active) {
    x.hold.active = true;
    x.hold.start = now;
    x.hold.deadline = now + absl::ToChronoMilliseconds(timeout_);
    x.hold.since = absl::Now();
    return StageResult::kHold;
  }
  if (now < x.hold.deadline) return StageResult::kHold;
  Finish(x);
  metrics_->hold_timeouts()->Increment();
  if (x.exported_from) metrics_->CountExportedReplay("timeout");
  x.record.outcome = x.exported_from ? "exported_hold_timeout" : "hold_timeout";
  TANDEM_LOG(Warning, "hold_timeout")
      .With("customer_id", customer)
      .With("held_ms", x.record.held_seconds * 1000)
      .With("exported", x.exported_from.has_value());
  SetMaintenanceReply(x.wants_html, retry_after_seconds_, &x.reply);
  return StageResult::kReply;
}

}  // namespace tandem::proxy
