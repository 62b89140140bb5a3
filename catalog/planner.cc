#include "catalog/planner.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catalog/request_checks.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;
using ::tandem::common::v1::Direction;

namespace {

// Customers PlanCustomers plans at once.
constexpr int kPlanReaders = 4;

// Adds one plan to the response's totals and results.
void AddResult(const v1::PlanCustomersRequest& req, int64_t customer_id,
               absl::StatusOr<v1::CustomerPlan> plan,
               std::map<int, int64_t>& counts,
               v1::PlanCustomersResponse* response) {
  v1::CustomerPlanResult* result = response->add_results();
  result->set_customer_id(customer_id);
  if (!plan.ok()) {
    result->set_error_code(
        GrpcCodeName(static_cast<grpc::StatusCode>(plan.status().code())));
    result->set_error_message(std::string(plan.status().message()));
    response->set_customers_failed(response->customers_failed() + 1);
    return;
  }
  if (plan->can_move()) {
    response->set_customers_can_move(response->customers_can_move() + 1);
  } else {
    response->set_customers_refused(response->customers_refused() + 1);
  }
  for (const v1::SubscriptionPlan& sub : plan->subscriptions()) {
    for (int outcome : sub.outcomes()) ++counts[outcome];
  }
  if (req.summary_only()) plan->clear_subscriptions();
  *result->mutable_plan() = *std::move(plan);
}

}  // namespace

absl::StatusOr<v1::CustomerPlan> Planner::PlanOne(
    const CatalogSnapshot& snapshot, int64_t customer_id, Direction direction,
    v1::FreezeState state) {
  const bool rollback = direction == ::tandem::common::v1::DIRECTION_ROLLBACK;
  const char* from_name = rollback ? "target" : "source";
  absl::StatusOr<CustomerSubscriptions> subs =
      (rollback ? target_ : source_)->ReadCustomer(customer_id);
  if (absl::IsNotFound(subs.status())) {
    return absl::NotFoundError(absl::StrCat(
        "customer ", customer_id, " is not on the ", from_name, " system"));
  }
  if (!subs.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the ", from_name,
                     " billing database: ", subs.status().message()));
  }
  if (!rollback && subs->status == "exported") {
    return absl::NotFoundError(absl::StrCat(
        "customer ", customer_id,
        " has been moved to the target already (exported on the source)"));
  }
  std::optional<CustomerSubscriptions> kept;
  if (rollback) {
    absl::StatusOr<CustomerSubscriptions> on_source =
        source_->ReadCustomer(customer_id);
    if (on_source.ok()) {
      kept = *std::move(on_source);
    } else if (!absl::IsNotFound(on_source.status())) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the source billing database: ",
                       on_source.status().message()));
    }
  }
  PlanInput input;
  input.direction = rollback ? direction : ::tandem::common::v1::DIRECTION_MOVE;
  input.from = *std::move(subs);
  input.kept_on_source = kept.has_value() ? &*kept : nullptr;
  input.freeze_state = state;
  input.now_unix_ms = NowMs();
  v1::CustomerPlan plan = catalog::PlanCustomer(snapshot, input);
  metrics_->Plan(plan);
  return plan;
}

absl::StatusOr<v1::PlanCustomerResponse> Planner::PlanCustomer(
    const v1::PlanCustomerRequest& req) {
  if (req.customer_id() <= 0) {
    return absl::InvalidArgumentError("customer_id must be positive");
  }
  if (!::tandem::common::v1::Direction_IsValid(req.direction())) {
    return absl::InvalidArgumentError("unknown direction");
  }
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, store_->LoadSnapshot());
  v1::PlanCustomerResponse response;
  TANDEM_ASSIGN_OR_RETURN(*response.mutable_plan(),
                          PlanOne(snapshot, req.customer_id(), req.direction(),
                                  state_->Freeze().state()));
  return response;
}

absl::StatusOr<v1::PlanCustomersResponse> Planner::PlanCustomers(
    const v1::PlanCustomersRequest& req) {
  if (req.customer_ids_size() == 0 || req.customer_ids_size() > 1000) {
    return absl::InvalidArgumentError("give 1 to 1,000 customer_ids");
  }
  for (int64_t id : req.customer_ids()) {
    if (id <= 0) {
      return absl::InvalidArgumentError("customer_ids must be positive");
    }
  }
  if (!::tandem::common::v1::Direction_IsValid(req.direction())) {
    return absl::InvalidArgumentError("unknown direction");
  }
  TANDEM_ASSIGN_OR_RETURN(CatalogSnapshot snapshot, store_->LoadSnapshot());
  const v1::FreezeState state = state_->Freeze().state();
  // Each plan waits on a few billing-database reads; a handful of readers
  // at once keep the database busy without taking the whole pool.
  const int n = req.customer_ids_size();
  std::vector<std::optional<absl::StatusOr<v1::CustomerPlan>>> plans(n);
  std::atomic<int> next{0};
  auto work = [&] {
    for (int i = next++; i < n; i = next++) {
      plans[i] = PlanOne(snapshot, req.customer_ids(i), req.direction(), state);
    }
  };
  std::vector<std::thread> readers;
  for (int t = 1; t < std::min(n, kPlanReaders); ++t) {
    readers.emplace_back(work);
  }
  work();
  for (std::thread& reader : readers) reader.join();
  v1::PlanCustomersResponse response;
  std::map<int, int64_t> counts;
  for (int i = 0; i < n; ++i) {
    AddResult(req, req.customer_ids(i), *std::move(plans[i]), counts,
              &response);
  }
  for (const auto& [outcome, subscriptions] : counts) {
    v1::OutcomeCount* count = response.add_outcome_counts();
    count->set_outcome(static_cast<v1::PlanOutcome>(outcome));
    count->set_subscriptions(subscriptions);
  }
  return response;
}

}  // namespace tandem::catalog
