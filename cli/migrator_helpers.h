// What the migrator command files share (cli/migrator_commands.cc,
// cli/batch_commands.cc): calls against --migrator. Only they include this;
// the rest of tandemctl sees cli/migrator_commands.h and
// cli/batch_commands.h.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "cli/command.h"
#include "cli/command_helpers.h"
#include "tandem/migrator/v1/migrator.grpc.pb.h"

namespace tandem::cli::migrator_internal {

// Runs one unary call `fn(stub, context)` against the migrator.
template <typename Fn>
absl::Status CallMigrator(CommandContext& ctx, Fn&& fn) {
  return CallService<::tandem::migrator::v1::MigratorService>(
      ctx, ctx.globals().migrator, std::forward<Fn>(fn));
}

}  // namespace tandem::cli::migrator_internal
