// Batches as the operator sees and drives them, in the control database:
// creation from a resolved selection, state changes (with versions and
// request ids), options, the operator gate, pages of batches and items, and
// what the back end needs to share the work between replicas (the batches
// it must drive, reconciliation of their states, throttle status, write
// budget shares). The items' own progress is MoveStore's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "migrator/batch/batch_states.h"
#include "migrator/move/move_store.h"
#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

// A customer a batch takes but will not work on, and why.
struct SkippedCustomer {
  int64_t customer_id = 0;
  ::tandem::migrator::v1::FailureKind kind =
      ::tandem::migrator::v1::FAILURE_KIND_UNSPECIFIED;
  std::string message;
};

// A selector resolved: the customers to work on and those skipped, each in
// customer id order.
struct Selection {
  std::vector<int64_t> pending;
  std::vector<SkippedCustomer> skipped;
};

// Who asks for a change, and why.
struct Change {
  std::string actor;
  std::string reason;
  std::string request_id;
  int64_t expected_version = 0;
};

// A batch as the back end drives it.
struct BatchControl {
  int64_t batch_id = 0;
  ::tandem::migrator::v1::BatchState state =
      ::tandem::migrator::v1::BATCH_STATE_UNSPECIFIED;
  ::tandem::migrator::v1::BatchMode mode =
      ::tandem::migrator::v1::BATCH_MODE_UNSPECIFIED;
  ::tandem::migrator::v1::BatchOptions options;
};

struct BatchFilter {
  std::vector<::tandem::migrator::v1::BatchState> states;
  ::tandem::migrator::v1::BatchMode mode =
      ::tandem::migrator::v1::BATCH_MODE_UNSPECIFIED;
  int direction = 0;  // tandem.common.v1.Direction; 0 for any
};

struct ItemFilter {
  std::vector<::tandem::migrator::v1::ItemState> states;
  std::vector<::tandem::migrator::v1::FailureKind> failure_kinds;
  bool include_details = false;
};

class BatchStore {
 public:
  virtual ~BatchStore() = default;

  // Creates the batch (CREATED, or RUNNING when `batch.start`) with one
  // PENDING item per `selection.pending` customer and one SKIPPED item per
  // skipped one, in one transaction. A customer in another unfinished batch
  // (even one that got there a moment ago) becomes SKIPPED IN_OTHER_BATCH.
  // A retry with the same request id returns the batch the first call made.
  // ALREADY_EXISTS when the name is taken.
  virtual absl::StatusOr<::tandem::migrator::v1::Batch> CreateBatch(
      const NewBatch& batch, const Selection& selection) = 0;

  // The customers of a batch's items in any of `states` (any when empty).
  // NOT_FOUND for an unknown batch.
  virtual absl::StatusOr<std::vector<int64_t>> CustomersOf(
      int64_t batch_id,
      const std::vector<::tandem::migrator::v1::ItemState>& states) = 0;

  // The direction of a batch (tandem.common.v1.Direction); NOT_FOUND.
  virtual absl::StatusOr<::tandem::migrator::v1::Batch> GetBatch(
      int64_t batch_id) = 0;

  // Applies an operator action (see BatchActionTarget). Asking for the state
  // the batch is in changes nothing. Cancelling skips every PENDING item at
  // once. ABORTED when `expected_version` no longer holds; NOT_FOUND;
  // FAILED_PRECONDITION for an action that does not apply. A retried request
  // id returns the batch as it is.
  virtual absl::StatusOr<::tandem::migrator::v1::Batch> Act(
      int64_t batch_id, BatchAction action, const Change& change) = 0;

  // Replaces the options of an unfinished batch (FAILED_PRECONDITION for a
  // finished one).
  virtual absl::StatusOr<::tandem::migrator::v1::Batch> UpdateOptions(
      int64_t batch_id, const ::tandem::migrator::v1::BatchOptions& options,
      const Change& change) = 0;

  // Opens the gate for `customers` (or every item held now, with
  // `all_held`); returns how many items it released. NOT_FOUND for a
  // customer not in the batch.
  virtual absl::StatusOr<int64_t> ReleaseItems(
      int64_t batch_id, const std::vector<int64_t>& customers, bool all_held,
      const Change& change) = 0;

  // True once the item's gate is open.
  virtual absl::StatusOr<bool> GateReleased(int64_t batch_id,
                                            int64_t customer_id) = 0;

  // Newest first, after `before_batch_id` (0: from the newest).
  virtual absl::StatusOr<std::vector<::tandem::migrator::v1::Batch>>
  ListBatches(const BatchFilter& filter, int limit,
              int64_t before_batch_id) = 0;

  // In customer id order, after `after_customer_id`.
  virtual absl::StatusOr<std::vector<::tandem::migrator::v1::BatchItem>>
  ListItems(int64_t batch_id, const ItemFilter& filter, int limit,
            int64_t after_customer_id) = 0;

  // Items changed after `since_ms` (control database clock), at most
  // `limit`, and that clock's time now.
  virtual absl::StatusOr<std::vector<::tandem::migrator::v1::BatchItem>>
  ItemsChangedSince(int64_t batch_id, int64_t since_ms, int limit,
                    int64_t* now_ms) = 0;

  // Every batch that is not finished, or finished with items in TAIL.
  virtual absl::StatusOr<std::vector<BatchControl>> ActiveBatches() = 0;

  // Moves batches along by themselves: PAUSING to PAUSED once nothing is
  // in flight, CANCELLING to CANCELLED once nothing is unfinished but
  // tails, RUNNING to PAUSING after `pause_after_failures` failures, and
  // RUNNING or PAUSING to COMPLETED once every item is finished. Any
  // replica may run it; each change is a conditional update.
  virtual absl::Status Reconcile() = 0;

  // PAUSING with `reason`, by the migrator, when the batch is RUNNING.
  virtual absl::Status AutoPause(int64_t batch_id,
                                 const std::string& reason) = 0;

  // The latest throttle decision for a batch.
  virtual absl::Status SaveThrottle(
      int64_t batch_id, const ::tandem::migrator::v1::ThrottleStatus& s) = 0;

  // This replica's busy workers per batch; returns the busy workers per
  // batch over every replica heard from within `live_ms`.
  virtual absl::StatusOr<std::map<int64_t, int>> Heartbeat(
      const std::string& worker, const std::map<int64_t, int>& busy,
      int64_t live_ms) = 0;

  // Every item of a batch with its details (the report).
  virtual absl::StatusOr<std::vector<::tandem::migrator::v1::BatchItem>>
  AllItems(int64_t batch_id) = 0;
};

}  // namespace tandem::migrator
