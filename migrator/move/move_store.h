// Where batches and their items live (the control database): the desired
// work, and how far each customer got. The back end reads it to drive work
// forward, so a restarted migrator continues where it stopped; migrator
// replicas share items through leases, and every write a worker makes is
// fenced by the epoch it claimed the item with.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "migrator/mapping/mapping.h"
#include "tandem/migrator/v1/migrator.pb.h"

namespace tandem::migrator {

// An item as a worker holds it: its public view plus what a resumed worker
// needs to continue safely.
struct ItemRecord {
  ::tandem::migrator::v1::BatchItem item;
  // The batch's mode, direction and options.
  ::tandem::migrator::v1::BatchMode mode =
      ::tandem::migrator::v1::BATCH_MODE_LIVE;
  Direction direction = Direction::kMove;
  ::tandem::migrator::v1::BatchOptions options;
  // The claim: which replica, until when (control database clock), and the
  // epoch every write of this claim is checked against.
  std::string worker;
  int64_t lease_until_ms = 0;
  int64_t epoch = 0;
  // The route version while MIGRATING (0 when not started).
  int64_t migrating_version = 0;
  // The customer's status on the new side, set at the flip.
  std::string new_status;
  // When the route went MIGRATING, was flipped, and when the tail ends.
  int64_t cutover_started_ms = 0;
  int64_t flipped_at_ms = 0;
  int64_t tail_until_ms = 0;
  // Not stored: set by the mover when it stopped the item at a checkpoint
  // (its batch pausing); the worker releases it as it is.
  bool stopped = false;
};

// What one claim may take (see MoveStore::ClaimItems).
struct ClaimLimits {
  int limit = 0;
  int tail_limit = 64;
  // When set, PENDING items start only in these batches.
  std::optional<std::set<int64_t>> may_start;
};

// A batch to create.
struct NewBatch {
  std::string name;  // empty: "<move|rollback>-<customer>-<batch id>"
  std::string description;
  ::tandem::migrator::v1::BatchMode mode =
      ::tandem::migrator::v1::BATCH_MODE_LIVE;
  Direction direction = Direction::kMove;
  ::tandem::migrator::v1::BatchOptions options;
  ::tandem::migrator::v1::BatchSelector selector;
  std::vector<int64_t> customers;
  std::string mapping_digest;
  std::string actor;
  std::string reason;
  std::string request_id;
  // Start at once (RUNNING) instead of CREATED.
  bool start = true;
};

class MoveStore {
 public:
  virtual ~MoveStore() = default;

  // Creates a batch with one PENDING item per customer. A retry with the
  // same request id returns the batch the first call made.
  // FAILED_PRECONDITION when a customer is an item of an unfinished batch;
  // ALREADY_EXISTS when the name is taken.
  virtual absl::StatusOr<::tandem::migrator::v1::Batch> CreateBatch(
      const NewBatch& batch) = 0;

  // The batch a call with this request id created, if any.
  virtual absl::StatusOr<std::optional<::tandem::migrator::v1::Batch>>
  FindBatchByRequest(const std::string& request_id) = 0;

  // The batch with its progress counts; NOT_FOUND when unknown.
  virtual absl::StatusOr<::tandem::migrator::v1::Batch> GetBatch(
      int64_t batch_id) = 0;

  // One item; NOT_FOUND when unknown.
  virtual absl::StatusOr<ItemRecord> GetItem(int64_t batch_id,
                                             int64_t customer_id) = 0;

  // The latest item of a customer (any batch), if any.
  virtual absl::StatusOr<std::optional<ItemRecord>> LatestItem(
      int64_t customer_id) = 0;

  // Claims, for `worker` and `lease_ms`, each with a new epoch, items that
  // nobody holds (or whose holder's lease ran out): up to `limits.limit`
  // items to start or resume — PENDING items of RUNNING batches (not of
  // `limits.may_start`, when set), and items between PLANNING and VERIFYING of
  // RUNNING, PAUSING or CANCELLING batches (to go on, stop or be skipped) —
  // never more per batch than its parallelism over every replica; and up to
  // `limits.tail_limit` items in TAIL, whatever their batch's state. Uses
  // SKIP LOCKED, so replicas never wait on each other's items.
  virtual absl::StatusOr<std::vector<ItemRecord>> ClaimItems(
      const std::string& worker, int64_t lease_ms,
      const ClaimLimits& limits) = 0;

  // Extends the lease of an item the worker holds; ABORTED when it no
  // longer holds it (its epoch is stale).
  virtual absl::Status RenewLease(const ItemRecord& record,
                                  int64_t lease_ms) = 0;

  // Extends the leases of the items in `records` the worker holds, in a
  // few statements however many there are. Returns the positions in
  // `records` of the items it no longer holds (their epoch is stale):
  // those are not extended.
  virtual absl::StatusOr<std::vector<size_t>> RenewLeases(
      const std::vector<ItemRecord>& records, int64_t lease_ms) = 0;

  // Stores `record` (state, public view, resume data) if the worker still
  // holds it with the record's epoch and the state change is legal.
  // ABORTED when the claim was lost; FAILED_PRECONDITION for an illegal
  // transition. A terminal item releases the customer, and completes its
  // batch when it was the last one.
  virtual absl::Status UpdateItem(const ItemRecord& record) = 0;

  // Gives up the claim (another worker may take the item).
  virtual absl::Status ReleaseItem(const ItemRecord& record) = 0;

  // DONE items whose tail window ended at most `within_ms` ago (control
  // database clock), at most `limit`: the customers the late-write sentinel
  // keeps watching.
  virtual absl::StatusOr<std::vector<ItemRecord>> RecentlyDone(
      int64_t within_ms, int limit) = 0;

  // Records on a finished item how many writes were found on the old system
  // after its tail window (an alarm; they were not carried).
  virtual absl::Status RecordLateWrites(int64_t batch_id, int64_t customer_id,
                                        int64_t writes) = 0;

  // Marks the DONE item of the batch that moved `customer_id` ROLLED_BACK
  // (after a rollback flipped it back). Not finding one is not an error.
  virtual absl::Status MarkRolledBack(int64_t customer_id) = 0;
};

}  // namespace tandem::migrator
