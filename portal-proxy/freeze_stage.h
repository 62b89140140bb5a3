// The catalog freeze at the door. A request that changes a product
// (ProductAdminApi, matched on the freeze form of its normal path,
// path_normalizer.h) passes without asking while the cached freeze is
// LIFTED (terminal, so the feed cannot be behind); otherwise, OPEN included,
// the catalog decides and audits each one (kAskCatalog), so a freeze the
// catalog acknowledged holds here before this proxy's feed shows it. With no
// catalog to ask (a static freeze state) the cached policy alone decides and
// OPEN passes. Refused: 423 with the catalog's refusal and reason;
// a catalog that cannot be asked means 423 `catalog_unreachable`, with the
// details in the log, never in the answer.
#pragma once

#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/proxy_metrics.h"
#include "portal-proxy/stage.h"

namespace tandem::proxy {

class FreezeStage final : public Stage {
 public:
  // None owned; all must outlive the stage. `ask_catalog`: a ChangeChecker
  // answers kAskCatalog.
  FreezeStage(const ProductAdminApi* api, const FreezePolicy* policy,
              bool ask_catalog, ProxyMetrics* metrics)
      : api_(api),
        policy_(policy),
        ask_catalog_(ask_catalog),
        metrics_(metrics) {}

  StageResult Run(Exchange& exchange) const override;

 private:
  StageResult Decide(Exchange& exchange, const FreezeDecision& decision,
                     bool unreachable) const;

  const ProductAdminApi* api_;
  const FreezePolicy* policy_;
  bool ask_catalog_;
  ProxyMetrics* metrics_;
};

// Who asks for a product change, for the catalog's audit log: the identity
// header an SSO gateway sets (`identity_header_value`), else the user of
// Basic credentials, else a short fingerprint of a bearer token (never the
// token itself).
std::string AdminIdentity(std::string_view identity_header_value,
                          std::string_view authorization);

}  // namespace tandem::proxy
