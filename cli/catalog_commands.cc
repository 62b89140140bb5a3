#include "cli/catalog_commands.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/generated_enum_reflection.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/command_helpers.h"
#include "cli/router_commands.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"

namespace tandem::cli {
namespace {

namespace v1 = ::tandem::catalog::v1;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::tandem::common::v1::AuditStamp;
using ::tandem::common::v1::System;
using Stub = v1::CatalogService::StubInterface;

// PlanCustomers' limit; checked here so a long list is a usage error before
// anything is sent.
constexpr int kMaxPlanCustomers = 1000;

// --- Calls

// Runs one unary call `fn(stub, context)` against the catalog.
template <typename Fn>
absl::Status CallCatalog(CommandContext& ctx, Fn&& fn) {
  return CallService<v1::CatalogService>(ctx, ctx.globals().catalog,
                                         std::forward<Fn>(fn));
}

// Calls a list method page after page (only the first unless `all`), and
// collects the items `items(response)` returns into `result`, which ends
// with the last page's next_page_token.
template <typename Request, typename Response, typename Items>
absl::Status FetchPages(CommandContext& ctx, Request request, bool all,
                        grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                     const Request&, Response*),
                        Items items, Response* result) {
  while (true) {
    Response page;
    TANDEM_RETURN_IF_ERROR(
        CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
          return (stub.*method)(call, request, &page);
        }));
    for (auto& item : *items(page)) {
      *items(*result)->Add() = std::move(item);
    }
    result->set_next_page_token(page.next_page_token());
    if (!all || page.next_page_token().empty()) {
      return absl::OkStatus();
    }
    request.set_page_token(page.next_page_token());
  }
}

// --- Enum names
//
// Every catalog enum has a `<PREFIX>_UNSPECIFIED = 0` value, so the prefix
// is read from the descriptor instead of being spelled out per enum.

std::string EnumPrefix(const EnumDescriptor* descriptor) {
  std::string zero(descriptor->FindValueByNumber(0)->name());
  absl::string_view prefix = zero;
  absl::ConsumeSuffix(&prefix, "UNSPECIFIED");
  return std::string(prefix);
}

std::string LabelOf(const EnumDescriptor* descriptor, int number) {
  if (number == 0) {
    return "-";
  }
  const EnumValueDescriptor* value = descriptor->FindValueByNumber(number);
  if (value == nullptr) {
    return absl::StrCat(number);  // A value newer than this tandemctl.
  }
  std::string full(value->name());
  absl::string_view name = full;
  absl::ConsumePrefix(&name, EnumPrefix(descriptor));
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", "-"}});
}

template <typename Enum>
std::string Label(Enum value) {
  return LabelOf(google::protobuf::GetEnumDescriptor<Enum>(),
                 static_cast<int>(value));
}

// `text` ("frozen-target-open", "FROZEN_TARGET_OPEN",
// "FREEZE_STATE_FROZEN_TARGET_OPEN") to a value other than UNSPECIFIED;
// anything else is a usage error naming `what` and the accepted names.
template <typename Enum>
absl::StatusOr<Enum> ParseEnum(absl::string_view what, absl::string_view text) {
  const EnumDescriptor* descriptor =
      google::protobuf::GetEnumDescriptor<Enum>();
  std::string prefix = EnumPrefix(descriptor);
  std::string name =
      absl::StrReplaceAll(absl::AsciiStrToUpper(text), {{"-", "_"}});
  if (!absl::StartsWith(name, prefix)) {
    name = absl::StrCat(prefix, name);
  }
  const EnumValueDescriptor* value = descriptor->FindValueByName(name);
  if (text.empty() || value == nullptr || value->number() == 0) {
    std::vector<std::string> accepted;
    for (int i = 0; i < descriptor->value_count(); ++i) {
      if (descriptor->value(i)->number() != 0) {
        accepted.push_back(LabelOf(descriptor, descriptor->value(i)->number()));
      }
    }
    return UsageError(
        absl::StrCat("unknown ", what, " `", text,
                     "`; want one of: ", absl::StrJoin(accepted, ", ")));
  }
  return static_cast<Enum>(value->number());
}

// --- Formatting

std::string OrDash(absl::string_view text) {
  return text.empty() ? "-" : std::string(text);
}

std::string YesNo(bool value) { return value ? "yes" : "no"; }

// "EUR 12.50": at least two decimals, more only when the micros need them.
std::string FormatMoney(const v1::Pricing& pricing) {
  int64_t micros = pricing.monthly_fee_micros();
  std::string fraction = absl::StrFormat("%06d", micros % 1000000);
  while (fraction.size() > 2 && fraction.back() == '0') {
    fraction.pop_back();
  }
  return absl::StrCat(OrDash(pricing.currency()), " ", micros / 1000000, ".",
                      fraction);
}

template <typename Ids>
std::string JoinIds(const Ids& ids) {
  return ids.empty() ? "-" : absl::StrJoin(ids, ",");
}

// What a comparison says is not clean, for one table cell.
std::string ComparisonNotes(const v1::ProductComparison& comparison) {
  std::vector<std::string> notes;
  if (!comparison.contract_pool_matches()) {
    notes.push_back("contract pool differs");
  }
  for (const v1::ResourceTypeComparison& type : comparison.resource_types()) {
    if (type.comparison() == v1::RESOURCE_COMPARISON_SAME_OR_GREATER) {
      continue;
    }
    std::string note =
        absl::StrCat(type.source_code(), ": ", Label(type.comparison()));
    if (!type.target_code().empty() &&
        type.target_code() != type.source_code()) {
      absl::StrAppend(&note, " by ", type.target_code());
    }
    notes.push_back(std::move(note));
  }
  if (!comparison.addons_not_carried_product_ids().empty()) {
    notes.push_back(
        absl::StrCat("add-ons not carried: ",
                     JoinIds(comparison.addons_not_carried_product_ids())));
  }
  if (comparison.activation_parameters_differ()) {
    notes.push_back("activation parameters rewritten");
  }
  if (!comparison.added_resource_type_codes().empty()) {
    notes.push_back(absl::StrCat(
        "new on target: ",
        absl::StrJoin(comparison.added_resource_type_codes(), ",")));
  }
  return notes.empty() ? "-" : absl::StrJoin(notes, "; ");
}

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

void SayDryRun(CommandContext& ctx, absl::string_view method) {
  cli::SayDryRun(ctx, "CatalogService", method);
}

void SayMorePages(CommandContext& ctx, absl::string_view what,
                  const std::string& next_page_token) {
  if (!next_page_token.empty()) {
    ctx.err() << "more " << what
              << " follow: add --page_token=" << next_page_token
              << " for the next page, or --all\n";
  }
}

// --- Flags of the catalog commands (the mutation flags are in
// command_helpers.h)

