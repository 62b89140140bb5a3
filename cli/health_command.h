// `tandemctl health [--service NAME]`: the standard grpc.health.v1 check of
// the server at --router. "" (the default) asks about the server as a whole,
// "tandem.router.v1.RouterService" about the router's readiness (it follows
// the database). When the catalog and migrator commands arrive, health gets
// a flag choosing which server's address to use.
#pragma once

#include "cli/command.h"

namespace tandem::cli {

// Adds the `health` command. It prints SERVICE and STATUS and fails (exit
// code 1, UNAVAILABLE) when the status is not SERVING, so scripts can wait
// for readiness with it.
void AddHealthCommand(CommandSet& commands);

}  // namespace tandem::cli
