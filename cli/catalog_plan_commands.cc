// tandemctl catalog plan: can these customers move? (changes nothing)
#include <vector>

#include "absl/time/time.h"
#include "cli/catalog_commands.h"
#include "cli/catalog_helpers.h"

namespace tandem::cli::catalog_internal {
namespace {

// PlanCustomers' limit; checked here so a long list is a usage error before
// anything is sent.
constexpr int kMaxPlanCustomers = 1000;

// Prints `message` as JSON or YAML, or `tables` one after another with a
// blank line between them: for results with a summary and details.
void PrintTables(CommandContext& ctx, const google::protobuf::Message& message,
                 const std::vector<Table>& tables) {
  if (ctx.printer().format() != OutputFormat::kTable) {
    ctx.printer().Print(message, Table({}));
    return;
  }
  for (size_t i = 0; i < tables.size(); ++i) {
    ctx.out() << (i == 0 ? "" : "\n") << tables[i].Render();
  }
  ctx.out().flush();
}

// --- plan

std::string JoinOrDash(
    const google::protobuf::RepeatedPtrField<std::string>& sentences) {
  return sentences.empty() ? "-" : absl::StrJoin(sentences, "; ");
}

std::vector<std::string> CustomerHeaders() {
  return {"CUSTOMER", "CAN_MOVE", "REASONS", "WARNINGS"};
}

std::vector<std::string> CustomerCells(const v1::CustomerPlan& plan) {
  return {absl::StrCat(plan.customer_id()), YesNo(plan.can_move()),
          JoinOrDash(plan.reasons()), JoinOrDash(plan.warnings())};
}

std::string ProductCode(const v1::ProductRef& product) {
  if (!product.code().empty()) {
    return product.code();
  }
  return product.product_id() == 0 ? "-"
                                   : absl::StrCat("#", product.product_id());
}

Table SubscriptionTable(const v1::CustomerPlan& plan) {
  Table table({"SUBSCRIPTION", "ACCOUNT", "PRODUCT", "CAN_MOVE", "OUTCOMES"});
  for (const v1::SubscriptionPlan& subscription : plan.subscriptions()) {
    std::vector<std::string> outcomes;
    for (int outcome : subscription.outcomes()) {
      outcomes.push_back(Label(static_cast<v1::PlanOutcome>(outcome)));
    }
    table.AddRow(
        {absl::StrCat(subscription.subscription_id()),
         OrDash(subscription.account_id()),
         absl::StrCat(ProductCode(subscription.source_product()), " -> ",
                      ProductCode(subscription.target_product())),
         YesNo(subscription.can_move()),
         outcomes.empty() ? "-" : absl::StrJoin(outcomes, ",")});
  }
  return table;
}

absl::Status Plan(CommandContext& ctx) {
  std::vector<int64_t> ids;
  for (const std::string& arg : ctx.args()) {
    TANDEM_ASSIGN_OR_RETURN(int64_t id, ParseId("customer_id", arg));
    ids.push_back(id);
  }
  if (ids.size() > static_cast<size_t>(kMaxPlanCustomers)) {
    return UsageError(absl::StrCat("at most ", kMaxPlanCustomers,
                                   " customers per plan, got ", ids.size()));
  }
  ::tandem::common::v1::Direction direction =
      ctx.flags().GetBool("rollback") ? ::tandem::common::v1::DIRECTION_ROLLBACK
                                      : ::tandem::common::v1::DIRECTION_MOVE;
  bool summary = ctx.flags().GetBool("summary");
  absl::string_view verb =
      ctx.flags().GetBool("rollback") ? "be rolled back" : "move";

  if (ids.size() == 1) {
    v1::PlanCustomerRequest request;
    request.set_customer_id(ids[0]);
    request.set_direction(direction);
    v1::PlanCustomerResponse response;
    TANDEM_RETURN_IF_ERROR(
        CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
          return stub.PlanCustomer(call, request, &response);
        }));
    const v1::CustomerPlan& plan = response.plan();
    Table customer(CustomerHeaders());
    customer.AddRow(CustomerCells(plan));
    std::vector<Table> tables = {customer};
    if (!summary && !plan.subscriptions().empty()) {
      tables.push_back(SubscriptionTable(plan));
    }
    PrintTables(ctx, response, tables);
    ctx.err() << "customer " << plan.customer_id()
              << (plan.can_move() ? " can " : " cannot ") << verb << " ("
              << plan.subscriptions_size() << " subscriptions, freeze "
              << FreezeStateLabel(plan.freeze_state()) << ")\n";
    return absl::OkStatus();
  }

  v1::PlanCustomersRequest request;
  request.mutable_customer_ids()->Assign(ids.begin(), ids.end());
  request.set_direction(direction);
  request.set_summary_only(summary);
  v1::PlanCustomersResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.PlanCustomers(call, request, &response);
      }));
  Table customers(CustomerHeaders());
  for (const v1::CustomerPlanResult& result : response.results()) {
    if (!result.error_code().empty()) {
      customers.AddRow(
          {absl::StrCat(result.customer_id()), "error",
           absl::StrCat(result.error_code(), ": ", result.error_message()),
           "-"});
    } else {
      customers.AddRow(CustomerCells(result.plan()));
    }
  }
  std::vector<Table> tables = {customers};
  if (!response.outcome_counts().empty()) {
    Table outcomes({"OUTCOME", "SUBSCRIPTIONS"});
    for (const v1::OutcomeCount& count : response.outcome_counts()) {
      outcomes.AddRow(
          {Label(count.outcome()), absl::StrCat(count.subscriptions())});
    }
    tables.push_back(outcomes);
  }
  PrintTables(ctx, response, tables);
  ctx.err() << response.customers_can_move() << " can " << verb << ", "
            << response.customers_refused() << " refused, "
            << response.customers_failed() << " could not be planned\n";
  return absl::OkStatus();
}

}  // namespace

void AddPlanCommand(CommandSet& commands) {
  commands.Add(
      CommandSpec({"catalog", "plan"},
                  "Can these customers move? (changes nothing)")
          .Args("<customer_id>...", 1, -1)
          .Description(
              "One line per customer: whether it can move, why not, and "
              "what the move will do that you must know. For one customer, "
              "also one line per subscription. Exits 0 when customers are "
              "refused or, for several, cannot be planned: it is a report. "
              "Default --timeout: 2m.")
          .Flags({{"rollback", "", "Plan the way back, target to source."},
                  {"summary", "", "Only the verdicts, without subscriptions."}})
          .DefaultTimeout(absl::Minutes(2))
          .Run(Plan));
}

}  // namespace tandem::cli::catalog_internal