FlagSpec SystemFlag(absl::string_view help) {
  return {"system", "source|target", std::string(help)};
}
FlagSpec PageSizeFlag() {
  return {"page_size", "N", "Items per call; 0 is the default (100)."};
}
FlagSpec PageTokenFlag() {
  return {"page_token", "TOKEN", "Continue after a previous page."};
}
FlagSpec AllFlag() { return {"all", "", "Follow every page to the end."}; }

bool DryRun(const CommandContext& ctx) {
  return ctx.flags().GetBool("dry_run");
}

// A positive id, from the text of argument or flag `what`.
absl::StatusOr<int64_t> ParseId(absl::string_view what,
                                absl::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return UsageError(
        absl::StrCat(what, " must be a positive integer, got `", text, "`"));
  }
  return id;
}

absl::StatusOr<int64_t> IdFlag(const CommandContext& ctx,
                               absl::string_view name) {
  if (!ctx.flags().Has(name)) {
    return 0;
  }
  return ParseId(absl::StrCat("--", name), ctx.flags().Get(name));
}

absl::StatusOr<int64_t> VersionFlag(const CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t version,
                          ctx.flags().GetInt64("expected_version", 0));
  if (version < 0) {
    return UsageError("--expected_version must not be negative");
  }
  return version;
}

absl::StatusOr<System> SystemArg(absl::string_view text) {
  return ParseEnum<System>("system", text);
}

// --system, or UNSPECIFIED when not given.
absl::StatusOr<System> OptionalSystemFlag(const CommandContext& ctx) {
  if (!ctx.flags().Has("system")) {
    return ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  }
  return SystemArg(ctx.flags().Get("system"));
}

absl::StatusOr<int32_t> PageSize(const CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t page_size,
                          ctx.flags().GetInt64("page_size", 0));
  if (page_size < 0 || page_size > 1000) {
    return UsageError("--page_size must be between 0 (the default) and 1000");
  }
  return static_cast<int32_t>(page_size);
}

// "true" or "false" for a flag that takes one (unlike a switch, leaving it
// out means "unchanged", not false).
absl::StatusOr<bool> BoolValue(const CommandContext& ctx,
                               absl::string_view name) {
  std::string value = absl::AsciiStrToLower(ctx.flags().Get(name));
  if (value == "true") {
    return true;
  }
  if (value == "false") {
    return false;
  }
  return UsageError(absl::StrCat("--", name, " wants true or false, got `",
                                 ctx.flags().Get(name), "`"));
}

// --- freeze

std::string CustomersOnSource(int64_t count) {
  return count < 0 ? "unknown" : absl::StrCat(count);
}

Table FreezeTable(const v1::Freeze& freeze) {
  Table table({"STATE", "VERSION", "CUSTOMERS_ON_SOURCE", "AUTO_LIFT",
               "CHANGED_BY", "CHANGED_AT", "REASON"});
  table.AddRow({FreezeStateLabel(freeze.state()),
                absl::StrCat(freeze.version()),
                CustomersOnSource(freeze.customers_on_source()),
                YesNo(freeze.auto_lift()), OrDash(freeze.stamp().actor()),
                FormatUnixMillis(freeze.stamp().at_unix_ms()),
                OrDash(freeze.stamp().reason())});
  return table;
}

std::string TransitionText(const v1::FreezeTransition& transition) {
  std::string text =
      absl::StrCat(FreezeStateLabel(transition.from_state()), " -> ",
                   FreezeStateLabel(transition.to_state()));
  if (transition.automatic()) {
    absl::StrAppend(&text, " (automatic)");
  }
  if (transition.forced()) {
    absl::StrAppend(&text, " (forced)");
  }
  return text;
}

absl::Status FreezeGet(CommandContext& ctx) {
  v1::GetFreezeResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetFreeze(call, v1::GetFreezeRequest(), &response);
      }));
  ctx.printer().Print(response, FreezeTable(response.freeze()));
  return absl::OkStatus();
}

absl::Status FreezeSet(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(v1::FreezeState state,
                          ParseFreezeState(ctx.args()[0]));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, VersionFlag(ctx));
  if (ctx.flags().Get("reason").empty()) {
    return UsageError(
        "--reason must not be empty: every freeze transition is audited");
  }
  bool force = ctx.flags().GetBool("force");
  if (force && state != v1::FREEZE_STATE_LIFTED) {
    return UsageError("--force only applies to `lifted`");
  }
  v1::SetFreezeRequest request;
  request.set_state(state);
  request.set_expected_version(version);
  request.set_reason(ctx.flags().Get("reason"));
  request.set_force(force);
  request.set_request_id(RequestId(ctx));
  if (DryRun(ctx)) {
    Table table({"STATE", "EXPECTED_VERSION", "FORCE", "REQUEST_ID", "REASON"});
    table.AddRow({FreezeStateLabel(state), absl::StrCat(version), YesNo(force),
                  request.request_id(), request.reason()});
    ctx.printer().Print(request, table);
    SayDryRun(ctx, "SetFreeze");
    return absl::OkStatus();
  }
  v1::SetFreezeResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.SetFreeze(call, request, &response);
      }));
  ctx.printer().Print(response, FreezeTable(response.freeze()));
  if (response.transition().to_state() == v1::FREEZE_STATE_UNSPECIFIED) {
    ctx.err() << "the freeze already was "
              << FreezeStateLabel(response.freeze().state())
              << "; nothing changed\n";
  } else {
    ctx.err() << "freeze: " << TransitionText(response.transition())
              << " (version " << response.transition().version() << ")\n";
  }
  return absl::OkStatus();
}

// Fixed widths, since a stream cannot be measured before it is printed; the
// three-space gaps match Table's.
constexpr char kFreezeWatchFormat[] =
    "%-7s   %-20s   %-14s   %-45s   %-19s   %s";

std::string FreezeWatchLine(const v1::WatchFreezeResponse& event) {
  const v1::Freeze& freeze = event.freeze();
  bool is_transition =
      event.transition().to_state() != v1::FREEZE_STATE_UNSPECIFIED;
  return absl::StrFormat(
      kFreezeWatchFormat, absl::StrCat(freeze.version()),
      FormatUnixMillis(freeze.stamp().at_unix_ms()),
      OrDash(freeze.stamp().actor()),
      is_transition
          ? TransitionText(event.transition())
          : absl::StrCat("current: ", FreezeStateLabel(freeze.state())),
      CustomersOnSource(freeze.customers_on_source()),
      OrDash(freeze.stamp().reason()));
}

