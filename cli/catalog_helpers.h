// What the catalog commands share (cli/catalog_*_commands.cc): calls and
// paging against --catalog, enum names as the tables print and the commands
// accept them, cell formatting, and the catalog commands' own flags. Only
// the catalog command files include this; the rest of tandemctl sees
// cli/catalog_commands.h.
#pragma once

#include <google/protobuf/generated_enum_reflection.h>
#include <grpcpp/client_context.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "cli/command.h"
#include "cli/command_helpers.h"
#include "common/status_macros.h"
#include "tandem/catalog/v1/catalog.grpc.pb.h"

namespace tandem::cli::catalog_internal {

namespace v1 = ::tandem::catalog::v1;
using Stub = v1::CatalogService::StubInterface;

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

// The prefix of every value of `descriptor` ("FREEZE_STATE_").
std::string EnumPrefix(const google::protobuf::EnumDescriptor* descriptor);

// The value `number` of `descriptor` in lower case without its prefix, with
// '-' for '_'; "-" for 0, and the number itself for a value newer than this
// tandemctl.
std::string LabelOf(const google::protobuf::EnumDescriptor* descriptor,
                    int number);

// LabelOf for a generated enum value.
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
  const google::protobuf::EnumDescriptor* descriptor =
      google::protobuf::GetEnumDescriptor<Enum>();
  std::string prefix = EnumPrefix(descriptor);
  std::string name =
      absl::StrReplaceAll(absl::AsciiStrToUpper(text), {{"-", "_"}});
  if (!absl::StartsWith(name, prefix)) {
    name = absl::StrCat(prefix, name);
  }
  const google::protobuf::EnumValueDescriptor* value =
      descriptor->FindValueByName(name);
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

// `text`, or "-" when it is empty.
std::string OrDash(absl::string_view text);

// "yes" or "no".
std::string YesNo(bool value);

// The ids joined by commas, or "-" when there are none.
template <typename Ids>
std::string JoinIds(const Ids& ids) {
  return ids.empty() ? "-" : absl::StrJoin(ids, ",");
}

// One product change (of the audit log, or drift) in a sentence:
// "source product 12 (GOLD): update-price refused (frozen) for alice".
std::string ProductChangeText(const v1::ProductChange& change);

// Tells the user (on stderr) that CatalogService.`method` was not called.
void SayDryRun(CommandContext& ctx, absl::string_view method);

// Tells the user (on stderr) how to get the next page of `what`, when there
// is one.
void SayMorePages(CommandContext& ctx, absl::string_view what,
                  const std::string& next_page_token);

// --- Flags of the catalog commands (the mutation flags are in
// command_helpers.h)

FlagSpec SystemFlag(absl::string_view help);
FlagSpec PageSizeFlag();
FlagSpec PageTokenFlag();
FlagSpec AllFlag();

// Whether --dry-run was given.
bool DryRun(const CommandContext& ctx);

// A positive id, from the text of argument or flag `what`.
absl::StatusOr<int64_t> ParseId(absl::string_view what, absl::string_view text);

// The positive id flag `name`, or 0 when it is not given.
absl::StatusOr<int64_t> IdFlag(const CommandContext& ctx,
                               absl::string_view name);

// --expected_version, 0 when not given; negative is a usage error.
absl::StatusOr<int64_t> VersionFlag(const CommandContext& ctx);

// "source" or "target" (as ParseEnum accepts them) to a system.
absl::StatusOr<::tandem::common::v1::System> SystemArg(absl::string_view text);

// --system, or UNSPECIFIED when not given.
absl::StatusOr<::tandem::common::v1::System> OptionalSystemFlag(
    const CommandContext& ctx);

// --page_size, between 0 (the catalog's default) and 1000.
absl::StatusOr<int32_t> PageSize(const CommandContext& ctx);

// --- The command groups, one file each, added in this order by
// AddCatalogCommands (help lists commands in the order they were added)

// catalog freeze get|set|watch, catalog check, catalog audit
// (cli/catalog_freeze_commands.cc).
void AddFreezeCommands(CommandSet& commands);
// catalog products list|get|refresh (cli/catalog_product_commands.cc).
void AddProductCommands(CommandSet& commands);
// catalog mappings list|propose|set|delete
// (cli/catalog_mapping_commands.cc).
void AddMappingCommands(CommandSet& commands);
// catalog generate (cli/catalog_product_commands.cc).
void AddGenerateCommand(CommandSet& commands);
// catalog settings get|set (cli/catalog_settings_commands.cc).
void AddSettingsCommands(CommandSet& commands);
// catalog plan (cli/catalog_plan_commands.cc).
void AddPlanCommand(CommandSet& commands);

}  // namespace tandem::cli::catalog_internal
