// tandemctl's catalog commands (CatalogService, see
// protos/tandem/catalog/v1/catalog.proto), all against --catalog:
//
//   catalog freeze get | set <state> | watch
//   catalog check <system> <kind> [product_id]   ask the freeze (CheckChange)
//   catalog audit [filters] [--all]              the freeze audit log
//   catalog products list | get <system> <id|code> | refresh
//   catalog mappings list | propose [--accept] | set <source> <target>
//                    | delete <source>
//   catalog generate [source_id...]              clone unmapped products
//   catalog settings get | set
//   catalog plan <customer_id>...                can these customers move?
//
// Every mutation takes --reason, --request_id (a fresh UUID when not given,
// so a retried call is idempotent) and --dry-run (print the request, send
// nothing), as the router's do. Two commands ask the catalog for a what-if
// instead, and say so in their help: `check --dry-run` and
// `generate --dry-run` send the request with its own dry_run set.
//
// Tables name enum values in lower case without their prefix, with '-' for
// '_' ("frozen-target-open", "update-price"): what is printed is what the
// commands accept.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/command.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::cli {

// Adds the catalog noun and its commands to `commands`.
void AddCatalogCommands(CommandSet& commands);

// "open", "frozen", "frozen-target-open" or "lifted" (any case, '_' for
// '-', FREEZE_STATE_ prefix allowed) to a state; anything else is a
// UsageError() listing the accepted names.
absl::StatusOr<::tandem::catalog::v1::FreezeState> ParseFreezeState(
    absl::string_view name);

// The lower-case name of `state` without its prefix ("frozen-target-open"),
// or "-" for UNSPECIFIED.
std::string FreezeStateLabel(::tandem::catalog::v1::FreezeState state);

}  // namespace tandem::cli