absl::Status FreezeWatch(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t count, ctx.flags().GetInt64("count", 0));
  if (count < 0) {
    return UsageError("--count must not be negative");
  }
  const std::string& target = ctx.globals().catalog;
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                          ctx.Channel(target));
  std::unique_ptr<Stub> stub = v1::CatalogService::NewStub(channel);
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<grpc::ClientContext> call,
                          ctx.NewCall());
  std::unique_ptr<grpc::ClientReaderInterface<v1::WatchFreezeResponse>> reader =
      stub->WatchFreeze(call.get(), v1::WatchFreezeRequest());
  ctx.err() << "watching the freeze"
            << (count > 0 ? absl::StrCat(" (stopping after ", count, " events)")
                          : std::string(" (Ctrl-C to stop)"))
            << "; the first line is the freeze now\n";
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.out() << absl::StrFormat(kFreezeWatchFormat, "VERSION", "AT", "ACTOR",
                                 "EVENT", "CUSTOMERS_ON_SOURCE", "REASON")
              << "\n"
              << std::flush;
  }
  int64_t printed = 0;
  v1::WatchFreezeResponse event;
  while (reader->Read(&event)) {
    ctx.printer().PrintStreamItem(event, FreezeWatchLine(event));
    if (count > 0 && ++printed >= count) {
      call->TryCancel();
      reader->Finish().IgnoreError();
      return absl::OkStatus();
    }
  }
  grpc::Status status = reader->Finish();
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      ctx.globals().timeout.has_value()) {
    return absl::OkStatus();  // --timeout bounds a watch on purpose.
  }
  if (status.ok()) {
    return absl::UnavailableError(
        "the catalog ended the stream (shutting down?); run the watch again");
  }
  return ctx.CallError(status, target);
}

// --- check

absl::Status Check(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(System system, SystemArg(ctx.args()[0]));
  TANDEM_ASSIGN_OR_RETURN(
      v1::ChangeKind kind,
      ParseEnum<v1::ChangeKind>("change kind", ctx.args()[1]));
  int64_t product_id = 0;
  if (ctx.args().size() > 2) {
    TANDEM_ASSIGN_OR_RETURN(product_id, ParseId("product_id", ctx.args()[2]));
  }
  if (kind == v1::CHANGE_KIND_CREATE && product_id != 0) {
    return UsageError("`create` is about a new product: give no product_id");
  }
  if (kind != v1::CHANGE_KIND_CREATE && product_id == 0) {
    return UsageError(absl::StrCat("`", Label(kind),
                                   "` is about an existing product: give its "
                                   "product_id"));
  }
  v1::CheckChangeRequest request;
  request.set_system(system);
  request.set_product_id(product_id);
  request.set_kind(kind);
  request.set_on_behalf_of(ctx.flags().Get("on_behalf_of"));
  request.set_detail(ctx.flags().Get("detail"));
  request.set_dry_run(DryRun(ctx));
  v1::CheckChangeResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.CheckChange(call, request, &response);
      }));
  Table table({"ALLOWED", "REFUSAL", "FREEZE", "REASON"});
  table.AddRow({YesNo(response.allowed()), Label(response.refusal()),
                FreezeStateLabel(response.freeze().state()),
                OrDash(response.reason())});
  ctx.printer().Print(response, table);
  if (!response.allowed()) {
    ctx.err() << (request.dry_run()
                      ? "refused (what-if: not audited)\n"
                      : "refused; the refusal is in the audit log\n");
  }
  return absl::OkStatus();
}

// --- audit

std::string ProductChangeText(const v1::ProductChange& change) {
  std::string text = absl::StrCat(Label(change.system()), " product ",
                                  change.product_id() == 0
                                      ? std::string("(new)")
                                      : absl::StrCat(change.product_id()));
  if (!change.product_code().empty()) {
    absl::StrAppend(&text, " (", change.product_code(), ")");
  }
  absl::StrAppend(&text, ": ", Label(change.kind()));
  if (change.refusal() != v1::CHANGE_REFUSAL_UNSPECIFIED) {
    absl::StrAppend(&text, " refused (", Label(change.refusal()), ")");
  }
  if (change.cloned_from_product_id() != 0) {
    absl::StrAppend(&text, " from source product ",
                    change.cloned_from_product_id());
  }
  if (!change.on_behalf_of().empty()) {
    absl::StrAppend(&text, " for ", change.on_behalf_of());
  }
  if (!change.detail().empty()) {
    absl::StrAppend(&text, " [", change.detail(), "]");
  }
  return text;
}

std::string AuditSubject(const v1::AuditEntry& entry) {
  switch (entry.subject_case()) {
    case v1::AuditEntry::kTransition:
      return TransitionText(entry.transition());
    case v1::AuditEntry::kChange:
      return ProductChangeText(entry.change());
    case v1::AuditEntry::kMapping: {
      const v1::Mapping& mapping = entry.mapping().mapping();
      if (entry.mapping().deleted()) {
        return absl::StrCat("mapping ", mapping.source_product_id(), " -> ",
                            mapping.target_product_id(), " deleted");
      }
      return absl::StrCat("mapping ", mapping.source_product_id(), " -> ",
                          mapping.target_product_id(), " (",
                          Label(mapping.origin()), ", overuse ",
                          Label(mapping.overuse_policy()), ", version ",
                          mapping.version(), ")");
    }
    case v1::AuditEntry::kSettings:
      return absl::StrCat(
          "settings: allow_overuse_default=",
          entry.settings().allow_overuse_default() ? "true" : "false",
          " auto_lift=", entry.settings().auto_lift() ? "true" : "false",
          " (version ", entry.settings().version(), ")");
    case v1::AuditEntry::SUBJECT_NOT_SET:
      break;
  }
  return "-";
}

absl::Status Audit(CommandContext& ctx) {
  v1::ListFreezeAuditRequest request;
  TANDEM_ASSIGN_OR_RETURN(int32_t page_size, PageSize(ctx));
  request.set_page_size(page_size);
  request.set_page_token(ctx.flags().Get("page_token"));
  if (ctx.flags().Has("kind")) {
    for (absl::string_view name :
         absl::StrSplit(ctx.flags().Get("kind"), ',', absl::SkipEmpty())) {
      TANDEM_ASSIGN_OR_RETURN(
          v1::AuditKind kind,
          ParseEnum<v1::AuditKind>("audit kind",
                                   absl::StripAsciiWhitespace(name)));
      request.add_kinds(kind);
    }
  }
  TANDEM_ASSIGN_OR_RETURN(System system, OptionalSystemFlag(ctx));
  request.set_system(system);
  TANDEM_ASSIGN_OR_RETURN(int64_t product_id, IdFlag(ctx, "product_id"));
  if (product_id != 0 && system == ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    return UsageError(
        "--product_id needs --system: product ids of the two systems are "
        "unrelated");
  }
  request.set_product_id(product_id);

  v1::ListFreezeAuditResponse result;
  TANDEM_RETURN_IF_ERROR(FetchPages(
      ctx, request, ctx.flags().GetBool("all"), &Stub::ListFreezeAudit,
      [](v1::ListFreezeAuditResponse& r) { return r.mutable_entries(); },
      &result));
  Table table({"SEQ", "AT", "ACTOR", "KIND", "SUBJECT", "REASON"});
  for (const v1::AuditEntry& entry : result.entries()) {
    table.AddRow({absl::StrCat(entry.seq()),
                  FormatUnixMillis(entry.stamp().at_unix_ms()),
                  OrDash(entry.stamp().actor()), Label(entry.kind()),
                  AuditSubject(entry), OrDash(entry.stamp().reason())});
  }
  ctx.printer().Print(result, table);
  if (result.entries().empty()) {
    ctx.err() << "no audit entries match\n";
  }
  SayMorePages(ctx, "entries", result.next_page_token());
  return absl::OkStatus();
}

