// The catalog's audit log: who changed or tried to change what, and when.
// Entries are written by the transaction that makes the change; refusals by
// the freeze are written here, after the refused transaction, and listed
// here (ListFreezeAudit).
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "catalog/catalog_metrics.h"
#include "catalog/catalog_store.h"
#include "catalog/freeze_rules.h"
#include "common/auth.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

// A change the freeze refused: what it was and the freeze's reason.
struct Refusal {
  ::tandem::catalog::v1::ProductChange change;
  std::string reason;
};

// What a product change's transaction ends in: a response (applied,
// unchanged or replayed), or a refusal by the freeze, which writes nothing
// in the transaction and is audited after it.
template <typename Response>
struct ChangeOutcome {
  Response response;
  std::optional<Refusal> refusal;
  // The change was made now (not replayed, not a no-op).
  bool applied = false;
};

// A ProductChange with its identifying fields set.
::tandem::catalog::v1::ProductChange ChangeOf(
    ::tandem::common::v1::System system, int64_t product_id,
    const std::string& code, ::tandem::catalog::v1::ChangeKind kind,
    ::tandem::catalog::v1::FreezeState state);

// The refusal of `change` by `decision`, with `detail`.
Refusal RefusalOf(::tandem::catalog::v1::ProductChange change,
                  const ChangeDecision& decision, const std::string& detail);

// An audit entry stamped now.
::tandem::catalog::v1::AuditEntry NewAudit(
    ::tandem::catalog::v1::AuditKind kind, const std::string& actor,
    const std::string& reason, const std::string& request_id);

class AuditLog {
 public:
  // Collaborators are not owned and must outlive the log.
  AuditLog(CatalogStore* store, CatalogMetrics* metrics)
      : store_(store), metrics_(metrics) {}

  // Counts, logs and audits a refused change. A failure to write the audit
  // entry is logged; the refusal stands either way.
  void Refused(const Principal& who, const Refusal& refusal,
               const std::string& request_id);

  // ListFreezeAudit: validates the filters, pages newest first with a
  // page token bound to the filters.
  absl::StatusOr<::tandem::catalog::v1::ListFreezeAuditResponse> List(
      const ::tandem::catalog::v1::ListFreezeAuditRequest& req);

 private:
  CatalogStore* const store_;
  CatalogMetrics* const metrics_;
};

}  // namespace tandem::catalog
