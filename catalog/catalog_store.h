// CatalogStore: where the catalog keeps its own state (the control
// database): the freeze row, the settings row, the products of both systems
// as last read or written, the mappings, the audit log, the recorded
// responses of mutations (request ids) and a revision that grows with every
// change of what replicas cache.
//
// The catalog's logic (freeze_control.h, product_changes.h, mappings.h, ...)
// decides; the store only reads and writes rows. Mutations run in
// transactions (RunTransaction, or Transact below) so that a product
// change's freeze check, its billing write and its rows commit or fail
// together. MysqlCatalogStore (mysql_catalog_store.h) is the real one;
// tests/catalog/fake_catalog_store.h keeps the same rows in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "catalog/freeze_rules.h"
#include "catalog/move_rules.h"
#include "google/protobuf/message.h"
#include "tandem/catalog/v1/catalog.pb.h"
#include "tandem/common/v1/types.pb.h"

namespace tandem::catalog {

// How a row read inside a transaction is locked until the transaction ends.
enum class RowLock {
  kNone,
  // Others may read and share-lock it; nobody may change it.
  kShared,
  // Nobody else may lock it.
  kExclusive,
};

// The freeze row: the state, who set it and the transition that led to it.
struct FreezeRow {
  // State, version and stamp (customers_on_source and auto_lift are not
  // stored here).
  ::tandem::catalog::v1::Freeze freeze;
  ::tandem::catalog::v1::FreezeState previous =
      ::tandem::catalog::v1::FREEZE_STATE_UNSPECIFIED;
  bool automatic = false;
  bool forced = false;
};

// A product row with what the freeze needs to know about it.
struct ProductRow {
  // mapped_to_product_id is filled from the mappings; `frozen` is not set.
  ::tandem::catalog::v1::Product product;
  // First seen on the target while the freeze was FROZEN_TARGET_OPEN.
  bool after_switchover = false;
  // A mapping points at this (target) product.
  bool mapping_target = false;
};

// The freeze's view of a product row.
ProductFacts FactsOf(const ProductRow& row);

// What each replica keeps in memory, as of one revision.
struct CachedState {
  int64_t revision = -1;
  FreezeRow freeze;
  ::tandem::catalog::v1::CatalogSettings settings;
  // Facts of every product the catalog knows, by (system, product id).
  absl::flat_hash_map<std::pair<int, int64_t>, ProductFacts> facts;
};

// The authoritative freeze and revision, read together.
struct FreezeProbe {
  int64_t revision = 0;
  ::tandem::catalog::v1::Freeze freeze;
};

// A page of products, in (system, product id) order.
struct ProductQuery {
  // UNSPECIFIED: both systems.
  ::tandem::common::v1::System system =
      ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  // UNSPECIFIED: every kind.
  ::tandem::catalog::v1::ProductKind kind =
      ::tandem::catalog::v1::PRODUCT_KIND_UNSPECIFIED;
  // Source products without a mapping only.
  bool unmapped_only = false;
  std::string code_prefix;
  // Products after (after_system, after_product_id).
  int after_system = 0;
  int64_t after_product_id = 0;
  int limit = 100;
};

// A page of audit entries, newest first.
struct AuditQuery {
  // Entries with seq < before_seq.
  int64_t before_seq = INT64_MAX;
  // Empty: every kind.
  std::vector<int> kinds;
  ::tandem::common::v1::System system =
      ::tandem::common::v1::SYSTEM_UNSPECIFIED;
  // 0: every product.
  int64_t product_id = 0;
  // 0: unbounded; since inclusive, until exclusive.
  int64_t since_unix_ms = 0;
  int64_t until_unix_ms = 0;
  int limit = 100;
};

// Mappings in source product id order.
struct MappingQuery {
  int64_t after_source_product_id = 0;
  // 0: any target.
  int64_t target_product_id = 0;
  // UNSPECIFIED: any origin.
  ::tandem::catalog::v1::MappingOrigin origin =
      ::tandem::catalog::v1::MAPPING_ORIGIN_UNSPECIFIED;
};

// The rows one transaction reads and writes. Every method fails (and the
// transaction with it) when the database does; a failed transaction changes
// nothing.
class CatalogTxn {
 public:
  virtual ~CatalogTxn() = default;

  // Request ids. FindRequest locks the request's row and returns true with
  // `response` filled when `request_id` was recorded (false for an empty
  // id); INVALID_ARGUMENT when it was recorded for another method.
  virtual absl::StatusOr<bool> FindRequest(
      const std::string& request_id, const std::string& method,
      google::protobuf::Message* response) = 0;
  // Records `response` under `request_id` (nothing for an empty id).
  virtual absl::Status SaveRequest(
      const std::string& request_id, const std::string& method,
      const google::protobuf::Message& response) = 0;

