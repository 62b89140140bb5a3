// The identity stage: finds the request's customer (customer_resolver.h)
// and so the system it goes to. A login's body is read first (kReadBody,
// up to the resolver's max_login_body_bytes). Credentials of two customers
// are answered 400; a credential that cannot be placed while the default
// system is not right for everyone, 401 (clearing a malformed session
// cookie, so that the browser recovers).
#pragma once

#include "portal-proxy/customer_resolver.h"
#include "portal-proxy/stage.h"

namespace tandem::proxy {

class IdentifyStage final : public Stage {
 public:
  // `resolver` is not owned and must outlive the stage.
  explicit IdentifyStage(const CustomerResolver* resolver)
      : resolver_(resolver) {}

  StageResult Run(Exchange& exchange) const override;

 private:
  const CustomerResolver* resolver_;
};

}  // namespace tandem::proxy
