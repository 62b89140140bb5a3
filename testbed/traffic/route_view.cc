#include "testbed/traffic/route_view.h"

#include "absl/time/clock.h"

namespace tandem::testbed {
namespace {

RouteSnapshot FromInfo(const std::optional<router::RouteInfo>& info,
                       bool default_on_target) {
  RouteSnapshot s;
  if (!info) {
    s.on_target = default_on_target;
    return s;
  }
  s.known = true;
  s.on_target = info->system == ::tandem::common::v1::SYSTEM_TARGET;
  s.migrating = info->state == ::tandem::router::v1::ROUTE_STATE_MIGRATING;
  s.version = info->version;
  return s;
}

}  // namespace

CacheRouteView::CacheRouteView(router::RouteCache* cache) : cache_(cache) {
  listener_ = cache_->AddListener(
      [this](const router::RouteChange* change) { OnChange(change); });
}

void CacheRouteView::Track(const std::vector<int64_t>& customer_ids) {
  absl::MutexLock lock(&mu_);
  for (int64_t c : customer_ids) {
    auto& seen = history_[c];
    if (seen.empty()) seen.emplace_back(absl::InfinitePast(), Current(c));
  }
}

CacheRouteView::~CacheRouteView() { cache_->RemoveListener(listener_); }

RouteSnapshot CacheRouteView::Current(int64_t customer_id) const {
  return FromInfo(
      cache_->FindInfo(customer_id),
      cache_->default_system() == ::tandem::common::v1::SYSTEM_TARGET);
}

RouteSnapshot CacheRouteView::At(int64_t customer_id, absl::Time when) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = history_.find(customer_id);
    if (it != history_.end() && !it->second.empty()) {
      const auto& seen = it->second;
      const RouteSnapshot* at = &seen.front().second;
      for (const auto& [time, snapshot] : seen) {
        if (time > when) break;
        at = &snapshot;
      }
      return *at;
    }
  }
  return Current(customer_id);
}

void CacheRouteView::OnChange(const router::RouteChange* change) {
  absl::MutexLock lock(&mu_);
  ++changes_;  // Releasing mu_ re-evaluates every waiter's condition.
  if (change == nullptr || !change->has_route_update()) return;
  const router::Route& route = change->route_update().route();
  auto it = history_.find(route.customer_id());
  if (it == history_.end()) return;
  RouteSnapshot s;
  s.known = true;
  s.on_target = route.system() == ::tandem::common::v1::SYSTEM_TARGET;
  s.migrating = route.state() == ::tandem::router::v1::ROUTE_STATE_MIGRATING;
  s.version = route.version();
  it->second.emplace_back(absl::Now(), s);
}

std::optional<RouteSnapshot> CacheRouteView::WaitSettled(int64_t customer_id,
                                                         absl::Time deadline) {
  RouteSnapshot now;
  auto settled = [&] {
    now = Current(customer_id);
    return !now.migrating;
  };
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithDeadline(absl::Condition(&settled), deadline)) {
    return std::nullopt;
  }
  return now;
}

std::optional<RouteSnapshot> CacheRouteView::WaitPast(int64_t customer_id,
                                                      int64_t version,
                                                      absl::Time deadline) {
  RouteSnapshot now;
  auto moved = [&] {
    now = Current(customer_id);
    return now.version > version;
  };
  absl::MutexLock lock(&mu_);
  if (!mu_.AwaitWithDeadline(absl::Condition(&moved), deadline)) {
    return std::nullopt;
  }
  return now;
}

}  // namespace tandem::testbed
