// The life of a batch, and the only moves it may make. Every batch state
// change the migrator stores (an operator's call or the back end's own
// reconciliation) goes through IsValidBatchTransition; operator calls are
// first mapped to the state they ask for by BatchActionTarget.
//
//   CREATED --start--> RUNNING --pause--> PAUSING --(nothing in flight)-->
//   PAUSED
//      |                ^ |  \     <----resume----  |  <-------resume-------  |
//      |                | |   \                     |                         |
//      |                | |    +--(last item ends)--+--> COMPLETED            |
//      |                | |                                                   |
//      +----cancel------+-+--cancel--> CANCELLING <------cancel---------------+
//      |                                   |
//      |                     (nothing in flight: the rest SKIPPED)
//      |                                   v
//      +----cancel (nothing started)---> CANCELLED
//
// RUNNING also goes PAUSING by itself (a critical load threshold crossed, or
// `pause_after_failures` reached). COMPLETED and CANCELLED are terminal;
// items in TAIL finish their window whatever the batch's state.
#pragma once

#include "absl/status/statusor.h"
#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

using BatchState = ::tandem::migrator::v1::BatchState;

// True when a batch may go from `from` to `to` in one stored change.
// Staying in the same state is not a transition (false).
bool IsValidBatchTransition(BatchState from, BatchState to);

// True for COMPLETED and CANCELLED.
bool IsTerminalBatch(BatchState state);

// What an operator asks of a batch.
enum class BatchAction { kStart, kPause, kResume, kCancel };

// The state `action` takes a batch in `current` to, or `current` itself when
// the batch is there already (asking again is not a change); a CREATED batch
// cancelled goes CANCELLED at once (nothing started). FAILED_PRECONDITION,
// naming both, when the action does not apply to `current`.
absl::StatusOr<BatchState> BatchActionTarget(BatchAction action,
                                             BatchState current);

// "RUNNING" and the like.
const char* BatchStateName(BatchState state);
const char* BatchActionName(BatchAction action);

}  // namespace tandem::migrator
