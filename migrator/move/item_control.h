// What a batch wants of one of its items, asked by the mover at the
// checkpoints of a move: before planning, between catch-up rounds, and at
// the operator gate before the cutover (never during a cutover, which always
// finishes). The back end's governor implements it from the batch's state,
// options and the load it measures; tests use fakes.
#pragma once

#include "migrator/move/move_store.h"

namespace tandem::migrator {

enum class ItemDecision {
  // Go on.
  kGo,
  // Back off (the source is loaded, or outside the batch's window): ask
  // again shortly.
  kWait,
  // Wait at the operator gate (only answered with `at_gate`).
  kHold,
  // Stop here; the item is released as it is and resumes later.
  kPause,
  // Stop here; the item is SKIPPED (its copy removed).
  kCancel,
};

class ItemControl {
 public:
  virtual ~ItemControl() = default;
  // `at_gate`: the item is copied and about to catch up for its cutover.
  virtual ItemDecision Check(const ItemRecord& record, bool at_gate) = 0;
};

}  // namespace tandem::migrator
