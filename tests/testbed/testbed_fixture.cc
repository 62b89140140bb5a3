#include "tests/testbed/testbed_fixture.h"

#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "testbed/base/schema.h"

namespace tandem::testbed {

using tandem::testing::MariaDbServer;
using tandem::testing::MariaDbServerOptions;

MysqlOptions PoolOptions(const MariaDbServer& server, const std::string& db,
                         int pool_size) {
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
  TANDEM_ASSIGN_OR_RETURN(db.server, MariaDbServer::Start());
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

MysqlOptions Testbed::SourceDb(int pool_size) const {
  MysqlOptions o = PoolOptions(source_server(), kSourceDb, pool_size);
  o.name = "source";
  return o;
}

MysqlOptions Testbed::TargetDb(int pool_size) const {
  MysqlOptions o = PoolOptions(target_server(), kTargetDb, pool_size);
  o.name = "target";
  return o;
}

MysqlOptions Testbed::ControlDb(const std::string& db, int pool_size) const {
  return PoolOptions(control_server(), db, pool_size);
}

absl::StatusOr<std::vector<ProductMapEntry>> ParseProductMap(
    const std::string& csv) {
  std::vector<ProductMapEntry> out;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(csv, '\n')) {
    ++line_number;
    if (line.empty() || line_number == 1) continue;  // the header
    std::vector<std::string> f = absl::StrSplit(line, ',');
    auto id = [](const std::string& s, std::optional<int64_t>* out) {
      int64_t v = 0;
      if (s.empty()) return true;
      if (!absl::SimpleAtoi(s, &v)) return false;
      *out = v;
      return true;
    };
    ProductMapEntry e;
    if (f.size() != 4 || !id(f[1], &e.v1_product_id) ||
        !id(f[3], &e.v2_product_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("product map line ", line_number, ": '", line, "'"));
    }
    e.v1_code = f[0];
    e.v2_code = f[2];
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Testbed>> StartTestbed(
    const TestbedOptions& options) {
  if (!options.server.dir.empty() || options.server.port != 0) {
    return absl::InvalidArgumentError(
        "TestbedOptions.server must not name a dir or port");
  }
  std::unique_ptr<Testbed> tb(new Testbed());
  TANDEM_ASSIGN_OR_RETURN(tb->source_, MariaDbServer::Start(options.server));
  if (options.separate_servers) {
    TANDEM_ASSIGN_OR_RETURN(tb->target_, MariaDbServer::Start(options.server));
    TANDEM_ASSIGN_OR_RETURN(tb->control_, MariaDbServer::Start(options.server));
  }
  TANDEM_RETURN_IF_ERROR(
      tb->source_server().CreateDatabase(Testbed::kSourceDb));
  TANDEM_RETURN_IF_ERROR(
      tb->target_server().CreateDatabase(Testbed::kTargetDb));
  TANDEM_RETURN_IF_ERROR(
      tb->control_server().CreateDatabase(Testbed::kControlDb));
  TANDEM_ASSIGN_OR_RETURN(tb->v1_, MysqlPool::Create(tb->SourceDb()));
  TANDEM_ASSIGN_OR_RETURN(tb->v2_, MysqlPool::Create(tb->TargetDb()));
  TANDEM_RETURN_IF_ERROR(ApplySchema(*tb->v1_, SchemaVersion::kV1));
  TANDEM_RETURN_IF_ERROR(ApplySchema(*tb->v2_, SchemaVersion::kV2));
  TANDEM_RETURN_IF_ERROR(LoadCatalog(*tb->v1_, SchemaVersion::kV1));
  TANDEM_RETURN_IF_ERROR(LoadCatalog(*tb->v2_, SchemaVersion::kV2));
  const std::string csv = ProductCorrespondenceCsv();
  tb->product_map_path_ = tb->source_server().dir() + "/product-map.csv";
  {
    std::ofstream out(tb->product_map_path_);
    out << csv;
    if (!out) {
      return absl::InternalError(
          absl::StrCat("cannot write ", tb->product_map_path_));
    }
  }
  TANDEM_ASSIGN_OR_RETURN(tb->product_map_, ParseProductMap(csv));
  if (options.generate) {
    TANDEM_ASSIGN_OR_RETURN(tb->report_,
                            GenerateCustomers(*tb->v1_, options.datagen));
  }
  return tb;
}

}  // namespace tandem::testbed
