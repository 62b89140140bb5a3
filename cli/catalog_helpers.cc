#include "cli/catalog_helpers.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace tandem::cli::catalog_internal {

using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::tandem::common::v1::System;

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

std::string OrDash(absl::string_view text) {
  return text.empty() ? "-" : std::string(text);
}

std::string YesNo(bool value) { return value ? "yes" : "no"; }

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

}  // namespace tandem::cli::catalog_internal
