#include "cli/migrator_commands.h"

#include <grpcpp/client_context.h>

#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/command_helpers.h"
#include "cli/migrator_helpers.h"
#include "common/status_macros.h"
#include "tandem/migrator/v1/migrator.grpc.pb.h"

namespace tandem::cli {
namespace {

namespace v1 = ::tandem::migrator::v1;
using Stub = v1::MigratorService::StubInterface;

using migrator_internal::CallMigrator;

absl::StatusOr<int64_t> CustomerArg(const CommandContext& ctx) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(ctx.args()[0], &id) || id <= 0) {
    return UsageError(
        absl::StrCat("customer id must be a positive integer, "
                     "not \"",
                     ctx.args()[0], "\""));
  }
  return id;
}

std::string Short(const std::string& proto_enum_name, const char* prefix) {
  const std::string p(prefix);
  return proto_enum_name.rfind(p, 0) == 0 ? proto_enum_name.substr(p.size())
                                          : proto_enum_name;
}

Table ItemTable(const v1::Batch& batch, const v1::BatchItem& item) {
  Table t(
      {"BATCH", "CUSTOMER", "STATE", "ROWS", "HELD_MS", "VERIFIED", "FAILURE"});
  std::string failure = "-";
  if (item.has_failure() && item.failure().kind() != 0) {
    failure = absl::StrCat(
        Short(v1::FailureKind_Name(item.failure().kind()), "FAILURE_KIND_"),
        ": ", item.failure().message());
  }
  t.AddRow({absl::StrCat(batch.batch_id(), " ", batch.name()),
            absl::StrCat(item.customer_id()),
            Short(v1::ItemState_Name(item.state()), "ITEM_STATE_"),
            absl::StrCat(item.rows_copied()), absl::StrCat(item.cutover_ms()),
            item.has_verification()
                ? (item.verification().equal() ? "equal" : "DIFFERENT")
                : "-",
            failure});
  return t;
}

absl::Status MoveOrRollback(CommandContext& ctx, bool rollback) {
  TANDEM_ASSIGN_OR_RETURN(int64_t customer, CustomerArg(ctx));
  v1::BatchOptions options;
  TANDEM_ASSIGN_OR_RETURN(int64_t cutover,
                          ctx.flags().GetInt64("cutover_timeout_ms", 0));
  TANDEM_ASSIGN_OR_RETURN(int64_t tail,
                          ctx.flags().GetInt64("tail_window_s", 0));
  options.set_cutover_timeout_ms(static_cast<int32_t>(cutover));
  options.set_tail_window_seconds(static_cast<int32_t>(tail));
  options.set_allow_rounding(ctx.flags().GetBool("allow_rounding"));
  if (!rollback && options.allow_rounding()) {
    return UsageError("--allow_rounding applies to a rollback");
  }
  const bool wait = !ctx.flags().GetBool("no_wait");
  const std::string request_id = RequestId(ctx);
  v1::Batch batch;
  v1::BatchItem item;
  if (ctx.flags().GetBool("dry_run")) {
    SayDryRun(ctx, "tandem.migrator.v1.MigratorService",
              rollback ? "RollbackCustomer" : "MoveCustomer");
    return absl::OkStatus();
  }
  if (rollback) {
    v1::RollbackCustomerRequest request;
    request.set_customer_id(customer);
    *request.mutable_options() = options;
    request.set_wait(wait);
    request.set_reason(ctx.flags().Get("reason"));
    request.set_request_id(request_id);
    v1::RollbackCustomerResponse response;
    TANDEM_RETURN_IF_ERROR(
        CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
          return stub.RollbackCustomer(call, request, &response);
        }));
    batch = response.batch();
    item = response.item();
    ctx.printer().Print(response, ItemTable(batch, item));
  } else {
    v1::MoveCustomerRequest request;
    request.set_customer_id(customer);
    *request.mutable_options() = options;
    request.set_wait(wait);
    request.set_reason(ctx.flags().Get("reason"));
    request.set_request_id(request_id);
    v1::MoveCustomerResponse response;
    TANDEM_RETURN_IF_ERROR(
        CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
          return stub.MoveCustomer(call, request, &response);
        }));
    batch = response.batch();
    item = response.item();
    ctx.printer().Print(response, ItemTable(batch, item));
  }
  if (item.state() == v1::ITEM_STATE_FAILED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "customer ", customer, " did not ", rollback ? "roll back" : "move",
        ": ", item.failure().message()));
  }
  return absl::OkStatus();
}

absl::Status CustomerMove(CommandContext& ctx) {
  return MoveOrRollback(ctx, false);
}
absl::Status CustomerRollback(CommandContext& ctx) {
  return MoveOrRollback(ctx, true);
}