// --- products

std::vector<std::string> ProductHeaders() {
  return {"SYSTEM",  "ID",     "CODE",          "NAME",      "KIND",
          "VERSION", "FROZEN", "SUBSCRIPTIONS", "CUSTOMERS", "MAPPED_TO"};
}

std::vector<std::string> ProductCells(const v1::Product& product) {
  std::string mapped_to = "-";
  if (product.system() == ::tandem::common::v1::SYSTEM_SOURCE) {
    mapped_to = product.mapped_to_product_id() == 0
                    ? "unmapped"
                    : absl::StrCat(product.mapped_to_product_id());
  }
  return {Label(product.system()),
          absl::StrCat(product.product_id()),
          OrDash(product.spec().code()),
          OrDash(product.spec().name()),
          Label(product.spec().kind()),
          absl::StrCat(product.version()),
          YesNo(product.frozen()),
          absl::StrCat(product.subscription_count()),
          absl::StrCat(product.customer_count()),
          mapped_to};
}

absl::Status ProductsList(CommandContext& ctx) {
  v1::ListProductsRequest request;
  TANDEM_ASSIGN_OR_RETURN(int32_t page_size, PageSize(ctx));
  request.set_page_size(page_size);
  request.set_page_token(ctx.flags().Get("page_token"));
  TANDEM_ASSIGN_OR_RETURN(System system, OptionalSystemFlag(ctx));
  request.set_system(system);
  if (ctx.flags().Has("kind")) {
    TANDEM_ASSIGN_OR_RETURN(
        v1::ProductKind kind,
        ParseEnum<v1::ProductKind>("product kind", ctx.flags().Get("kind")));
    request.set_kind(kind);
  }
  request.set_unmapped_only(ctx.flags().GetBool("unmapped"));
  if (request.unmapped_only() &&
      system == ::tandem::common::v1::SYSTEM_TARGET) {
    return UsageError("--unmapped is about source products; drop --system");
  }
  request.set_code_prefix(ctx.flags().Get("code_prefix"));

  v1::ListProductsResponse result;
  TANDEM_RETURN_IF_ERROR(FetchPages(
      ctx, request, ctx.flags().GetBool("all"), &Stub::ListProducts,
      [](v1::ListProductsResponse& r) { return r.mutable_products(); },
      &result));
  Table table(ProductHeaders());
  for (const v1::Product& product : result.products()) {
    table.AddRow(ProductCells(product));
  }
  ctx.printer().Print(result, table);
  if (result.products().empty()) {
    ctx.err() << "no products match\n";
  }
  SayMorePages(ctx, "products", result.next_page_token());
  return absl::OkStatus();
}

absl::Status ProductsGet(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(System system, SystemArg(ctx.args()[0]));
  const std::string& key = ctx.args()[1];
  v1::GetProductRequest request;
  request.set_system(system);
  int64_t id = 0;
  // Codes may be all digits too; --code says which one is meant.
  if (!ctx.flags().GetBool("code") && absl::SimpleAtoi(key, &id)) {
    if (id <= 0) {
      return UsageError(absl::StrCat("product id must be positive, got `", key,
                                     "` (use --code for a code)"));
    }
    request.set_product_id(id);
  } else {
    if (key.empty()) {
      return UsageError("the product code is empty");
    }
    request.set_code(key);
  }
  v1::GetProductResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetProduct(call, request, &response);
      }));
  const v1::Product& product = response.product();
  const v1::ProductSpec& spec = product.spec();
  std::vector<std::string> resources;
  for (const v1::ResourceType& type : spec.resource_types()) {
    resources.push_back(absl::StrCat(type.code(), "=", type.limit(),
                                     type.unit().empty() ? "" : " ",
                                     type.unit()));
  }
  std::vector<std::string> parameters;
  for (const v1::ActivationParameter& parameter :
       spec.activation_parameters()) {
    parameters.push_back(
        absl::StrCat(parameter.name(), "=", parameter.value()));
  }
  // One product has too many fields for one line: a field per row.
  Table table({"FIELD", "VALUE"});
  table.AddRow({"system", Label(product.system())});
  table.AddRow({"id", absl::StrCat(product.product_id())});
  table.AddRow({"code", OrDash(spec.code())});
  table.AddRow({"name", OrDash(spec.name())});
  table.AddRow({"kind", Label(spec.kind())});
  table.AddRow({"category", OrDash(spec.category())});
  table.AddRow({"contract pool", OrDash(spec.contract_pool())});
  table.AddRow({"monthly fee", FormatMoney(spec.pricing())});
  table.AddRow({"resource types",
                resources.empty() ? "-" : absl::StrJoin(resources, ", ")});
  table.AddRow({"add-ons", JoinIds(spec.addon_product_ids())});
  table.AddRow({"activation parameters",
                parameters.empty() ? "-" : absl::StrJoin(parameters, ", ")});
  table.AddRow({"version", absl::StrCat(product.version())});
  table.AddRow({"frozen", YesNo(product.frozen())});
  table.AddRow({"subscriptions", absl::StrCat(product.subscription_count())});
  table.AddRow({"customers", absl::StrCat(product.customer_count())});
  if (product.system() == ::tandem::common::v1::SYSTEM_SOURCE) {
    table.AddRow(
        {"mapped to", product.mapped_to_product_id() == 0
                          ? "unmapped"
                          : absl::StrCat(product.mapped_to_product_id())});
  }
  if (product.cloned_from_product_id() != 0) {
    table.AddRow(
        {"cloned from", absl::StrCat(product.cloned_from_product_id())});
  }
  table.AddRow({"changed by", OrDash(product.stamp().actor())});
  table.AddRow({"changed at", FormatUnixMillis(product.stamp().at_unix_ms())});
  table.AddRow(
      {"refreshed at", FormatUnixMillis(product.refreshed_at_unix_ms())});
  ctx.printer().Print(response, table);
  return absl::OkStatus();
}

