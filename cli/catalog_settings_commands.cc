// tandemctl catalog settings get|set: the catalog-wide settings.
#include "cli/catalog_helpers.h"

namespace tandem::cli::catalog_internal {
namespace {

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

}  // namespace

void AddSettingsCommands(CommandSet& commands) {
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
}

}  // namespace tandem::cli::catalog_internal
