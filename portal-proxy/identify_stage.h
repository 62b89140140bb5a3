// The identity stage: finds the request's customer (customer_resolver.h)
// and so the system it goes to. A login's body is read first (kReadBody,
// up to the resolver's max_login_body_bytes). Credentials of two customers
// are answered 400; a credential that cannot be placed while the default
// system is not right for everyone, 401 (clearing a malformed session
// cookie, so that the browser recovers).
#pragma once

#include "common/clock.h"
#include "portal-proxy/customer_resolver.h"
#include "portal-proxy/stage.h"

namespace tandem::proxy {

class IdentifyStage final : public Stage {
 public:
  // `resolver` is not owned and must outlive the stage; `clock` (likewise)
  // decides whether a routing cookie has expired.
  explicit IdentifyStage(const CustomerResolver* resolver,
                         Clock& clock = Clock::Real())
      : resolver_(resolver), clock_(clock) {}

  StageResult Run(Exchange& exchange) const override;

 private:
  const CustomerResolver* resolver_;
  Clock& clock_;
};

}  // namespace tandem::proxy
