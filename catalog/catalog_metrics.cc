#include "catalog/catalog_metrics.h"

#include <string>

#include "absl/strings/strip.h"
#include "catalog/freeze_rules.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

CatalogMetrics::CatalogMetrics(prometheus::Registry* registry) {
  if (registry == nullptr) return;
  state_ = &prometheus::BuildGauge()
                .Name("tandem_catalog_freeze_state")
                .Help(
                    "The freeze state: 1 OPEN, 2 FROZEN, 3 "
                    "FROZEN_TARGET_OPEN, 4 LIFTED")
                .Register(*registry)
                .Add({});
  on_source_ = &prometheus::BuildGauge()
                    .Name("tandem_catalog_customers_on_source")
                    .Help(
                        "Customers keeping the freeze from lifting, as the "
                        "router last reported; -1 when unknown")
                    .Register(*registry)
                    .Add({});
  on_source_->Set(-1);
  transitions_ = &prometheus::BuildCounter()
                      .Name("tandem_catalog_freeze_transitions_total")
                      .Help("Freeze transitions made by this replica")
                      .Register(*registry);
  refusals_ = &prometheus::BuildCounter()
                   .Name("tandem_catalog_change_refusals_total")
                   .Help("Product changes refused by the freeze")
                   .Register(*registry);
  checks_ = &prometheus::BuildCounter()
                 .Name("tandem_catalog_change_checks_total")
                 .Help("CheckChange answers by result")
                 .Register(*registry);
  confirmations_ =
      &prometheus::BuildCounter()
           .Name("tandem_catalog_check_confirmations_total")
           .Help(
               "CheckChange answers the cache would allow, confirmed against "
               "the control database; cache=stale when it was behind")
           .Register(*registry);
  outcomes_ = &prometheus::BuildCounter()
                   .Name("tandem_catalog_plan_outcomes_total")
                   .Help("Subscriptions planned, by outcome")
                   .Register(*registry);
  plans_ = &prometheus::BuildCounter()
                .Name("tandem_catalog_plans_total")
                .Help("Customers planned, by verdict")
                .Register(*registry);
  drift_ = &prometheus::BuildCounter()
                .Name("tandem_catalog_drift_detected_total")
                .Help("Frozen products found changed behind the catalog's back")
                .Register(*registry)
                .Add({});
  applied_ = &prometheus::BuildCounter()
                  .Name("tandem_catalog_changes_applied_total")
                  .Help("Product changes applied through the catalog")
                  .Register(*registry)
                  .Add({});
}

void CatalogMetrics::SetFreezeState(v1::FreezeState state) {
  if (state_ != nullptr) state_->Set(state);
}

void CatalogMetrics::SetCustomersOnSource(int64_t customers) {
  if (on_source_ != nullptr) on_source_->Set(static_cast<double>(customers));
}

void CatalogMetrics::Transition(v1::FreezeState to, bool automatic) {
  if (transitions_ == nullptr) return;
  transitions_
      ->Add({{"to", FreezeStateName(to)},
             {"automatic", automatic ? "true" : "false"}})
      .Increment();
}

void CatalogMetrics::Refusal(v1::ChangeRefusal refusal) {
  if (refusals_ == nullptr) return;
  refusals_
      ->Add({{"refusal",
              std::string(absl::StripPrefix(v1::ChangeRefusal_Name(refusal),
                                            "CHANGE_REFUSAL_"))}})
      .Increment();
}

void CatalogMetrics::Check(bool allowed) {
  if (checks_ == nullptr) return;
  checks_->Add({{"result", allowed ? "allowed" : "refused"}}).Increment();
}

void CatalogMetrics::CheckConfirmed(bool current) {
  if (confirmations_ == nullptr) return;
  confirmations_->Add({{"cache", current ? "current" : "stale"}}).Increment();
}

void CatalogMetrics::Plan(const v1::CustomerPlan& plan) {
  if (outcomes_ == nullptr) return;
  plans_->Add({{"verdict", plan.can_move() ? "can_move" : "refused"}})
      .Increment();
  for (const v1::SubscriptionPlan& sub : plan.subscriptions()) {
    for (int outcome : sub.outcomes()) {
      outcomes_
          ->Add({{"outcome",
                  std::string(absl::StripPrefix(v1::PlanOutcome_Name(outcome),
                                                "PLAN_OUTCOME_"))}})
          .Increment();
    }
  }
}

void CatalogMetrics::Drift() {
  if (drift_ != nullptr) drift_->Increment();
}

void CatalogMetrics::Applied() {
  if (applied_ != nullptr) applied_->Increment();
}

}  // namespace tandem::catalog
