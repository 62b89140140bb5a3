// What the router commands share (cli/router_commands.cc,
// cli/route_import_command.cc, cli/route_watch_command.cc): calls against
// --router, argument errors and the formatting of routes and keys. Only the
// router command files include this; the rest of tandemctl sees
// cli/router_commands.h.
#pragma once

#include <grpcpp/client_context.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cli/command.h"
#include "cli/command_helpers.h"
#include "tandem/router/v1/router.grpc.pb.h"

namespace tandem::cli::router_internal {

namespace v1 = ::tandem::router::v1;
using Stub = v1::RouterService::StubInterface;

// Runs one unary call `fn(stub, context)` against the router.
template <typename Fn>
absl::Status CallRouter(CommandContext& ctx, Fn&& fn) {
  return CallService<v1::RouterService>(ctx, ctx.globals().router,
                                        std::forward<Fn>(fn));
}

// A usage error for a malformed positional argument.
absl::Status BadArgument(const absl::Status& status);

// "SOURCE/MIGRATING".
std::string RouteName(::tandem::common::v1::System system,
                      v1::RouteState state);

// The keys as `kind:value`, each after `sign`, joined by commas; "-" for
// none.
std::string JoinKeys(const google::protobuf::RepeatedPtrField<v1::Key>& keys,
                     absl::string_view sign = "");

// Tells the user (on stderr) that RouterService.`method` was not called.
void SayDryRun(CommandContext& ctx, absl::string_view method);

// route import (cli/route_import_command.cc).
void AddRouteImportCommand(CommandSet& commands);
// route watch (cli/route_watch_command.cc).
void AddRouteWatchCommand(CommandSet& commands);

}  // namespace tandem::cli::router_internal
