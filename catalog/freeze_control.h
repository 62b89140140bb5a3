// FreezeControl: the freeze's transitions (SetFreeze and the automatic
// lift) and the catalog's answer to "may this change be made?"
// (CheckChange), which the portal-proxy asks for product-admin requests.
//
// Transitions take the freeze row of the control database exclusively, so
// they wait for product changes in flight (which hold it shared) and
// changes that arrive after them wait for them, on every replica.
//
// CheckChange answers from this replica's cached state when that refuses.
// An answer that would let a change through is confirmed first against the
// control database by a read that starts after the call arrived (shared by
// concurrent calls, see coalesced_read.h): when the revision read is the
// cached one the cache is current and its answer stands; otherwise the
// change is decided on the freeze and the product as read. So once
// SetFreeze has answered on any replica, no replica allows a change the new
// state forbids.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "catalog/audit_log.h"
#include "catalog/catalog_metrics.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "catalog/coalesced_read.h"
#include "catalog/route_counts.h"
#include "common/auth.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class FreezeControl {
 public:
  // Collaborators are not owned and must outlive this.
  FreezeControl(CatalogStore* store, CatalogState* state, AuditLog* audit,
                CatalogMetrics* metrics, RouteCountsFn route_counts);

  // A transition requested by `who` (see SetFreezeRequest): legal moves
  // only, LIFTED only with nobody left on the source (unless forced), OPEN
  // again only before anybody moved; idempotent by request id. Answers once
  // the transition is committed (and this replica's cache holds it).
  absl::StatusOr<::tandem::catalog::v1::SetFreezeResponse> SetFreeze(
      const Principal& who, const ::tandem::catalog::v1::SetFreezeRequest& req);

  // Whether the freeze allows a change (see the file comment); a refusal is
  // counted and, unless `dry_run`, audited under `who`. UNAVAILABLE when an
  // allowance cannot be confirmed against the control database.
  absl::StatusOr<::tandem::catalog::v1::CheckChangeResponse> CheckChange(
      const Principal& who,
      const ::tandem::catalog::v1::CheckChangeRequest& req);

  // The router's counts (`known` false: it cannot be heard). In
  // FROZEN_TARGET_OPEN with auto_lift on, lifts the freeze by itself when
  // nobody is left on the source — never when the router has no routes at
  // all (an import not yet done, not a finished migration).
  void OnRouteCounts(const RouteCounts& counts, bool known);

 private:
  struct TransitionResult {
    ::tandem::catalog::v1::SetFreezeResponse response;
    bool changed = false;
  };
  absl::StatusOr<::tandem::catalog::v1::SetFreezeResponse> Transition(
      const std::string& actor,
      const ::tandem::catalog::v1::SetFreezeRequest& req, bool automatic);
  absl::StatusOr<TransitionResult> TransitionIn(
      CatalogTxn& txn, const std::string& actor,
      const ::tandem::catalog::v1::SetFreezeRequest& req, bool automatic,
      const std::optional<RouteCounts>& counts);
  void Announce(const std::string& actor,
                const ::tandem::catalog::v1::FreezeTransition& transition);
  // The decision on `req`, and the freeze it was made against.
  absl::StatusOr<ChangeDecision> Decide(
      const ::tandem::catalog::v1::CheckChangeRequest& req,
      ::tandem::catalog::v1::Freeze* freeze);

  CatalogStore* const store_;
  CatalogState* const state_;
  AuditLog* const audit_;
  CatalogMetrics* const metrics_;
  const RouteCountsFn route_counts_;
  CoalescedRead<FreezeProbe> probe_;
  // One automatic lift attempt at a time.
  absl::Mutex lift_mu_;
};

}  // namespace tandem::catalog