  virtual absl::StatusOr<FreezeRow> ReadFreeze(RowLock lock) = 0;
  virtual absl::Status WriteFreeze(const FreezeRow& row) = 0;
  virtual absl::StatusOr<::tandem::catalog::v1::CatalogSettings> ReadSettings(
      RowLock lock) = 0;
  virtual absl::Status WriteSettings(
      const ::tandem::catalog::v1::CatalogSettings& settings) = 0;

  // Products. LockProduct and LockProducts lock what they return
  // exclusively; ProductKnown does not lock.
  virtual absl::StatusOr<std::optional<ProductRow>> LockProduct(
      ::tandem::common::v1::System system, int64_t product_id) = 0;
  virtual absl::StatusOr<std::vector<ProductRow>> LockProducts(
      ::tandem::common::v1::System system) = 0;
  virtual absl::StatusOr<bool> ProductKnown(::tandem::common::v1::System system,
                                            int64_t product_id) = 0;
  // The specs of every main product of `system`.
  virtual absl::StatusOr<std::vector<::tandem::catalog::v1::ProductSpec>>
  MainProductSpecs(::tandem::common::v1::System system) = 0;
  // Inserts or replaces the row of `product` (system, product id).
  virtual absl::Status UpsertProduct(
      const ::tandem::catalog::v1::Product& product, bool after_switchover) = 0;
  virtual absl::Status RemoveProduct(::tandem::common::v1::System system,
                                     int64_t product_id) = 0;

  // Mappings, by source product id; LockMapping locks exclusively.
  virtual absl::StatusOr<std::optional<::tandem::catalog::v1::Mapping>>
  LockMapping(int64_t source_product_id) = 0;
  virtual absl::Status WriteMapping(
      const ::tandem::catalog::v1::Mapping& mapping) = 0;
  virtual absl::Status RemoveMapping(int64_t source_product_id) = 0;

  // Appends `entry` under the next sequence number and returns it. Sequence
  // numbers commit in order and without gaps.
  virtual absl::StatusOr<int64_t> AppendAudit(
      ::tandem::catalog::v1::AuditEntry entry) = 0;
  // Marks every replica's cached state stale (the revision grows by one).
  // Every transaction that changes the freeze, the settings, a product or a
  // mapping calls it.
  virtual absl::Status BumpRevision() = 0;
};

class CatalogStore {
 public:
  virtual ~CatalogStore() = default;

  // Runs `fn` in a transaction: commits when it returns OK, rolls back
  // otherwise. A transaction that fails with ABORTED (a deadlock, a lock
  // wait timeout, or `fn` returning ABORTED) is run again, a few times, so
  // `fn` must be safe to run more than once: prefer Transact() below.
  virtual absl::Status RunTransaction(
      absl::string_view what,
      const std::function<absl::Status(CatalogTxn&)>& fn) = 0;

  // The whole cached state, or nullopt when the revision is still
  // `known_revision` (pass -1 to read it anyway).
  virtual absl::StatusOr<std::optional<CachedState>> ReadStateIfChanged(
      int64_t known_revision) = 0;

  // The freeze and the revision as committed now, without locks: one read
  // of two rows by primary key.
  virtual absl::StatusOr<FreezeProbe> ProbeFreeze() = 0;

  // One product, by id or by code (codes match regardless of case), or
  // nullopt.
  virtual absl::StatusOr<std::optional<ProductRow>> ReadProduct(
      ::tandem::common::v1::System system, int64_t product_id) = 0;
  virtual absl::StatusOr<std::optional<ProductRow>> ReadProductByCode(
      ::tandem::common::v1::System system, const std::string& code) = 0;

  virtual absl::StatusOr<std::vector<ProductRow>> ListProducts(
      const ProductQuery& query) = 0;
  virtual absl::StatusOr<std::vector<::tandem::catalog::v1::AuditEntry>>
  ListAudit(const AuditQuery& query) = 0;
  virtual absl::StatusOr<std::vector<::tandem::catalog::v1::Mapping>>
  ListMappings(const MappingQuery& query) = 0;

  // Every product and mapping, and the default overuse setting.
  virtual absl::StatusOr<CatalogSnapshot> LoadSnapshot() = 0;
};

// Runs `fn` (CatalogTxn& -> absl::StatusOr<T>) in one transaction of `store`
// and returns what its last attempt returned, once that attempt committed.
// `fn` returns its result instead of writing to captured variables, so an
// attempt that is rolled back and retried leaves nothing behind.
template <typename Fn>
auto Transact(CatalogStore& store, absl::string_view what, Fn&& fn)
    -> std::invoke_result_t<Fn&, CatalogTxn&> {
  using Result = std::invoke_result_t<Fn&, CatalogTxn&>;
  std::optional<Result> last;
  absl::Status status =
      store.RunTransaction(what, [&](CatalogTxn& txn) -> absl::Status {
        last.emplace(fn(txn));
        return last->status();
      });
  if (!status.ok()) return status;
  return *std::move(last);
}

}  // namespace tandem::catalog
