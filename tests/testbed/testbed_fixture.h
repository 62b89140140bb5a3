// Test-only helpers: a throwaway MariaDB holding both billing schemas, the
// catalogs and seeded customers in v1.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"
#include "testbed/datagen/datagen.h"
#include "tests/testing/mariadb_server.h"

namespace tandem::testbed {

struct TestbedDb {
  std::unique_ptr<tandem::testing::MariaDbServer> server;
  std::unique_ptr<MysqlPool> v1;  // database billing_v1
  std::unique_ptr<MysqlPool> v2;  // database billing_v2
};

// Pool options for database `db` of `server`.
MysqlOptions PoolOptions(const tandem::testing::MariaDbServer& server,
                         const std::string& db, int pool_size = 4);

// Starts a server, creates billing_v1 and billing_v2 with their schemas and
// catalogs, and, when `generate` is set, generates `options` into v1.
absl::StatusOr<TestbedDb> StartTestbedDb(const DatagenOptions& options,
                                         bool generate = true);

}  // namespace tandem::testbed
