// tandemctl's router commands (RouterService, see
// protos/tandem/router/v1/router.proto):
//
//   route lookup <kind> <value>          resolve a key
//   route get <customer_id> [--keys]     one route
//   route list [filters] [--all]         routes in customer id order
//   route set <customer_id> ...          compare-and-set of one route
//   route start-move|flip|abort|start-rollback <customer_id>
//                                        read the version, then set
//   route import --file F | --query Q    create routes in bulk
//   route watch [--from REVISION]        follow changes
//   keys put|delete <customer_id> <kind:value>...
//   router stats
//   router default get | set <system>
//
// Every mutation takes --reason, --request_id (a fresh UUID when not given,
// so a retried call is idempotent) and --dry-run (print the request, send
// nothing).
#pragma once

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/command.h"
#include "tandem/router/v1/router.pb.h"

namespace tandem::cli {

// Adds the route, keys and router nouns to `commands`.
void AddRouterCommands(CommandSet& commands);

// The route a convenience verb asks for, given the route as it is now:
//   start-move      SOURCE/MIGRATING
//   flip            the other system, STABLE (the move or rollback is done)
//   abort           the same system, STABLE (the move or rollback is undone)
//   start-rollback  TARGET/MIGRATING
// flip and abort of a route that is not MIGRATING are FAILED_PRECONDITION,
// since it is unclear what they would mean; every other illegal move is sent
// and left for the router to refuse, so the router's transition rules stay
// the only ones. An unknown verb is INVALID_ARGUMENT.
absl::StatusOr<
    std::pair<::tandem::common::v1::System, ::tandem::router::v1::RouteState>>
ConvenienceTarget(absl::string_view verb,
                  const ::tandem::router::v1::Route& current);

}  // namespace tandem::cli
