// A RouteSource over an in-memory map, for tests that need no router. Login
// keys match as in the real table (router/login_fold.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "portal-proxy/route_source.h"
#include "router/login_fold.h"

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
    keys_[{kind, Encode(kind, value)}] = id;
  }
  // Forgets every route and key.
  void Clear() {
    absl::MutexLock lock(&mu_);
    routes_.clear();
    keys_.clear();
  }
  std::optional<RouteInfo> FindInfo(int64_t id) const override {
    absl::MutexLock lock(&mu_);
    return FindLocked(id);
  }
  std::optional<RouteInfo> LookupInfo(KeyKind kind,
                                      std::string_view value) const override {
    absl::MutexLock lock(&mu_);
    auto it = keys_.find({kind, Encode(kind, value)});
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
  static std::string Encode(KeyKind kind, std::string_view value) {
    std::string out;
    if (kind == ::tandem::router::v1::KEY_KIND_LOGIN &&
        ::tandem::router::FoldLogin(
            absl::string_view(value.data(), value.size()), &out)) {
      return out;
    }
    return std::string(value);
  }
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
