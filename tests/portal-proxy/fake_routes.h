// A RouteSource over an in-memory map, for tests that need no router.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "portal-proxy/route_source.h"

namespace tandem::proxy::testing {

class FakeRoutes final : public RouteSource {
 public:
  void Put(int64_t id, System system, ::tandem::router::v1::RouteState state,
           int64_t version) {
    absl::MutexLock lock(&mu_);
    routes_[id] = RouteInfo{id, system, state, version};
  }
  void Key(KeyKind kind, const std::string& value, int64_t id) {
    absl::MutexLock lock(&mu_);
    keys_[{kind, value}] = id;
  }
  std::optional<RouteInfo> FindInfo(int64_t id) const override {
    absl::MutexLock lock(&mu_);
    return FindLocked(id);
  }
  std::optional<RouteInfo> LookupInfo(KeyKind kind,
                                      std::string_view value) const override {
    absl::MutexLock lock(&mu_);
    auto it = keys_.find({kind, std::string(value)});
    if (it == keys_.end()) return std::nullopt;
    return FindLocked(it->second);
  }
  System default_system() const override { return default_; }
  bool DefaultIsEveryones() const override {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, route] : routes_) {
      if (route.system != default_ ||
          route.state == ::tandem::router::v1::ROUTE_STATE_MIGRATING) {
        return false;
      }
    }
    return true;
  }
  System default_ = ::tandem::common::v1::SYSTEM_SOURCE;

 private:
  std::optional<RouteInfo> FindLocked(int64_t id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = routes_.find(id);
    if (it == routes_.end()) return std::nullopt;
    return it->second;
  }

  mutable absl::Mutex mu_;
  std::map<int64_t, RouteInfo> routes_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<KeyKind, std::string>, int64_t> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tandem::proxy::testing