absl::Status ProductsRefresh(CommandContext& ctx) {
  v1::RefreshProductsRequest request;
  TANDEM_ASSIGN_OR_RETURN(System system, OptionalSystemFlag(ctx));
  request.set_system(system);
  request.set_request_id(RequestId(ctx));
  if (DryRun(ctx)) {
    Table table({"SYSTEM", "REQUEST_ID"});
    table.AddRow({system == ::tandem::common::v1::SYSTEM_UNSPECIFIED
                      ? "both"
                      : Label(system),
                  request.request_id()});
    ctx.printer().Print(request, table);
    SayDryRun(ctx, "RefreshProducts");
    return absl::OkStatus();
  }
  v1::RefreshProductsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.RefreshProducts(call, request, &response);
      }));
  Table table({"SEEN", "ADDED", "CHANGED", "REMOVED", "DRIFT"});
  table.AddRow({absl::StrCat(response.products_seen()),
                absl::StrCat(response.products_added()),
                absl::StrCat(response.products_changed()),
                absl::StrCat(response.products_removed()),
                absl::StrCat(response.drift_size())});
  ctx.printer().Print(response, table);
  for (const v1::ProductChange& drift : response.drift()) {
    ctx.err() << "drift (a frozen product changed behind the catalog's "
                 "back): "
              << ProductChangeText(drift) << "\n";
  }
  return absl::OkStatus();
}

// --- mappings

std::vector<std::string> MappingHeaders() {
  return {"SOURCE", "TARGET", "OVERUSE", "ORIGIN", "VERSION", "CLEAN", "NOTES"};
}

std::vector<std::string> MappingCells(const v1::Mapping& mapping) {
  return {absl::StrCat(mapping.source_product_id()),
          absl::StrCat(mapping.target_product_id()),
          Label(mapping.overuse_policy()),
          Label(mapping.origin()),
          absl::StrCat(mapping.version()),
          YesNo(mapping.comparison().clean()),
          ComparisonNotes(mapping.comparison())};
}

Table MappingTable(const v1::Mapping& mapping) {
  Table table(MappingHeaders());
  table.AddRow(MappingCells(mapping));
  return table;
}

Table SetMappingRequestTable(
    const std::vector<const v1::SetMappingRequest*>& requests) {
  Table table({"SOURCE", "TARGET", "OVERUSE", "ORIGIN", "EXPECTED_VERSION",
               "REQUEST_ID", "REASON"});
  for (const v1::SetMappingRequest* request : requests) {
    table.AddRow({absl::StrCat(request->source_product_id()),
                  absl::StrCat(request->target_product_id()),
                  Label(request->overuse_policy()), Label(request->origin()),
                  absl::StrCat(request->expected_version()),
                  request->request_id(), OrDash(request->reason())});
  }
  return table;
}

void SayWarnings(CommandContext& ctx, const v1::SetMappingResponse& response) {
  for (const std::string& warning : response.warnings()) {
    ctx.err() << "warning: mapping " << response.mapping().source_product_id()
              << " -> " << response.mapping().target_product_id() << ": "
              << warning << "\n";
  }
}

absl::Status MappingsList(CommandContext& ctx) {
  v1::ListMappingsRequest request;
  TANDEM_ASSIGN_OR_RETURN(int32_t page_size, PageSize(ctx));
  request.set_page_size(page_size);
  request.set_page_token(ctx.flags().Get("page_token"));
  request.set_not_clean_only(ctx.flags().GetBool("not_clean"));
  TANDEM_ASSIGN_OR_RETURN(int64_t target, IdFlag(ctx, "target_product_id"));
  request.set_target_product_id(target);
  if (ctx.flags().Has("origin")) {
    TANDEM_ASSIGN_OR_RETURN(v1::MappingOrigin origin,
                            ParseEnum<v1::MappingOrigin>(
                                "mapping origin", ctx.flags().Get("origin")));
    request.set_origin(origin);
  }
  v1::ListMappingsResponse result;
  TANDEM_RETURN_IF_ERROR(FetchPages(
      ctx, request, ctx.flags().GetBool("all"), &Stub::ListMappings,
      [](v1::ListMappingsResponse& r) { return r.mutable_mappings(); },
      &result));
  Table table(MappingHeaders());
  for (const v1::Mapping& mapping : result.mappings()) {
    table.AddRow(MappingCells(mapping));
  }
  ctx.printer().Print(result, table);
  if (result.mappings().empty()) {
    ctx.err() << "no mappings match\n";
  }
  SayMorePages(ctx, "mappings", result.next_page_token());
  return absl::OkStatus();
}

