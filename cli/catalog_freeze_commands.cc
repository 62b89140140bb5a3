// tandemctl catalog freeze get|set|watch, catalog check and catalog audit:
// the freeze, the question it answers, and the log of what it decided.
#include <grpcpp/support/sync_stream.h>

#include <memory>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/catalog_commands.h"
#include "cli/catalog_helpers.h"

namespace tandem::cli::catalog_internal {
namespace {

using ::tandem::common::v1::System;

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
  return WatchEnded(ctx, reader->Finish(), target, "catalog",
                    "run the watch again");
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

}  // namespace

void AddFreezeCommands(CommandSet& commands) {
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
}

}  // namespace tandem::cli::catalog_internal
