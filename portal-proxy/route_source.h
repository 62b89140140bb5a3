// Where the proxy reads routes on its request path: a narrow interface over
// the router client's Watch-fed RouteCache (route_cache_source.h), so that
// the resolver and the hold logic can be tested against a fake table.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "router/route_table.h"

namespace tandem::proxy {

using ::tandem::common::v1::System;
using ::tandem::router::RouteInfo;
using ::tandem::router::v1::KeyKind;

class RouteSource {
 public:
  virtual ~RouteSource() = default;
  // Answered from memory, without allocating, from any thread. Login keys
  // match as the billing systems' collation matches logins (see
  // router/login_fold.h).
  virtual std::optional<RouteInfo> FindInfo(int64_t customer_id) const = 0;
  virtual std::optional<RouteInfo> LookupInfo(KeyKind kind,
                                              std::string_view value) const = 0;
  virtual System default_system() const = 0;
  // True while the default system is right for every customer: no route
  // points elsewhere and none is MIGRATING. A request the proxy cannot
  // place may then go to the default system; otherwise it must not.
  virtual bool DefaultIsEveryones() const = 0;
};

}  // namespace tandem::proxy