absl::Status MappingsPropose(CommandContext& ctx) {
  v1::ProposeMappingsRequest request;
  request.set_match_by(v1::MATCH_BY_CODE_THEN_NAME);
  if (ctx.flags().Has("match_by")) {
    TANDEM_ASSIGN_OR_RETURN(
        v1::MatchBy match_by,
        ParseEnum<v1::MatchBy>("match", ctx.flags().Get("match_by")));
    request.set_match_by(match_by);
  }
  bool accept = ctx.flags().GetBool("accept");
  if (!accept && (ctx.flags().Has("reason") || ctx.flags().Has("request_id") ||
                  ctx.flags().Has("dry_run"))) {
    return UsageError(
        "--reason, --request_id and --dry-run go with --accept; without it "
        "nothing changes");
  }
  v1::ProposeMappingsResponse proposals;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.ProposeMappings(call, request, &proposals);
      }));
  Table table(
      {"SOURCE", "TARGET", "MATCHED_BY", "MAPPED_NOW", "CLEAN", "NOTES"});
  for (const v1::MappingProposal& proposal : proposals.proposals()) {
    table.AddRow({absl::StrCat(proposal.source_product_id()),
                  absl::StrCat(proposal.target_product_id()),
                  Label(proposal.matched_by()),
                  proposal.current_target_product_id() == 0
                      ? "unmapped"
                      : absl::StrCat(proposal.current_target_product_id()),
                  YesNo(proposal.comparison().clean()),
                  ComparisonNotes(proposal.comparison())});
  }
  if (!accept) {
    ctx.printer().Print(proposals, table);
  } else if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.out() << table.Render() << std::flush;
  } else {
    // With --accept the output is the proposals and then each result, so
    // JSON and YAML print them as a stream of objects, not one document.
    ctx.printer().PrintStreamItem(proposals, "");
  }
  if (!proposals.unmatched_source_product_ids().empty()) {
    ctx.err() << "no match for source products "
              << JoinIds(proposals.unmatched_source_product_ids())
              << " (candidates for `tandemctl catalog generate`)\n";
  }
  if (!proposals.ambiguous_source_product_ids().empty()) {
    ctx.err() << "several target products match source products "
              << JoinIds(proposals.ambiguous_source_product_ids())
              << " by name; map them with `tandemctl catalog mappings set`\n";
  }
  if (!accept) {
    return absl::OkStatus();
  }

  // Each accepted proposal is its own SetMapping call; with --request_id
  // each gets that id plus its source product id, so retrying the whole
  // command with the same id retries each call idempotently.
  std::string request_id = ctx.flags().Get("request_id");
  std::vector<v1::SetMappingRequest> requests;
  for (const v1::MappingProposal& proposal : proposals.proposals()) {
    if (proposal.current_target_product_id() != 0) {
      continue;
    }
    v1::SetMappingRequest& set = requests.emplace_back();
    set.set_source_product_id(proposal.source_product_id());
    set.set_target_product_id(proposal.target_product_id());
    set.set_origin(v1::MAPPING_ORIGIN_PROPOSED);
    set.set_expected_version(0);
    set.set_reason(ctx.flags().Get("reason"));
    set.set_request_id(
        request_id.empty()
            ? NewRequestId()
            : absl::StrCat(request_id, "-", proposal.source_product_id()));
  }
  if (requests.empty()) {
    ctx.err() << "no proposal for an unmapped source product: nothing to "
                 "accept\n";
    return absl::OkStatus();
  }
  if (ctx.printer().format() == OutputFormat::kTable) {
    ctx.out() << "\n";
  }
  if (DryRun(ctx)) {
    std::vector<const v1::SetMappingRequest*> all;
    for (const v1::SetMappingRequest& set : requests) {
      all.push_back(&set);
      if (ctx.printer().format() != OutputFormat::kTable) {
        ctx.printer().PrintStreamItem(set, "");
      }
    }
    if (ctx.printer().format() == OutputFormat::kTable) {
      ctx.out() << SetMappingRequestTable(all).Render() << std::flush;
    }
    ctx.err() << "dry run: would call CatalogService.SetMapping "
              << requests.size()
              << " times with the requests above; nothing was sent\n";
    return absl::OkStatus();
  }

  // Tables are printed once every call is done, so their columns align;
  // JSON and YAML print each result as it arrives.
  Table accepted(MappingHeaders());
  absl::Status first_error;
  int failed = 0;
  for (const v1::SetMappingRequest& set : requests) {
    v1::SetMappingResponse response;
    absl::Status status =
        CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
          return stub.SetMapping(call, set, &response);
        });
    if (!status.ok()) {
      // The other proposals are independent: accept them anyway, and fail
      // at the end so the exit code still tells.
      ++failed;
      if (first_error.ok()) {
        first_error = status;
      }
      ctx.err() << "mapping " << set.source_product_id() << " -> "
                << set.target_product_id() << " not set: "
                << GrpcCodeName(static_cast<grpc::StatusCode>(status.code()))
                << ": " << status.message() << "\n";
      continue;
    }
    if (ctx.printer().format() == OutputFormat::kTable) {
      accepted.AddRow(MappingCells(response.mapping()));
    } else {
      ctx.printer().PrintStreamItem(response, "");
    }
    SayWarnings(ctx, response);
  }
  if (accepted.rows() > 0) {
    ctx.out() << accepted.Render() << std::flush;
  }
  if (failed > 0) {
    return absl::Status(
        first_error.code(),
        absl::StrCat(failed, " of ", requests.size(),
                     " proposals could not be accepted; the first: ",
                     first_error.message()));
  }
  ctx.err() << "accepted " << requests.size() << " proposals\n";
  return absl::OkStatus();
}

absl::Status MappingsSet(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t source, ParseId("source_id", ctx.args()[0]));
  TANDEM_ASSIGN_OR_RETURN(int64_t target, ParseId("target_id", ctx.args()[1]));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, VersionFlag(ctx));
  v1::SetMappingRequest request;
  request.set_source_product_id(source);
  request.set_target_product_id(target);
  request.set_overuse_policy(v1::OVERUSE_POLICY_INHERIT);
  if (ctx.flags().Has("overuse")) {
    TANDEM_ASSIGN_OR_RETURN(v1::OverusePolicy overuse,
                            ParseEnum<v1::OverusePolicy>(
                                "overuse policy", ctx.flags().Get("overuse")));
    request.set_overuse_policy(overuse);
  }
  request.set_origin(v1::MAPPING_ORIGIN_MANUAL);
  request.set_expected_version(version);
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  if (DryRun(ctx)) {
    ctx.printer().Print(request, SetMappingRequestTable({&request}));
    SayDryRun(ctx, "SetMapping");
    return absl::OkStatus();
  }
  v1::SetMappingResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.SetMapping(call, request, &response);
      }));
  ctx.printer().Print(response, MappingTable(response.mapping()));
  SayWarnings(ctx, response);
  return absl::OkStatus();
}

absl::Status MappingsDelete(CommandContext& ctx) {
  TANDEM_ASSIGN_OR_RETURN(int64_t source, ParseId("source_id", ctx.args()[0]));
  TANDEM_ASSIGN_OR_RETURN(int64_t version, VersionFlag(ctx));
  if (version == 0) {
    return UsageError(
        "--expected_version must be the mapping's version (see `catalog "
        "mappings list`)");
  }
  v1::DeleteMappingRequest request;
  request.set_source_product_id(source);
  request.set_expected_version(version);
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  if (DryRun(ctx)) {
    Table table({"SOURCE", "EXPECTED_VERSION", "REQUEST_ID", "REASON"});
    table.AddRow({absl::StrCat(source), absl::StrCat(version),
                  request.request_id(), OrDash(request.reason())});
    ctx.printer().Print(request, table);
    SayDryRun(ctx, "DeleteMapping");
    return absl::OkStatus();
  }
  v1::DeleteMappingResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.DeleteMapping(call, request, &response);
      }));
  Table table({"SOURCE", "DELETED"});
  table.AddRow({absl::StrCat(source), "yes"});
  ctx.printer().Print(response, table);
  ctx.err() << "customers of source product " << source
            << " still on the source can no longer move until it is mapped "
               "again\n";
  return absl::OkStatus();
}

// --- generate

absl::Status Generate(CommandContext& ctx) {
  v1::GenerateMissingProductsRequest request;
  for (const std::string& arg : ctx.args()) {
    TANDEM_ASSIGN_OR_RETURN(int64_t id, ParseId("source_id", arg));
    request.add_source_product_ids(id);
  }
  request.set_code_suffix(ctx.flags().Get("code_suffix"));
  request.set_dry_run(DryRun(ctx));
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  v1::GenerateMissingProductsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GenerateMissingProducts(call, request, &response);
      }));
  Table table({"SOURCE", "TARGET", "CODE", "NAME", "MAPPING_VERSION"});
  for (const v1::GeneratedProduct& generated : response.generated()) {
    const v1::Product& product = generated.target_product();
    table.AddRow(
        {absl::StrCat(generated.source_product_id()),
         product.product_id() == 0 ? "-" : absl::StrCat(product.product_id()),
         OrDash(product.spec().code()), OrDash(product.spec().name()),
         generated.mapping().version() == 0
             ? "-"
             : absl::StrCat(generated.mapping().version())});
  }
  ctx.printer().Print(response, table);
  for (const v1::SkippedProduct& skipped : response.skipped()) {
    ctx.err() << "skipped source product " << skipped.source_product_id()
              << ": " << skipped.reason() << "\n";
  }
  if (request.dry_run()) {
    ctx.err() << "dry run: the catalog says what it would clone; nothing was "
                 "created\n";
  } else if (response.generated().empty()) {
    ctx.err() << "nothing to clone: every source product asked for is "
                 "mapped\n";
  }
  return absl::OkStatus();
}

