// The catalog's word on one product change, asked over the network.
//
// While the proxy's cached freeze is neither OPEN nor LIFTED it does not
// decide product changes itself: it asks the catalog (`CheckChange`), so that
// every refusal is audited in one place. This is the narrow interface the
// proxy's request path uses for that; the production implementation is
// CatalogClient (catalog_client.h), tests may use a fake.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "portal-proxy/freeze_policy.h"

namespace tandem::proxy {

class ChangeChecker {
 public:
  // Receives the catalog's decision, or an error when the catalog could not
  // be asked (UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED, ...).
  using Done = std::function<void(absl::StatusOr<FreezeDecision>)>;

  virtual ~ChangeChecker() = default;

  // Starts asking about `change` on behalf of `on_behalf_of` (may be empty)
  // and returns at once: it never blocks the calling thread. `done` runs
  // exactly once, on a thread of the checker's, at the latest shortly after
  // `timeout`.
  virtual void CheckChange(const ProductChange& change,
                           std::string on_behalf_of, absl::Duration timeout,
                           Done done) = 0;
};

}  // namespace tandem::proxy
