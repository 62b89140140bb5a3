// tandemctl commands for the migrator: `customer move|rollback|verify` and
// `mapping show`.
#pragma once

#include "cli/command.h"

namespace tandem::cli {

// Adds the migrator's commands to `commands`.
void AddMigratorCommands(CommandSet& commands);

}  // namespace tandem::cli
