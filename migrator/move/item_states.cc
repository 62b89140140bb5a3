#include "migrator/move/item_states.h"

namespace tandem::migrator {

namespace v1 = ::tandem::migrator::v1;

bool IsTerminal(ItemState s) {
  return s == v1::ITEM_STATE_DONE || s == v1::ITEM_STATE_FAILED ||
         s == v1::ITEM_STATE_SKIPPED || s == v1::ITEM_STATE_ROLLED_BACK;
}

bool IsFlipped(ItemState s) {
  return s == v1::ITEM_STATE_TAIL || s == v1::ITEM_STATE_DONE ||
         s == v1::ITEM_STATE_ROLLED_BACK;
}

bool IsValidItemTransition(ItemState from, ItemState to) {
  if (from == to) return true;
  switch (from) {
    case v1::ITEM_STATE_PENDING:
      return to == v1::ITEM_STATE_PLANNING || to == v1::ITEM_STATE_SKIPPED ||
             to == v1::ITEM_STATE_FAILED;
    case v1::ITEM_STATE_PLANNING:
      return to == v1::ITEM_STATE_PRE_COPY || to == v1::ITEM_STATE_FAILED ||
             to == v1::ITEM_STATE_SKIPPED;
    case v1::ITEM_STATE_PRE_COPY:
      return to == v1::ITEM_STATE_CUTOVER || to == v1::ITEM_STATE_PLANNING ||
             to == v1::ITEM_STATE_FAILED || to == v1::ITEM_STATE_SKIPPED;
    case v1::ITEM_STATE_CUTOVER:
      return to == v1::ITEM_STATE_VERIFYING || to == v1::ITEM_STATE_TAIL ||
             to == v1::ITEM_STATE_PLANNING || to == v1::ITEM_STATE_PRE_COPY ||
             to == v1::ITEM_STATE_FAILED;
    case v1::ITEM_STATE_VERIFYING:
      return to == v1::ITEM_STATE_TAIL || to == v1::ITEM_STATE_PLANNING ||
             to == v1::ITEM_STATE_PRE_COPY || to == v1::ITEM_STATE_FAILED;
    case v1::ITEM_STATE_TAIL:
      return to == v1::ITEM_STATE_DONE;
    case v1::ITEM_STATE_DONE:
      return to == v1::ITEM_STATE_ROLLED_BACK;
    default:
      return false;
  }
}

bool IsValidItemTransition(ItemState from, ItemState to, v1::BatchMode mode) {
  if (mode != v1::BATCH_MODE_DRY_RUN) return IsValidItemTransition(from, to);
  if (from == to) return true;
  const bool ends = to == v1::ITEM_STATE_FAILED || to == v1::ITEM_STATE_SKIPPED;
  switch (from) {
    case v1::ITEM_STATE_PENDING:
      return to == v1::ITEM_STATE_PLANNING || ends;
    case v1::ITEM_STATE_PLANNING:
      return to == v1::ITEM_STATE_PRE_COPY || ends;
    case v1::ITEM_STATE_PRE_COPY:
      return to == v1::ITEM_STATE_VERIFYING || to == v1::ITEM_STATE_PLANNING ||
             ends;
    case v1::ITEM_STATE_VERIFYING:
      return to == v1::ITEM_STATE_DONE || to == v1::ITEM_STATE_PLANNING || ends;
    default:
      return false;
  }
}

const char* ItemStateName(ItemState s) {
  switch (s) {
    case v1::ITEM_STATE_PENDING:
      return "PENDING";
    case v1::ITEM_STATE_PLANNING:
      return "PLANNING";
    case v1::ITEM_STATE_PRE_COPY:
      return "PRE_COPY";
    case v1::ITEM_STATE_CUTOVER:
      return "CUTOVER";
    case v1::ITEM_STATE_VERIFYING:
      return "VERIFYING";
    case v1::ITEM_STATE_TAIL:
      return "TAIL";
    case v1::ITEM_STATE_DONE:
      return "DONE";
    case v1::ITEM_STATE_FAILED:
      return "FAILED";
    case v1::ITEM_STATE_SKIPPED:
      return "SKIPPED";
    case v1::ITEM_STATE_ROLLED_BACK:
      return "ROLLED_BACK";
    default:
      return "UNSPECIFIED";
  }
}

}  // namespace tandem::migrator
