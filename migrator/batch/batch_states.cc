#include "migrator/batch/batch_states.h"

#include "absl/strings/str_cat.h"

namespace tandem::migrator {

namespace v1 = ::tandem::migrator::v1;

bool IsTerminalBatch(BatchState s) {
  return s == v1::BATCH_STATE_COMPLETED || s == v1::BATCH_STATE_CANCELLED;
}

bool IsValidBatchTransition(BatchState from, BatchState to) {
  switch (from) {
    case v1::BATCH_STATE_CREATED:
      return to == v1::BATCH_STATE_RUNNING ||
             to == v1::BATCH_STATE_CANCELLING ||
             to == v1::BATCH_STATE_CANCELLED;
    case v1::BATCH_STATE_RUNNING:
      return to == v1::BATCH_STATE_PAUSING ||
             to == v1::BATCH_STATE_CANCELLING ||
             to == v1::BATCH_STATE_COMPLETED;
    case v1::BATCH_STATE_PAUSING:
      return to == v1::BATCH_STATE_PAUSED || to == v1::BATCH_STATE_RUNNING ||
             to == v1::BATCH_STATE_CANCELLING ||
             to == v1::BATCH_STATE_COMPLETED;
    case v1::BATCH_STATE_PAUSED:
      return to == v1::BATCH_STATE_RUNNING || to == v1::BATCH_STATE_CANCELLING;
    case v1::BATCH_STATE_CANCELLING:
      return to == v1::BATCH_STATE_CANCELLED;
    default:
      return false;
  }
}

absl::StatusOr<BatchState> BatchActionTarget(BatchAction action,
                                             BatchState current) {
  BatchState to = current;
  bool already = false;
  switch (action) {
    case BatchAction::kStart:
      to = v1::BATCH_STATE_RUNNING;
      already = current == v1::BATCH_STATE_RUNNING;
      break;
    case BatchAction::kPause:
      to = v1::BATCH_STATE_PAUSING;
      already = current == v1::BATCH_STATE_PAUSING ||
                current == v1::BATCH_STATE_PAUSED;
      break;
    case BatchAction::kResume:
      to = v1::BATCH_STATE_RUNNING;
      already = current == v1::BATCH_STATE_RUNNING;
      if (current == v1::BATCH_STATE_CREATED) already = false;
      break;
    case BatchAction::kCancel:
      to = current == v1::BATCH_STATE_CREATED ? v1::BATCH_STATE_CANCELLED
                                              : v1::BATCH_STATE_CANCELLING;
      already = current == v1::BATCH_STATE_CANCELLING ||
                current == v1::BATCH_STATE_CANCELLED;
      break;
  }
  if (already) return current;
  // Start applies to a created batch only, Resume to a pausing or paused
  // one.
  const bool wrong_kind =
      (action == BatchAction::kResume && current == v1::BATCH_STATE_CREATED) ||
      (action == BatchAction::kStart && current != v1::BATCH_STATE_CREATED);
  if (wrong_kind || !IsValidBatchTransition(current, to)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", BatchActionName(action), " a batch that is ",
                     BatchStateName(current)));
  }
  return to;
}

const char* BatchStateName(BatchState s) {
  switch (s) {
    case v1::BATCH_STATE_CREATED:
      return "CREATED";
    case v1::BATCH_STATE_RUNNING:
      return "RUNNING";
    case v1::BATCH_STATE_PAUSING:
      return "PAUSING";
    case v1::BATCH_STATE_PAUSED:
      return "PAUSED";
    case v1::BATCH_STATE_CANCELLING:
      return "CANCELLING";
    case v1::BATCH_STATE_CANCELLED:
      return "CANCELLED";
    case v1::BATCH_STATE_COMPLETED:
      return "COMPLETED";
    default:
      return "UNSPECIFIED";
  }
}

const char* BatchActionName(BatchAction a) {
  switch (a) {
    case BatchAction::kStart:
      return "start";
    case BatchAction::kPause:
      return "pause";
    case BatchAction::kResume:
      return "resume";
    case BatchAction::kCancel:
      return "cancel";
  }
  return "?";
}

}  // namespace tandem::migrator
