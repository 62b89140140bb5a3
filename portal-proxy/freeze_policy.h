// The catalog freeze, enforced at the door: requests to the billing systems'
// product-admin API are classified (create / update / delete of a product)
// and checked against the catalog's freeze state before they are forwarded.
//
// FreezePolicy is the narrow interface the proxy asks. CachedFreezePolicy
// decides from a locally kept freeze state (fed from the catalog's
// WatchFreeze stream by whoever owns the stream; in tests, by the test acting
// as a fake catalog). It fails closed: until a state has been set, and
// whenever the feed reports it is disconnected, the catalog counts as FROZEN.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/catalog/v1/catalog.pb.h"
#include "tandem/common/v1/types.pb.h"

namespace tandem::proxy {

using ::tandem::catalog::v1::ChangeKind;
using ::tandem::catalog::v1::ChangeRefusal;
using ::tandem::catalog::v1::FreezeState;

// One product change, as the proxy classified it from an HTTP request.
struct ProductChange {
  ::tandem::common::v1::System system =
      ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  ChangeKind kind = ::tandem::catalog::v1::CHANGE_KIND_UNSPECIFIED;
  int64_t product_id = 0;   // 0 for CREATE or when the path has none
  std::string_view detail;  // e.g. "PUT /admin/products/17"
};

struct FreezeDecision {
  bool allowed = true;
  ChangeRefusal refusal = ::tandem::catalog::v1::CHANGE_REFUSAL_UNSPECIFIED;
  std::string reason;
};

class FreezePolicy {
 public:
  virtual ~FreezePolicy() = default;
  // Decides one change; safe from any thread, must not block.
  virtual FreezeDecision Check(const ProductChange& change) const = 0;
  // The state decisions are made against: FROZEN while the state is unknown
  // or its feed is disconnected (fail closed). Safe from any thread.
  virtual FreezeState EffectiveState() const = 0;
};

// The product-admin API of the billing systems, by path prefix (compared
// without regard to ASCII case): POST to a prefix creates a product;
// PUT/PATCH/POST/DELETE to prefix/<id>[/...] changes or deletes product
// <id>. Other methods (GET, HEAD, OPTIONS) are not changes. The proxy
// classifies the freeze form of the normal path (path_normalizer.h), so
// that no spelling of a product path escapes.
struct ProductAdminApi {
  std::vector<std::string> prefixes = {"/admin/products"};

  // Returns the change a request makes, or nullopt when it is not a product
  // change.
  std::optional<ProductChange> Classify(std::string_view method,
                                        std::string_view target) const;
};

class CachedFreezePolicy final : public FreezePolicy {
 public:
  CachedFreezePolicy() = default;

  // Sets the freeze state as last reported by the catalog, and whether the
  // feed is connected. Disconnected means FROZEN (fail closed).
  void SetState(FreezeState state, bool connected = true);
  FreezeState state() const { return state_.load(); }
  bool connected() const { return connected_.load(); }

  FreezeDecision Check(const ProductChange& change) const override;
  FreezeState EffectiveState() const override;

 private:
  std::atomic<FreezeState> state_{
      ::tandem::catalog::v1::FREEZE_STATE_UNSPECIFIED};
  std::atomic<bool> connected_{false};
};

}  // namespace tandem::proxy
