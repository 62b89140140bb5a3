// MysqlBillingCatalog: BillingCatalog over a billing system's own MariaDB
// database, for both schema versions of the testbed (testbed/schema/v1.sql,
// the source, and v2.sql, the target; testbed/MAPPING.md maps one onto the
// other).
//
// The two versions hold the same concepts under other table and column names
// and encodings (money as DECIMAL(13,5) or BIGINT micro-units, statuses as
// strings or TINYINT codes). One set of queries serves both, parameterised by
// a small dialect of names and encodings chosen from the schema version.
//
// What it writes: products, their resource limits and add-on lists, and
// nothing else; each mutation is one transaction. Reads run in a read-only
// REPEATABLE READ transaction, so that the several queries of one read see
// one snapshot. All SQL is parameterised.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "catalog/billing_catalog.h"
#include "common/mysql_pool.h"

namespace tandem::catalog {

// The billing schema versions this adapter speaks. Its own small enum rather
// than testbed::SchemaVersion, so that the catalog service does not link the
// testbed (its DDL, generators and crypto) only for two names.
enum class BillingSchemaVersion { kV1, kV2 };

// Parses "v1" or "v2" (as the testbed's --schema flags spell them);
// INVALID_ARGUMENT otherwise.
absl::StatusOr<BillingSchemaVersion> ParseBillingSchemaVersion(
    absl::string_view name);

class MysqlBillingCatalog final : public BillingCatalog {
 public:
  // `pool` points at the billing database of `system`, which holds schema
  // `version`; it is not owned and must outlive the catalog. `system` must
  // be SYSTEM_SOURCE or SYSTEM_TARGET (checked). Construction does not touch
  // the database.
  MysqlBillingCatalog(MysqlPool* pool, BillingSchemaVersion version,
                      ::tandem::common::v1::System system);

  ::tandem::common::v1::System system() const override { return system_; }
  BillingSchemaVersion version() const { return version_; }

  // As BillingCatalog::ReadProducts. Four queries in one snapshot, whatever
  // the number of products. A resource limit whose resource type row is
  // missing is skipped (it has no code to report). INTERNAL when a product's
  // activation_params is not a JSON object, or its v1 fee does not parse;
  // non-string member values are reported as their JSON text.
  absl::StatusOr<std::vector<BillingProduct>> ReadProducts() override;

  // As BillingCatalog::ReadResourceTypes: one query. A type whose class
  // row is missing has an empty resource_class.
  absl::StatusOr<std::vector<::tandem::catalog::v1::ResourceType>>
  ReadResourceTypes() override;

  // As BillingCatalog::CreateProduct. Only the codes and limits of the
  // resource types are used; names, classes and units come from the system.
  // Code comparisons (uniqueness, resource type codes) follow the database:
  // product codes are unique case-insensitively (the schema's collation),
  // while resource type codes must match exactly. Besides the interface's
  // errors: INVALID_ARGUMENT when a value does not fit its column (v1 holds
  // fees in whole multiples of 10 micros below 10^8 units; names at most 128
  // characters, categories 32, codes and contract pools 64, currencies 3),
  // when the kind is UNSPECIFIED, when an add-on lists add-ons, or when a
  // resource type code appears twice. Repeated add-on ids count once.
  absl::StatusOr<int64_t> CreateProduct(
      const ::tandem::catalog::v1::ProductSpec& spec) override;

  // As BillingCatalog::UpdateProduct, with CreateProduct's checks; the
  // product's kind cannot change (INVALID_ARGUMENT).
  absl::Status UpdateProduct(
      int64_t product_id,
      const ::tandem::catalog::v1::ProductSpec& spec) override;

  // As BillingCatalog::DeleteProduct. Closed subscriptions keep naming the
  // deleted product id (they are history, not the catalog's to change).
  absl::Status DeleteProduct(int64_t product_id) override;

  // As BillingCatalog::ReadCustomer: three queries in one snapshot, whatever
  // the number of subscriptions. A subscription whose account row is missing
  // has an empty account_id; usage rows of unknown resource types are
  // skipped. INTERNAL for a v2 customer status code MAPPING.md does not
  // define.
  absl::StatusOr<CustomerSubscriptions> ReadCustomer(
      int64_t customer_id) override;

 private:
  MysqlPool* const pool_;
  const BillingSchemaVersion version_;
  const ::tandem::common::v1::System system_;
};

}  // namespace tandem::catalog
