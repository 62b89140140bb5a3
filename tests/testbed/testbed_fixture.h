// Test-only helpers: throwaway MariaDB servers holding the two billing
// systems (schema v1, the source; schema v2, the target), their catalogs,
// seeded customers in v1, and a control server for Tandem's own databases.
//
// Two shapes:
//   * Testbed (StartTestbed): source, target and control on three separate
//     servers (or one, with `separate_servers = false`), each with the
//     row-based binlog on, so that nothing can pass through a cross-database
//     INSERT ... SELECT and "target down while the source lives" is testable.
//     This is what the migrator's tests use.
//   * TestbedDb (StartTestbedDb): the older single-server form, both billing
//     databases on one server; kept for the tests that need no more.
//
// Example:
//
//   TestbedOptions o;
//   o.datagen.customers = 20;
//   o.datagen.accounts = 100;
//   o.datagen.xdrs = 500;
//   absl::StatusOr<std::unique_ptr<Testbed>> tb = StartTestbed(o);
//   ASSERT_TRUE(tb.ok()) << tb.status();
//   MysqlPool& v1 = (*tb)->v1();                    // billing_v1, source
//   MysqlOptions target = (*tb)->TargetDb();        // billing_v2, target
//   MysqlOptions control = (*tb)->ControlDb();      // tandem_control
//   (*tb)->target_server().Kill();                  // target down
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mysql_pool.h"
#include "testbed/datagen/datagen.h"
#include "tests/testing/mariadb_server.h"

namespace tandem::testbed {

// ---------------------------------------------------------------------------
// Three servers.

struct TestbedOptions {
  // The population generated into v1 (when `generate`).
  DatagenOptions datagen;
  bool generate = true;
  // Source, target and control each on a server of their own (true), or
  // all three on one server.
  bool separate_servers = true;
  // Options of every server (binlog on by default). `dir` and `port` must
  // stay empty/0.
  tandem::testing::MariaDbServerOptions server;
};

// One line of the product map datagen writes (ProductCorrespondenceCsv):
// a v1 product, the v2 product the catalog maps it onto (by code, or by
// name for a product whose code differs), or a v2 product with no v1
// counterpart.
struct ProductMapEntry {
  std::string v1_code;  // empty for a v2-only product
  std::optional<int64_t> v1_product_id;
  std::string v2_code;  // empty for a v1-only product
  std::optional<int64_t> v2_product_id;
};

class Testbed {
 public:
  static constexpr char kSourceDb[] = "billing_v1";
  static constexpr char kTargetDb[] = "billing_v2";
  static constexpr char kControlDb[] = "tandem_control";

  // The servers. With separate_servers = false all three are the same.
  tandem::testing::MariaDbServer& source_server() const { return *source_; }
  tandem::testing::MariaDbServer& target_server() const {
    return target_ ? *target_ : *source_;
  }
  tandem::testing::MariaDbServer& control_server() const {
    return control_ ? *control_ : *source_;
  }
  bool separate_servers() const { return target_ != nullptr; }

  // Connection settings (url, user, password, database) for pools of
  // `pool_size` connections: billing_v1 on the source server, billing_v2 on
  // the target server, and database `db` (created by Start for the
  // default) on the control server.
  MysqlOptions SourceDb(int pool_size = 4) const;
  MysqlOptions TargetDb(int pool_size = 4) const;
  MysqlOptions ControlDb(const std::string& db = kControlDb,
                         int pool_size = 4) const;

  // Password files (mode 0600, the password alone) for services' and
  // tools' --*_password_file flags; the same password on every server.
  std::string source_password_file() const {
    return source_server().password_file();
  }
  std::string target_password_file() const {
    return target_server().password_file();
  }
  std::string control_password_file() const {
    return control_server().password_file();
  }

  // Pools of 4 connections to billing_v1 and billing_v2.
  MysqlPool& v1() const { return *v1_; }
  MysqlPool& v2() const { return *v2_; }

  // The product map: ProductCorrespondenceCsv() written to a file (for
  // tools' flags) and parsed.
  const std::string& product_map_path() const { return product_map_path_; }
  const std::vector<ProductMapEntry>& product_map() const {
    return product_map_;
  }
  // What datagen wrote (zero when `generate` was false).
  const DatagenReport& report() const { return report_; }

 private:
  friend absl::StatusOr<std::unique_ptr<Testbed>> StartTestbed(
      const TestbedOptions& options);
  Testbed() = default;

  std::unique_ptr<tandem::testing::MariaDbServer> source_, target_, control_;
  std::unique_ptr<MysqlPool> v1_, v2_;
  std::string product_map_path_;
  std::vector<ProductMapEntry> product_map_;
  DatagenReport report_;
};

// Starts the servers (from the calling thread: they die with it), creates
// billing_v1 and billing_v2 with their schemas and catalogs and the control
// database tandem_control, writes the product map into the source server's
// directory, and generates options.datagen into v1 when options.generate.
// Takes about 1 s plus the generation. INVALID_ARGUMENT when
// options.server names a dir or port.
absl::StatusOr<std::unique_ptr<Testbed>> StartTestbed(
    const TestbedOptions& options);

// Parses ProductCorrespondenceCsv()'s format. INVALID_ARGUMENT for a
// malformed line.
absl::StatusOr<std::vector<ProductMapEntry>> ParseProductMap(
    const std::string& csv);

// ---------------------------------------------------------------------------
// One server.

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
