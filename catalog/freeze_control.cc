#include "catalog/freeze_control.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "catalog/request_checks.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

namespace {

absl::Status ValidateSetFreeze(const v1::SetFreezeRequest& req) {
  if (req.state() == v1::FREEZE_STATE_UNSPECIFIED ||
      !v1::FreezeState_IsValid(req.state())) {
    return absl::InvalidArgumentError("state must be a freeze state");
  }
  if (req.reason().empty()) {
    return absl::InvalidArgumentError("reason is required");
  }
  if (req.reason().size() > 1024) {
    return absl::InvalidArgumentError("reason must be at most 1,024 bytes");
  }
  if (req.expected_version() < 0) {
    return absl::InvalidArgumentError("expected_version must not be negative");
  }
  if (req.force() && req.state() != v1::FREEZE_STATE_LIFTED) {
    return absl::InvalidArgumentError("force applies only to LIFTED");
  }
  return ValidateRequestId(req.request_id());
}

absl::Status ValidateCheck(const v1::CheckChangeRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  if (req.kind() == v1::CHANGE_KIND_UNSPECIFIED ||
      !v1::ChangeKind_IsValid(req.kind())) {
    return absl::InvalidArgumentError("kind must be a change kind");
  }
  if (req.kind() == v1::CHANGE_KIND_CREATE ? req.product_id() != 0
                                           : req.product_id() <= 0) {
    return absl::InvalidArgumentError(
        "product_id must be 0 for CREATE and positive otherwise");
  }
  if (req.detail().size() > 1024 || req.on_behalf_of().size() > 256) {
    return absl::InvalidArgumentError(
        "detail must be at most 1,024 bytes and on_behalf_of at most 256");
  }
  return absl::OkStatus();
}

// The route preconditions of a transition to `to`. Sets `forced` when a
// lift goes ahead only because it was forced.
absl::Status CheckRoutes(const v1::SetFreezeRequest& req,
                         const std::optional<RouteCounts>& counts,
                         bool* forced) {
  *forced = false;
  if (req.state() == v1::FREEZE_STATE_LIFTED &&
      (!counts.has_value() || counts->on_source() > 0)) {
    if (!req.force()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot lift the freeze: ", counts->on_source(),
          " customers are still on the source or migrating (force to lift "
          "anyway)"));
    }
    *forced = true;
  }
  if (req.state() == v1::FREEZE_STATE_OPEN && counts->started_moving() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open the catalog again: ", counts->started_moving(),
        " customers have started moving"));
  }
  return absl::OkStatus();
}

}  // namespace

FreezeControl::FreezeControl(CatalogStore* store, CatalogState* state,
                             AuditLog* audit, CatalogMetrics* metrics,
                             RouteCountsFn route_counts)
    : store_(store),
      state_(state),
      audit_(audit),
      metrics_(metrics),
      route_counts_(std::move(route_counts)),
      probe_([store] { return store->ProbeFreeze(); }) {}

absl::StatusOr<v1::SetFreezeResponse> FreezeControl::SetFreeze(
    const Principal& who, const v1::SetFreezeRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSetFreeze(req));
  return Transition(who.name, req, /*automatic=*/false);
}

absl::StatusOr<v1::SetFreezeResponse> FreezeControl::Transition(
    const std::string& actor, const v1::SetFreezeRequest& req, bool automatic) {
  // The route preconditions are asked before the transaction so that it
  // does not wait on the network while holding the freeze row.
  std::optional<RouteCounts> counts;
  if (req.state() == v1::FREEZE_STATE_LIFTED ||
      req.state() == v1::FREEZE_STATE_OPEN) {
    absl::StatusOr<RouteCounts> fresh = route_counts_();
    if (fresh.ok()) {
      counts = *fresh;
    } else if (!(req.state() == v1::FREEZE_STATE_LIFTED && req.force())) {
      return absl::UnavailableError(
          absl::StrCat("cannot ask the router where customers are: ",
                       fresh.status().message()));
    }
  }
  TANDEM_ASSIGN_OR_RETURN(TransitionResult result,
                          Transact(*store_, "set freeze", [&](CatalogTxn& txn) {
                            return TransitionIn(txn, actor, req, automatic,
                                                counts);
                          }));
  if (result.changed) {
    metrics_->Transition(req.state(), automatic);
    Announce(actor, result.response.transition());
    absl::Status reloaded = state_->Reload(/*force=*/true);
    if (!reloaded.ok()) {
      TANDEM_LOG(Warning, "catalog_reload_failed")
          .With("error", reloaded.ToString());
    }
  }
  state_->Decorate(result.response.mutable_freeze());
  return std::move(result.response);
}

