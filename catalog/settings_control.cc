#include "catalog/settings_control.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "catalog/audit_log.h"
#include "catalog/request_checks.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

v1::GetSettingsResponse SettingsControl::Get() const {
  v1::GetSettingsResponse response;
  *response.mutable_settings() = state_->Settings();
  return response;
}

absl::StatusOr<v1::UpdateSettingsResponse> SettingsControl::Update(
    const Principal& who, const v1::UpdateSettingsRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateRequestId(req.request_id()));
  if (req.expected_version() <= 0) {
    return absl::InvalidArgumentError(
        "expected_version must be the version read");
  }
  TANDEM_ASSIGN_OR_RETURN(
      Updated updated,
      Transact(*store_, "update settings",
               [&](CatalogTxn& txn) { return UpdateIn(txn, who, req); }));
  if (updated.changed) (void)state_->Reload(/*force=*/true);
  return std::move(updated.response);
}

absl::StatusOr<SettingsControl::Updated> SettingsControl::UpdateIn(
    CatalogTxn& txn, const Principal& who,
    const v1::UpdateSettingsRequest& req) {
  Updated out;
  TANDEM_ASSIGN_OR_RETURN(
      bool replayed,
      txn.FindRequest(req.request_id(), "UpdateSettings", &out.response));
  if (replayed) return out;
  TANDEM_ASSIGN_OR_RETURN(v1::CatalogSettings current,
                          txn.ReadSettings(RowLock::kExclusive));
  if (current.version() != req.expected_version()) {
    return absl::AbortedError(
        absl::StrCat("settings version is ", current.version(), ", not ",
                     req.expected_version(), "; re-read and retry"));
  }
  if (current.allow_overuse_default() == req.allow_overuse_default() &&
      current.auto_lift() == req.auto_lift()) {
    *out.response.mutable_settings() = current;
    return out;
  }
  v1::CatalogSettings after;
  after.set_allow_overuse_default(req.allow_overuse_default());
  after.set_auto_lift(req.auto_lift());
  after.set_version(current.version() + 1);
  after.mutable_stamp()->set_actor(who.name);
  after.mutable_stamp()->set_reason(req.reason());
  after.mutable_stamp()->set_at_unix_ms(NowMs());
  TANDEM_RETURN_IF_ERROR(txn.WriteSettings(after));
  v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_SETTINGS_CHANGED, who.name,
                                  req.reason(), req.request_id());
  *entry.mutable_settings() = after;
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(entry)).status());
  TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  *out.response.mutable_settings() = after;
  TANDEM_RETURN_IF_ERROR(
      txn.SaveRequest(req.request_id(), "UpdateSettings", out.response));
  out.changed = true;
  return out;
}

}  // namespace tandem::catalog
