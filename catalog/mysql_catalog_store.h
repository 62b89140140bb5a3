// CatalogStore over the control database (MySQL/MariaDB).
//
// The freeze row is what product changes read LOCK IN SHARE MODE and freeze
// transitions read FOR UPDATE; nothing else lives in it. The audit sequence
// and the revision live in one counters row, whose lock an audit append
// keeps until its transaction ends, so sequence numbers commit in order.
#pragma once

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "catalog/catalog_store.h"
#include "common/mysql_pool.h"
#include "common/schema_migrations.h"

namespace tandem::catalog {

// The control-database tables of the catalog.
const std::vector<SchemaMigration>& CatalogSchemaMigrations();

class MysqlCatalogStore final : public CatalogStore {
 public:
  // Applies the catalog's schema migrations and returns the store. `pool`
  // is not owned and must outlive the store.
  static absl::StatusOr<std::unique_ptr<MysqlCatalogStore>> Create(
      MysqlPool* pool);

  absl::Status RunTransaction(
      absl::string_view what,
      const std::function<absl::Status(CatalogTxn&)>& fn) override;
  absl::StatusOr<std::optional<CachedState>> ReadStateIfChanged(
      int64_t known_revision) override;
  absl::StatusOr<FreezeProbe> ProbeFreeze() override;
  absl::StatusOr<std::optional<ProductRow>> ReadProduct(
      ::tandem::common::v1::System system, int64_t product_id) override;
  absl::StatusOr<std::optional<ProductRow>> ReadProductByCode(
      ::tandem::common::v1::System system, const std::string& code) override;
  absl::StatusOr<std::vector<ProductRow>> ListProducts(
      const ProductQuery& query) override;
  absl::StatusOr<std::vector<::tandem::catalog::v1::AuditEntry>> ListAudit(
      const AuditQuery& query) override;
  absl::StatusOr<std::vector<::tandem::catalog::v1::Mapping>> ListMappings(
      const MappingQuery& query) override;
  absl::StatusOr<CatalogSnapshot> LoadSnapshot() override;

 private:
  explicit MysqlCatalogStore(MysqlPool* pool) : pool_(pool) {}
  absl::StatusOr<std::optional<ProductRow>> ReadOneProduct(
      absl::string_view what, ::tandem::common::v1::System system,
      const int64_t* product_id, const std::string* code);

  MysqlPool* const pool_;
  // The last snapshot LoadSnapshot read, and the revision it is of.
  absl::Mutex snapshot_mu_;
  std::shared_ptr<const CatalogSnapshot> snapshot_
      ABSL_GUARDED_BY(snapshot_mu_);
  int64_t snapshot_revision_ ABSL_GUARDED_BY(snapshot_mu_) = -1;
};

}  // namespace tandem::catalog
