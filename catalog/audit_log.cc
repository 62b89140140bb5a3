#include "catalog/audit_log.h"

#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "catalog/request_checks.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::System;

v1::ProductChange ChangeOf(System system, int64_t product_id,
                           const std::string& code, v1::ChangeKind kind,
                           v1::FreezeState state) {
  v1::ProductChange change;
  change.set_system(system);
  change.set_product_id(product_id);
  change.set_product_code(code);
  change.set_kind(kind);
  change.set_freeze_state(state);
  return change;
}

Refusal RefusalOf(v1::ProductChange change, const ChangeDecision& decision,
                  const std::string& detail) {
  change.set_refusal(decision.refusal);
  change.set_detail(detail);
  return Refusal{std::move(change), decision.reason};
}

v1::AuditEntry NewAudit(v1::AuditKind kind, const std::string& actor,
                        const std::string& reason,
                        const std::string& request_id) {
  v1::AuditEntry entry;
  entry.set_kind(kind);
  entry.mutable_stamp()->set_actor(actor);
  entry.mutable_stamp()->set_reason(reason);
  entry.mutable_stamp()->set_at_unix_ms(NowMs());
  entry.set_request_id(request_id);
  return entry;
}

void AuditLog::Refused(const Principal& who, const Refusal& refusal,
                       const std::string& request_id) {
  const v1::ProductChange& change = refusal.change;
  metrics_->Refusal(change.refusal());
  TANDEM_LOG(Info, "change_refused")
      .With("system", SystemName(change.system()))
      .With("product_id", change.product_id())
      .With("kind", v1::ChangeKind_Name(change.kind()))
      .With("refusal", v1::ChangeRefusal_Name(change.refusal()))
      .With("actor", who.name);
  absl::Status audited = store_->RunTransaction(
      "audit refusal", [&](CatalogTxn& txn) -> absl::Status {
        v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_CHANGE_REFUSED, who.name,
                                        refusal.reason, request_id);
        *entry.mutable_change() = change;
        return txn.AppendAudit(std::move(entry)).status();
      });
  if (!audited.ok()) {
    // The refusal stands either way; only its audit entry is missing.
    TANDEM_LOG(Error, "refusal_not_audited").With("error", audited.ToString());
  }
}

namespace {

absl::Status ValidateAuditFilters(const v1::ListFreezeAuditRequest& req) {
  if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  }
  if (req.product_id() < 0 || req.since_unix_ms() < 0 ||
      req.until_unix_ms() < 0) {
    return absl::InvalidArgumentError(
        "product_id and the time bounds must not be negative");
  }
  if (req.product_id() != 0 &&
      req.system() == ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    return absl::InvalidArgumentError("product_id needs a system");
  }
  for (int kind : req.kinds()) {
    if (kind == v1::AUDIT_KIND_UNSPECIFIED || !v1::AuditKind_IsValid(kind)) {
      return absl::InvalidArgumentError("kinds must be audit kinds");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ListFreezeAuditResponse> AuditLog::List(
    const v1::ListFreezeAuditRequest& req) {
  TANDEM_ASSIGN_OR_RETURN(int page_size, PageSize(req.page_size()));
  TANDEM_RETURN_IF_ERROR(ValidateAuditFilters(req));
  // The page token carries the last sequence number and a hash of the
  // filters it belongs to.
  v1::ListFreezeAuditRequest filters = req;
  filters.clear_page_size();
  filters.clear_page_token();
  const std::string filter_hash =
      absl::StrCat(absl::Hash<std::string>()(filters.SerializeAsString()));
  AuditQuery query;
  if (!req.page_token().empty()) {
    std::vector<std::string> parts = absl::StrSplit(req.page_token(), '.');
    if (parts.size() != 2 || parts[1] != filter_hash ||
        !absl::SimpleAtoi(parts[0], &query.before_seq)) {
      return absl::InvalidArgumentError(
          "page_token does not belong to these filters");
    }
  }
  query.kinds.assign(req.kinds().begin(), req.kinds().end());
  query.system = req.system();
  query.product_id = req.product_id();
  query.since_unix_ms = req.since_unix_ms();
  query.until_unix_ms = req.until_unix_ms();
  query.limit = page_size + 1;
  TANDEM_ASSIGN_OR_RETURN(std::vector<v1::AuditEntry> entries,
                          store_->ListAudit(query));
  v1::ListFreezeAuditResponse response;
  for (v1::AuditEntry& entry : entries) {
    if (response.entries_size() == page_size) {
      response.set_next_page_token(absl::StrCat(
          response.entries(page_size - 1).seq(), ".", filter_hash));
      break;
    }
    *response.add_entries() = std::move(entry);
  }
  return response;
}

}  // namespace tandem::catalog
