#include "tests/testbed/testbed_fixture.h"

#include "common/status_macros.h"
#include "testbed/base/schema.h"

namespace tandem::testbed {

MysqlOptions PoolOptions(const tandem::testing::MariaDbServer& server,
                         const std::string& db, int pool_size) {
  MysqlOptions o;
  o.url = server.url();
  o.user = server.user();
  o.password = server.password();
  o.database = db;
  o.pool_size = pool_size;
  o.name = db.empty() ? "server" : db;
  return o;
}

absl::StatusOr<TestbedDb> StartTestbedDb(const DatagenOptions& options,
                                         bool generate) {
  TestbedDb db;
  TANDEM_ASSIGN_OR_RETURN(db.server, tandem::testing::MariaDbServer::Start());
  TANDEM_RETURN_IF_ERROR(db.server->CreateDatabase("billing_v1"));
  TANDEM_RETURN_IF_ERROR(db.server->CreateDatabase("billing_v2"));
  TANDEM_ASSIGN_OR_RETURN(
      db.v1, MysqlPool::Create(PoolOptions(*db.server, "billing_v1")));
  TANDEM_ASSIGN_OR_RETURN(
      db.v2, MysqlPool::Create(PoolOptions(*db.server, "billing_v2")));
  TANDEM_RETURN_IF_ERROR(ApplySchema(*db.v1, SchemaVersion::kV1));
  TANDEM_RETURN_IF_ERROR(ApplySchema(*db.v2, SchemaVersion::kV2));
  TANDEM_RETURN_IF_ERROR(LoadCatalog(*db.v1, SchemaVersion::kV1));
  TANDEM_RETURN_IF_ERROR(LoadCatalog(*db.v2, SchemaVersion::kV2));
  if (generate) {
    TANDEM_ASSIGN_OR_RETURN(DatagenReport report,
                            GenerateCustomers(*db.v1, options));
    (void)report;
  }
  return db;
}

}  // namespace tandem::testbed
