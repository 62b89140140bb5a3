// The production RouteSource: the router client's Watch-fed RouteCache.
#pragma once

#include "portal-proxy/route_source.h"
#include "router/client/route_cache.h"

namespace tandem::proxy {

class RouteCacheSource final : public RouteSource {
 public:
  // `cache` is not owned and must outlive this.
  explicit RouteCacheSource(const ::tandem::router::RouteCache* cache)
      : cache_(cache) {}
  std::optional<RouteInfo> FindInfo(int64_t customer_id) const override {
    return cache_->FindInfo(customer_id);
  }
  std::optional<RouteInfo> LookupInfo(KeyKind kind,
                                      std::string_view value) const override {
    return cache_->LookupInfo(kind,
                              absl::string_view(value.data(), value.size()));
  }
  System default_system() const override { return cache_->default_system(); }
  bool DefaultIsEveryones() const override {
    const ::tandem::router::RouteCounts counts = cache_->Counts();
    if (counts.source_migrating > 0 || counts.target_migrating > 0) {
      return false;
    }
    return default_system() == ::tandem::common::v1::SYSTEM_TARGET
               ? counts.source_stable == 0
               : counts.target_stable == 0;
  }

 private:
  const ::tandem::router::RouteCache* cache_;
};

}  // namespace tandem::proxy