absl::StatusOr<FreezeControl::TransitionResult> FreezeControl::TransitionIn(
    CatalogTxn& txn, const std::string& actor, const v1::SetFreezeRequest& req,
    bool automatic, const std::optional<RouteCounts>& counts) {
  TransitionResult result;
  TANDEM_ASSIGN_OR_RETURN(
      bool replayed,
      txn.FindRequest(req.request_id(), "SetFreeze", &result.response));
  if (replayed) return result;
  TANDEM_ASSIGN_OR_RETURN(FreezeRow row, txn.ReadFreeze(RowLock::kExclusive));
  const v1::Freeze& current = row.freeze;
  if (req.expected_version() != 0 &&
      req.expected_version() != current.version()) {
    return absl::AbortedError(
        absl::StrCat("freeze version is ", current.version(), ", not ",
                     req.expected_version(), "; re-read and retry"));
  }
  if (req.state() == current.state()) {
    *result.response.mutable_freeze() = current;
    return result;
  }
  if (!IsLegalTransition(current.state(), req.state())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "illegal freeze transition ", FreezeStateName(current.state()), " -> ",
        FreezeStateName(req.state())));
  }
  bool forced = false;
  TANDEM_RETURN_IF_ERROR(CheckRoutes(req, counts, &forced));
  FreezeRow after;
  after.freeze = current;
  after.freeze.set_state(req.state());
  after.freeze.set_version(current.version() + 1);
  after.freeze.mutable_stamp()->set_actor(actor);
  after.freeze.mutable_stamp()->set_reason(req.reason());
  after.freeze.mutable_stamp()->set_at_unix_ms(NowMs());
  after.previous = current.state();
  after.automatic = automatic;
  after.forced = forced;
  TANDEM_RETURN_IF_ERROR(txn.WriteFreeze(after));
  v1::FreezeTransition* transition = result.response.mutable_transition();
  transition->set_from_state(current.state());
  transition->set_to_state(req.state());
  transition->set_version(after.freeze.version());
  transition->set_automatic(automatic);
  transition->set_forced(forced);
  v1::AuditEntry entry = NewAudit(v1::AUDIT_KIND_FREEZE_TRANSITION, actor,
                                  req.reason(), req.request_id());
  entry.mutable_stamp()->set_at_unix_ms(after.freeze.stamp().at_unix_ms());
  *entry.mutable_transition() = *transition;
  TANDEM_RETURN_IF_ERROR(txn.AppendAudit(std::move(entry)).status());
  TANDEM_RETURN_IF_ERROR(txn.BumpRevision());
  *result.response.mutable_freeze() = after.freeze;
  TANDEM_RETURN_IF_ERROR(
      txn.SaveRequest(req.request_id(), "SetFreeze", result.response));
  result.changed = true;
  return result;
}

void FreezeControl::Announce(const std::string& actor,
                             const v1::FreezeTransition& transition) {
  TANDEM_LOG(Info, "freeze_transition")
      .With("from", FreezeStateName(transition.from_state()))
      .With("to", FreezeStateName(transition.to_state()))
      .With("version", transition.version())
      .With("actor", actor)
      .With("automatic", transition.automatic())
      .With("forced", transition.forced());
}

void FreezeControl::OnRouteCounts(const RouteCounts& counts, bool known) {
  state_->SetCustomersOnSource(known ? counts.on_source() : -1);
  const v1::Freeze freeze = state_->Freeze();
  // An empty router has not been imported yet: that is not "everyone has
  // moved", so it never lifts the freeze.
  if (!known || !freeze.auto_lift() ||
      freeze.state() != v1::FREEZE_STATE_FROZEN_TARGET_OPEN ||
      counts.on_source() != 0 || counts.total() == 0) {
    return;
  }
  if (!lift_mu_.TryLock()) return;
  v1::SetFreezeRequest req;
  req.set_state(v1::FREEZE_STATE_LIFTED);
  req.set_expected_version(freeze.version());
  req.set_reason(absl::StrCat("no customer left on the source (",
                              counts.target_stable,
                              " customers on the target)"));
  // Transition asks the router again before it commits.
  absl::StatusOr<v1::SetFreezeResponse> lifted =
      Transition(kSelfActor, req, /*automatic=*/true);
  lift_mu_.Unlock();
  if (!lifted.ok() && !absl::IsAborted(lifted.status())) {
    TANDEM_LOG(Warning, "automatic_lift_failed")
        .With("error", lifted.status().ToString());
  }
}

absl::StatusOr<v1::CheckChangeResponse> FreezeControl::CheckChange(
    const Principal& who, const v1::CheckChangeRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateCheck(req));
  v1::CheckChangeResponse response;
  TANDEM_ASSIGN_OR_RETURN(ChangeDecision decision,
                          Decide(req, response.mutable_freeze()));
  response.set_allowed(decision.allowed);
  response.set_refusal(decision.refusal);
  response.set_reason(decision.reason);
  metrics_->Check(decision.allowed);
  if (!decision.allowed && !req.dry_run()) {
    v1::ProductChange change;
    change.set_system(req.system());
    change.set_product_id(req.product_id());
    change.set_kind(req.kind());
    change.set_freeze_state(response.freeze().state());
    change.set_on_behalf_of(req.on_behalf_of());
    audit_->Refused(who, RefusalOf(std::move(change), decision, req.detail()),
                    "");
  }
  return response;
}

absl::StatusOr<ChangeDecision> FreezeControl::Decide(
    const v1::CheckChangeRequest& req, v1::Freeze* freeze) {
  const CatalogState::View view =
      state_->ViewOf(req.system(), req.product_id());
  *freeze = view.freeze;
  ChangeDecision cached =
      DecideChange(view.freeze, req.system(), req.kind(), view.facts);
  // A refusal from the cache stands: at worst a transition that loosened
  // the freeze a moment ago is not seen yet, and the change fails closed.
  if (!cached.allowed) return cached;
  TANDEM_ASSIGN_OR_RETURN(FreezeProbe probe, probe_.Get());
  const bool current = probe.revision == view.revision;
  metrics_->CheckConfirmed(current);
  if (current) return cached;
  // The cache is behind: decide on what the control database holds now,
  // and have the cache catch up.
  state_->Poke();
  ProductFacts facts;
  if (req.kind() != v1::CHANGE_KIND_CREATE) {
    TANDEM_ASSIGN_OR_RETURN(
        std::optional<ProductRow> row,
        store_->ReadProduct(req.system(), req.product_id()));
    if (row.has_value()) facts = FactsOf(*row);
  }
  *freeze = probe.freeze;
  state_->Decorate(freeze);
  return DecideChange(probe.freeze, req.system(), req.kind(), facts);
}

}  // namespace tandem::catalog
