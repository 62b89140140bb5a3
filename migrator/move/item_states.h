// The life of one customer in a batch (an item), and the only moves it may
// make. Every state change the migrator stores goes through
// IsValidItemTransition, so a bug or a stale worker cannot skip a step.
//
//              +--------------------------- SKIPPED
//              |
//   PENDING -> PLANNING -> PRE_COPY -> CUTOVER -> VERIFYING -> TAIL -> DONE
//              ^   |         |   ^       |    |       |    |              |
//              |   |         |   +-------+    +--> TAIL    |              v
//              |   |         |   (resume: the copy is      |       ROLLED_BACK
//              |   |         |    redone, nothing flipped) |
//              +---|---------+----------------------------+  (resume)
//                  v         v          v          v
//                FAILED    FAILED     FAILED     FAILED   (nothing flipped;
//                                                          the route is back)
//
// PLANNING and PRE_COPY go SKIPPED when the customer turns out to be moved
// already, or its batch is cancelled (the copy is removed).
//
// A DRY_RUN item never holds or flips the customer:
//
//   PENDING -> PLANNING -> PRE_COPY -> VERIFYING -> DONE (it would move)
//   and from any of them FAILED (it would not) or SKIPPED; PRE_COPY and
//   VERIFYING go back to PLANNING when a restarted migrator resumes it.
//
// PLANNING, PRE_COPY, CUTOVER and VERIFYING may go back to PLANNING or
// PRE_COPY when a restarted migrator resumes the item (the route was not
// flipped, so the copy is redone). CUTOVER and VERIFYING go to TAIL when the
// flip is found committed. Nothing leaves TAIL but DONE: after the flip the
// customer is moved, whatever happens.
#pragma once

#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

using ItemState = ::tandem::migrator::v1::ItemState;

// True when an item may go from `from` to `to` in one stored change.
// Staying in the same state is valid (a repeated write is harmless).
bool IsValidItemTransition(ItemState from, ItemState to);

// The same for an item of a batch in `mode` (DRY_RUN has its own moves).
bool IsValidItemTransition(ItemState from, ItemState to,
                           ::tandem::migrator::v1::BatchMode mode);

// True for DONE, FAILED, SKIPPED and ROLLED_BACK.
bool IsTerminal(ItemState state);

// True once the customer's route has been flipped (TAIL, DONE,
// ROLLED_BACK).
bool IsFlipped(ItemState state);

// "PRE_COPY" and the like.
const char* ItemStateName(ItemState state);

}  // namespace tandem::migrator
