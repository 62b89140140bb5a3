// tandemctl commands for the migrator's batches: `batch create|dry-run|
// start|pause|resume|cancel|retry|rollback|release|get|list|items|watch|
// report`.
#pragma once

#include "cli/command.h"

namespace tandem::cli {

// Adds the batch commands to `commands`.
void AddBatchCommands(CommandSet& commands);

}  // namespace tandem::cli