// --- settings

Table SettingsTable(const v1::CatalogSettings& settings) {
  Table table({"ALLOW_OVERUSE_DEFAULT", "AUTO_LIFT", "VERSION", "CHANGED_BY",
               "CHANGED_AT", "REASON"});
  table.AddRow({settings.allow_overuse_default() ? "true" : "false",
                settings.auto_lift() ? "true" : "false",
                absl::StrCat(settings.version()),
                OrDash(settings.stamp().actor()),
                FormatUnixMillis(settings.stamp().at_unix_ms()),
                OrDash(settings.stamp().reason())});
  return table;
}

absl::Status SettingsGet(CommandContext& ctx) {
  v1::GetSettingsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetSettings(call, v1::GetSettingsRequest(), &response);
      }));
  ctx.printer().Print(response, SettingsTable(response.settings()));
  return absl::OkStatus();
}

absl::Status SettingsSet(CommandContext& ctx) {
  bool has_overuse = ctx.flags().Has("allow_overuse_default");
  bool has_auto_lift = ctx.flags().Has("auto_lift");
  if (!has_overuse && !has_auto_lift) {
    return UsageError(
        "`catalog settings set` needs --allow_overuse_default and/or "
        "--auto_lift");
  }
  // Parsed before the read, so a typo sends nothing.
  bool overuse = false;
  bool auto_lift = false;
  if (has_overuse) {
    TANDEM_ASSIGN_OR_RETURN(overuse, BoolValue(ctx, "allow_overuse_default"));
  }
  if (has_auto_lift) {
    TANDEM_ASSIGN_OR_RETURN(auto_lift, BoolValue(ctx, "auto_lift"));
  }
  // UpdateSettings replaces every setting: read the current ones for the
  // version and for the values not given.
  v1::GetSettingsResponse current;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.GetSettings(call, v1::GetSettingsRequest(), &current);
      }));
  v1::UpdateSettingsRequest request;
  request.set_allow_overuse_default(
      has_overuse ? overuse : current.settings().allow_overuse_default());
  request.set_auto_lift(has_auto_lift ? auto_lift
                                      : current.settings().auto_lift());
  request.set_expected_version(current.settings().version());
  request.set_reason(ctx.flags().Get("reason"));
  request.set_request_id(RequestId(ctx));
  if (DryRun(ctx)) {
    Table table({"ALLOW_OVERUSE_DEFAULT", "AUTO_LIFT", "EXPECTED_VERSION",
                 "REQUEST_ID", "REASON"});
    table.AddRow({request.allow_overuse_default() ? "true" : "false",
                  request.auto_lift() ? "true" : "false",
                  absl::StrCat(request.expected_version()),
                  request.request_id(), OrDash(request.reason())});
    ctx.printer().Print(request, table);
    SayDryRun(ctx, "UpdateSettings");
    return absl::OkStatus();
  }
  v1::UpdateSettingsResponse response;
  TANDEM_RETURN_IF_ERROR(
      CallCatalog(ctx, [&](Stub& stub, grpc::ClientContext* call) {
        return stub.UpdateSettings(call, request, &response);
      }));
  ctx.printer().Print(response, SettingsTable(response.settings()));
  if (response.settings().version() == current.settings().version()) {
    ctx.err() << "the settings already were so; nothing changed\n";
  }
  return absl::OkStatus();
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

absl::StatusOr<v1::FreezeState> ParseFreezeState(absl::string_view name) {
  return ParseEnum<v1::FreezeState>("freeze state", name);
}

std::string FreezeStateLabel(v1::FreezeState state) { return Label(state); }

