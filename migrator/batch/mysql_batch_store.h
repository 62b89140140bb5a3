// BatchStore over the control database, on the tables MysqlMoveStore
// creates (migrator_batches, migrator_items, migrator_active_customers,
// migrator_batch_requests, migrator_replica_load).
#pragma once

#include <memory>

#include "common/mysql_pool.h"
#include "migrator/batch/batch_store.h"

namespace tandem::migrator {

class MysqlBatchStore final : public BatchStore {
 public:
  // The tables must exist (MysqlMoveStore::Create applies them).
  explicit MysqlBatchStore(MysqlPool* pool) : pool_(pool) {}

  absl::StatusOr<::tandem::migrator::v1::Batch> CreateBatch(
      const NewBatch& batch, const Selection& selection) override;
  absl::StatusOr<std::vector<int64_t>> CustomersOf(
      int64_t batch_id,
      const std::vector<::tandem::migrator::v1::ItemState>& states) override;
  absl::StatusOr<::tandem::migrator::v1::Batch> GetBatch(
      int64_t batch_id) override;
  absl::StatusOr<::tandem::migrator::v1::Batch> Act(
      int64_t batch_id, BatchAction action, const Change& change) override;
  absl::StatusOr<::tandem::migrator::v1::Batch> UpdateOptions(
      int64_t batch_id, const ::tandem::migrator::v1::BatchOptions& options,
      const Change& change) override;
  absl::StatusOr<int64_t> ReleaseItems(int64_t batch_id,
                                       const std::vector<int64_t>& customers,
                                       bool all_held,
                                       const Change& change) override;
  absl::StatusOr<bool> GateReleased(int64_t batch_id,
                                    int64_t customer_id) override;
  absl::StatusOr<std::vector<::tandem::migrator::v1::Batch>> ListBatches(
      const BatchFilter& filter, int limit, int64_t before_batch_id) override;
  absl::StatusOr<std::vector<::tandem::migrator::v1::BatchItem>> ListItems(
      int64_t batch_id, const ItemFilter& filter, int limit,
      int64_t after_customer_id) override;
  absl::StatusOr<std::vector<::tandem::migrator::v1::BatchItem>>
  ItemsChangedSince(int64_t batch_id, int64_t since_ms, int limit,
                    int64_t* now_ms) override;
  absl::StatusOr<std::vector<BatchControl>> ActiveBatches() override;
  absl::Status Reconcile() override;
  absl::Status AutoPause(int64_t batch_id, const std::string& reason) override;
  absl::Status SaveThrottle(
      int64_t batch_id,
      const ::tandem::migrator::v1::ThrottleStatus& status) override;
  absl::StatusOr<std::map<int64_t, int>> Heartbeat(
      const std::string& worker, const std::map<int64_t, int>& busy,
      int64_t live_ms) override;
  absl::StatusOr<std::vector<::tandem::migrator::v1::BatchItem>> AllItems(
      int64_t batch_id) override;

 private:
  MysqlPool* pool_;
};

}  // namespace tandem::migrator
