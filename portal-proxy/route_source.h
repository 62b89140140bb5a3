// Where the proxy reads routes on its request path: a narrow interface over
// the router client's Watch-fed RouteCache, so that the resolver and the
// hold logic can be tested against a fake table.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "router/client/route_cache.h"
#include "router/route_table.h"

namespace tandem::proxy {

using ::tandem::common::v1::System;
using ::tandem::router::RouteInfo;
using ::tandem::router::v1::KeyKind;

class RouteSource {
 public:
  virtual ~RouteSource() = default;
  // All three are answered from memory, without allocating, from any thread.
  virtual std::optional<RouteInfo> FindInfo(int64_t customer_id) const = 0;
  virtual std::optional<RouteInfo> LookupInfo(KeyKind kind,
                                              std::string_view value) const = 0;
  virtual System default_system() const = 0;
};

// The production source: a RouteCache (not owned; must outlive this).
class RouteCacheSource final : public RouteSource {
 public:
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

 private:
  const ::tandem::router::RouteCache* cache_;
};

}  // namespace tandem::proxy
