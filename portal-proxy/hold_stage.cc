#include "portal-proxy/hold_stage.h"

#include <algorithm>
#include <chrono>

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

namespace {

// The pause before the n-th resend to a system that answered "customer
// exported" while its route names it: 10 ms, doubling, at most 500 ms.
std::chrono::milliseconds ResendPause(int n) {
  return std::chrono::milliseconds(std::min(10 << std::min(n, 6), 500));
}

}  // namespace

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
    x.hold.deadline =
        x.exported_until.value_or(now + absl::ToChronoMilliseconds(timeout_));
    x.hold.resend_at = {};
    x.hold.since = absl::Now();
    if (x.exported_from && !x.exported_until) {
      x.exported_until = x.hold.deadline;
    }
  }
  // "Customer exported" from the very system the route names, not
  // MIGRATING: the billing system and the route disagree for an instant (the
  // new side's release commits just after the flip; a billing system ahead
  // of this cache). No route change may come to end that, so the request is
  // sent to the same system again after a growing pause, within the hold.
  const bool named =
      x.exported_from &&
      !(route && route->state == ::tandem::router::v1::ROUTE_STATE_MIGRATING);
  if (!named) {
    x.hold.resend_at = {};
  } else if (x.hold.resend_at == Exchange::Clock::time_point()) {
    x.hold.resend_at = now + ResendPause(x.exported_resends);
  } else if (now >= x.hold.resend_at && now < x.hold.deadline) {
    ++x.exported_resends;
    metrics_->CountExportedReplay("resent");
    x.exported_from.reset();
    x.resolution.route = route;
    x.resolution.system = route ? route->system : routes_->default_system();
    x.backend = FromSystem(x.resolution.system);
    Finish(x);
    return StageResult::kContinue;
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