absl::Status CustomerVerify(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t customer, CustomerArg(ctx));
  TANDEM_ASSIGN_OR_RETURN(int64_t max,
                          ctx.flags().GetInt64("max_differences", 0));
  v1::VerifyCustomerRequest request;
  request.set_customer_id(customer);
  request.set_max_differences(static_cast<int32_t>(max));
  v1::VerifyCustomerResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.VerifyCustomer(call, request, &response);
      }));
  const v1::Verification& v = response.verification();
  Table t({"TABLE", "SOURCE_ROWS", "TARGET_ROWS", "MISSING", "EXTRA",
           "DIFFERING", "NATIVE"});
  for (const v1::TableComparison& c : v.tables()) {
    t.AddRow({c.table(), absl::StrCat(c.source_rows()),
              absl::StrCat(c.target_rows()),
              absl::StrCat(c.missing_on_target()),
              absl::StrCat(c.extra_on_target()), absl::StrCat(c.differing()),
              absl::StrCat(c.native_on_target())});
  }
  ctx.printer().Print(response, t);
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.err() << "customer " << customer << ": "
              << (v.equal() ? "equal" : "DIFFERENT") << " ("
              << v.business_checks() << " business checks"
              << (v.after_move() ? ", after the move" : "") << ")\n";
    for (const v1::Difference& d : v.differences()) {
      ctx.err() << "  " << d.table() << " " << d.key() << " "
                << Short(v1::DifferenceKind_Name(d.kind()), "DIFFERENCE_KIND_")
                << (d.column().empty() ? "" : " " + d.column())
                << (d.source_value().empty() && d.target_value().empty()
                        ? ""
                        : absl::StrCat(": ", d.source_value(), " vs ",
                                       d.target_value()))
                << "\n";
    }
  }
  if (!v.equal()) {
    return absl::DataLossError(
        absl::StrCat("customer ", customer, " differs between the systems"));
  }
  return absl::OkStatus();
}

absl::Status MappingShow(CommandContext& ctx) {
  v1::GetMappingRequest request;
  request.set_include_tables(true);
  v1::GetMappingResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallMigrator(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetMapping(call, request, &response);
      }));
  const v1::SchemaMapping& m = response.mapping();
  Table t({"SOURCE_TABLE", "TARGET_TABLES", "OWNED_BY", "RENAMES",
           "CONVERSIONS", "JSON_SPLITS"});
  for (const v1::TableMappingSummary& s : m.tables()) {
    t.AddRow({s.source_table(), absl::StrJoin(s.target_tables(), ","),
              s.ownership_path(), absl::StrCat(s.column_renames()),
              absl::StrCat(s.conversions()), absl::StrCat(s.json_splits())});
  }
  ctx.printer().Print(response, t);
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.err() << m.path() << " (" << m.declared_version() << ", sha256 "
              << m.digest().substr(0, 12) << "): "
              << Short(v1::MappingStatus_Name(m.status()), "MAPPING_STATUS_")
              << "\n";
    for (const v1::MappingIssue& i : m.issues()) {
      ctx.err() << "  "
                << Short(v1::IssueSeverity_Name(i.severity()),
                         "ISSUE_SEVERITY_")
                << " " << i.location() << ": " << i.message() << "\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace

void AddMigratorCommands(CommandSet& commands) {
  commands.AddGroup({"customer"},
                    "Move, roll back and verify one customer (the migrator).");
  commands.AddGroup({"mapping"}, "The migrator's schema mapping.");
  const std::vector<FlagSpec> move_flags = {
      ReasonFlag(),
      RequestIdFlag(),
      DryRunFlag(),
      {"no_wait", "",
       "Return once the move is started instead of when the customer is "
       "flipped or failed."},
      {"cutover_timeout_ms", "MS",
       "The longest the customer may stay MIGRATING (held); default the "
       "migrator's."},
      {"tail_window_s", "S",
       "How long late writes on the old system are carried after the flip; "
       "default the migrator's."}};
  std::vector<FlagSpec> rollback_flags = move_flags;
  rollback_flags.push_back(
      {"allow_rounding", "",
       "Round money and durations the source cannot hold exactly (each "
       "rounding reported) instead of refusing."});
  commands.Add(
      CommandSpec({"customer", "move"},
                  "Move one customer from the source to the target, online.")
          .Args("<customer_id>", 1, 1)
          .Description(
              "Plans the customer's products, copies its rows while it is "
              "served, holds it for the cutover (MIGRATING with a lease), "
              "verifies rows and business totals, flips its route and "
              "carries late writes for the tail window. Exits 1 with the "
              "reason when the customer did not move (its route is left "
              "on the source). Needs the catalog frozen.")
          .Flags(move_flags)
          .DefaultTimeout(absl::Minutes(10))
          .Run(CustomerMove));
  commands.Add(
      CommandSpec({"customer", "rollback"},
                  "Move one customer back from the target to the source.")
          .Args("<customer_id>", 1, 1)
          .Description(
              "The move in reverse: what changed on the target since the move "
              "is carried back; rows nobody changed are kept as the source "
              "had them. Values the source cannot hold exactly refuse the "
              "rollback unless --allow_rounding.")
          .Flags(rollback_flags)
          .DefaultTimeout(absl::Minutes(10))
          .Run(CustomerRollback));
  commands.Add(
      CommandSpec({"customer", "verify"},
                  "Compare one customer on the two systems (read-only).")
          .Args("<customer_id>", 1, 1)
          .Description(
              "Rows (converted source against target) and business checks "
              "(each balance minus its transactions, totals per account and "
              "month). Exits 1 (DATA_LOSS) when they differ.")
          .Flags({{"max_differences", "N",
                   "Differences to list (default 100, at most 10,000)."}})
          .DefaultTimeout(absl::Minutes(2))
          .Run(CustomerVerify));
  commands.Add(CommandSpec({"mapping", "show"},
                           "Show the schema mapping the migrator loaded, "
                           "its status and its issues.")
                   .Run(MappingShow));
}

}  // namespace tandem::cli