void AddCatalogCommands(CommandSet& commands) {
  commands.AddGroup({"catalog"},
                    "The catalog: the freeze, products of both systems, "
                    "mappings between them, and move plans.");
  commands.AddGroup({"catalog", "freeze"},
                    "The catalog freeze: open -> frozen -> "
                    "frozen-target-open -> lifted.");
  commands.AddGroup({"catalog", "products"},
                    "Products of both billing systems, as the catalog holds "
                    "them.");
  commands.AddGroup({"catalog", "mappings"},
                    "Which target product each source product's customers "
                    "move to.");
  commands.AddGroup({"catalog", "settings"}, "Catalog-wide settings.");

  commands.Add(CommandSpec({"catalog", "freeze", "get"},
                           "Show the freeze, who set it and why.")
                   .Run(FreezeGet));
  commands.Add(
      CommandSpec({"catalog", "freeze", "set"},
                  "Move the freeze to another state (audited).")
          .Args("<open|frozen|frozen-target-open|lifted>", 1, 1)
          .Description(
              "Legal: open -> frozen, frozen -> frozen-target-open, "
              "frozen-target-open -> lifted, and frozen -> open while every "
              "route is SOURCE/STABLE; anything else is "
              "FAILED_PRECONDITION. Lifting while customers are still on "
              "the source needs --force. Without --expected_version only "
              "the transition rules are checked.")
          .Flags({FlagSpec("reason", "TEXT", "Why; recorded in the audit log.")
                      .Required(),
                  {"expected_version", "V",
                   "The freeze version you read; a mismatch is ABORTED."},
                  {"force", "",
                   "With `lifted`: lift even though customers are still on "
                   "the source (audited as forced)."},
                  RequestIdFlag(),
                  DryRunFlag()})
          .DefaultTimeout(absl::Seconds(10))
          .Run(FreezeSet));
  commands.Add(
      CommandSpec({"catalog", "freeze", "watch"},
                  "Print the freeze, then every transition as it happens.")
          .Description(
              "One line per event (a JSON object per line with -o json, a "
              "YAML document each with -o yaml) until interrupted, --count "
              "events were printed, or --timeout passed (which ends the "
              "watch normally).")
          .Flags({{"count", "N", "Stop after N events (the first included)."}})
          .DefaultTimeout(absl::InfiniteDuration())
          .Run(FreezeWatch));
  commands.Add(
      CommandSpec({"catalog", "check"},
                  "Ask whether the freeze allows a product change.")
          .Args("<source|target> "
                "<create|update-price|update-configuration|delete> "
                "[product_id]",
                2, 3)
          .Description("The question the portal-proxy asks before forwarding a "
                       "product change. A refusal is audited unless --dry-run. "
                       "Exits 0 either way: the answer is the ALLOWED column.")
          .Flags({{"on_behalf_of", "WHO",
                   "Who asked for the change; recorded in the audit log."},
                  {"detail", "TEXT",
                   "Where the change came from; recorded in the audit log."},
                  {"dry-run", "",
                   "A what-if: the catalog answers, but neither audits nor "
                   "counts a refusal."}})
          .Run(Check));
  commands.Add(
      CommandSpec({"catalog", "audit"}, "List the audit log, newest first.")
          .Description(
              "Freeze transitions, refused and applied product changes, "
              "generated products, drift, mapping and settings changes. "
              "Prints one page (100 entries unless --page_size); --all "
              "follows every page.")
          .Flags({{"kind", "KIND[,KIND...]",
                   "Only these kinds: freeze-transition, change-refused, "
                   "change-applied, product-generated, drift-detected, "
                   "mapping-changed, settings-changed."},
                  SystemFlag("Only entries about products of this system."),
                  {"product_id", "ID",
                   "Only entries about this product (needs --system)."},
                  PageSizeFlag(),
                  PageTokenFlag(),
                  AllFlag()})
          .Run(Audit));
  commands.Add(
      CommandSpec({"catalog", "products", "list"},
                  "List products in (system, id) order.")
          .Description("Prints one page (100 products unless --page_size); "
                       "--all follows every page.")
          .Flags({SystemFlag("Only products of this system."),
                  {"kind", "main|addon", "Only products of this kind."},
                  {"unmapped", "", "Only source products without a mapping."},
                  {"code_prefix", "PREFIX",
                   "Only products whose code starts with this."},
                  PageSizeFlag(),
                  PageTokenFlag(),
                  AllFlag()})
          .Run(ProductsList));
  commands.Add(
      CommandSpec({"catalog", "products", "get"},
                  "Show one product, by id or by code.")
          .Args("<source|target> <id|code>", 2, 2)
          .Description("An all-digit argument is an id unless --code.")
          .Flags({{"code", "", "The argument is a code, even if all digits."}})
          .Run(ProductsGet));
  commands.Add(
      CommandSpec({"catalog", "products", "refresh"},
                  "Re-read products from the billing databases.")
          .Description(
              "Reports products added, changed and removed, and frozen "
              "products changed behind the catalog's back (drift, audited). "
              "Default --timeout: 2m.")
          .Flags({SystemFlag("Only this system (default both)."),
                  RequestIdFlag(), DryRunFlag()})
          .DefaultTimeout(absl::Minutes(2))
          .Run(ProductsRefresh));
  commands.Add(
      CommandSpec({"catalog", "mappings", "list"},
                  "List mappings in source product id order.")
          .Description(
              "NOTES says what a mapping that is not clean does to "
              "customers. Prints one page (100 mappings unless --page_size); "
              "--all follows every page.")
          .Flags({{"not_clean", "",
                   "Only mappings that will not move every customer "
                   "cleanly."},
                  {"target_product_id", "ID",
                   "Only mappings onto this target product."},
                  {"origin", "manual|proposed|generated",
                   "Only mappings of this origin."},
                  PageSizeFlag(),
                  PageTokenFlag(),
                  AllFlag()})
          .Run(MappingsList));
  commands.Add(
      CommandSpec({"catalog", "mappings", "propose"},
                  "Suggest mappings by matching codes and/or names.")
          .Description(
              "Changes nothing unless --accept, which sets a mapping (origin "
              "proposed) for every proposal whose source product is "
              "unmapped, one SetMapping call each, and prints each result "
              "and its warnings. With --accept and -o json or yaml the "
              "output is a stream: the proposals, then each result.")
          .Flags({{"match_by", "code|name|code-then-name",
                   "How to match (default code-then-name)."},
                  {"accept", "", "Set the proposed mappings."},
                  ReasonFlag(),
                  {"request_id", "ID",
                   "With --accept: each call gets ID-<source_id>, so "
                   "retrying the command does not set anything twice. "
                   "Default: a fresh UUID per call."},
                  {"dry-run", "",
                   "With --accept: print the SetMapping requests, send "
                   "none."}})
          .Run(MappingsPropose));
  commands.Add(
      CommandSpec({"catalog", "mappings", "set"},
                  "Map a source product onto a target product.")
          .Args("<source_id> <target_id>", 2, 2)
          .Description(
              "Creates the mapping (--expected_version 0, the default) or "
              "replaces it (the version you read). What the mapping will "
              "do wrong to customers is printed as warnings.")
          .Flags({{"overuse", "inherit|allow|deny",
                   "May customers move with usage above a lowered limit "
                   "(default inherit: the settings' default)."},
                  {"expected_version", "V",
                   "The mapping version you read; 0 creates."},
                  ReasonFlag(),
                  RequestIdFlag(),
                  DryRunFlag()})
          .Run(MappingsSet));
  commands.Add(
      CommandSpec({"catalog", "mappings", "delete"},
                  "Remove the mapping of a source product.")
          .Args("<source_id>", 1, 1)
          .Description("Its customers still on the source can then not "
                       "move.")
          .Flags({FlagSpec("expected_version", "V",
                           "The mapping version you read.")
                      .Required(),
                  ReasonFlag(), RequestIdFlag(), DryRunFlag()})
          .Run(MappingsDelete));
  commands.Add(
      CommandSpec({"catalog", "generate"},
                  "Clone unmapped source products onto the target, mapped.")
          .Args("[source_id...]", 0, -1)
          .Description(
              "Without ids, every unmapped source product. Refused while the "
              "catalog is frozen (before frozen-target-open). Default "
              "--timeout: 2m.")
          .Flags({{"code_suffix", "SUFFIX",
                   "Appended to a code the target already uses (default "
                   "-v1)."},
                  {"dry-run", "",
                   "A what-if: the catalog reports what it would clone and "
                   "creates nothing."},
                  ReasonFlag(),
                  RequestIdFlag()})
          .DefaultTimeout(absl::Minutes(2))
          .Run(Generate));
  commands.Add(
      CommandSpec({"catalog", "settings", "get"}, "Show the catalog settings.")
          .Run(SettingsGet));
  commands.Add(
      CommandSpec({"catalog", "settings", "set"},
                  "Change catalog settings (audited).")
          .Description(
              "Reads the current settings first: settings not given keep "
              "their values, and the version read is the compare-and-set "
              "version (ABORTED if someone changed them in between).")
          .Flags({{"allow_overuse_default", "true|false",
                   "Whether mappings with overuse inherit let customers "
                   "move above a lowered limit."},
                  {"auto_lift", "true|false",
                   "Whether the freeze lifts by itself when no customer is "
                   "left on the source."},
                  ReasonFlag(),
                  RequestIdFlag(),
                  DryRunFlag()})
          .Run(SettingsSet));
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

}  // namespace tandem::cli
