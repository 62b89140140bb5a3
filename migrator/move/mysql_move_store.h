// MoveStore over the control database. Items are claimed with
// SELECT ... FOR UPDATE SKIP LOCKED and fenced by an epoch; a table of
// active customers (one row per customer in an unfinished item) makes "a
// customer is in at most one unfinished batch" a unique key, not a check
// that two creators could both pass.
#pragma once

#include <memory>
#include <vector>

#include "common/mysql_pool.h"
#include "common/schema_migrations.h"
#include "migrator/move/move_store.h"

namespace tandem::migrator {

// The migrator's control tables.
const std::vector<SchemaMigration>& MigratorSchemaMigrations();

class MysqlMoveStore final : public MoveStore {
 public:
  // Applies the migrator's schema migrations and returns the store.
  static absl::StatusOr<std::unique_ptr<MysqlMoveStore>> Create(
      MysqlPool* pool);

  absl::StatusOr<::tandem::migrator::v1::Batch> CreateBatch(
      const NewBatch& batch) override;
  absl::StatusOr<std::optional<::tandem::migrator::v1::Batch>>
  FindBatchByRequest(const std::string& request_id) override;
  absl::StatusOr<::tandem::migrator::v1::Batch> GetBatch(
      int64_t batch_id) override;
  absl::StatusOr<ItemRecord> GetItem(int64_t batch_id,
                                     int64_t customer_id) override;
  absl::StatusOr<std::optional<ItemRecord>> LatestItem(
      int64_t customer_id) override;
  absl::StatusOr<std::vector<ItemRecord>> ClaimItems(
      const std::string& worker, int64_t lease_ms,
      const ClaimLimits& limits) override;
  absl::Status RenewLease(const ItemRecord& record, int64_t lease_ms) override;
  absl::StatusOr<std::vector<size_t>> RenewLeases(
      const std::vector<ItemRecord>& records, int64_t lease_ms) override;
  absl::Status UpdateItem(const ItemRecord& record) override;
  absl::Status ReleaseItem(const ItemRecord& record) override;
  absl::Status MarkRolledBack(int64_t customer_id) override;
  absl::StatusOr<std::vector<ItemRecord>> RecentlyDone(int64_t within_ms,
                                                       int limit) override;
  absl::Status RecordLateWrites(int64_t batch_id, int64_t customer_id,
                                int64_t writes) override;

 private:
  explicit MysqlMoveStore(MysqlPool* pool) : pool_(pool) {}
  MysqlPool* pool_;
};

}  // namespace tandem::migrator
