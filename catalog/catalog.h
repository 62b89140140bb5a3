// Catalog: the catalog's logic behind its gRPC methods. It keeps the freeze,
// the settings, the products of both systems (as last read or written) and
// the mappings in the control database, writes product changes to the billing
// databases first, audits every change and refusal, and plans customers'
// moves. CatalogServiceImpl (catalog_service.h) is its thin gRPC edge.
//
// Serialisation with the freeze: every product change holds a shared lock on
// the freeze row of the control database from its freeze check until its
// commit, billing write included; a freeze transition takes that row
// exclusively. So no product change that checked an earlier state can commit
// after a transition, on any replica.
//
// Idempotency: each mutation records its request id with its response in the
// same transaction as its change; a retry returns the recorded response.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "catalog/billing_catalog.h"
#include "catalog/freeze_rules.h"
#include "catalog/move_rules.h"
#include "common/auth.h"
#include "common/mysql_pool.h"
#include "common/schema_migrations.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

// How many customers are where, as the router last reported.
struct RouteCounts {
  int64_t source_stable = 0;
  int64_t source_migrating = 0;
  int64_t target_stable = 0;
  int64_t target_migrating = 0;

  // Customers that keep the freeze from lifting.
  int64_t on_source() const {
    return source_stable + source_migrating + target_migrating;
  }
  int64_t total() const {
    return source_stable + source_migrating + target_stable + target_migrating;
  }
};

// Asks the router for fresh counts; UNAVAILABLE when it cannot be reached.
using RouteCountsFn = std::function<absl::StatusOr<RouteCounts>()>;

// The control-database tables of the catalog.
const std::vector<SchemaMigration>& CatalogSchemaMigrations();

struct CatalogOptions {
  // How often the cached freeze, settings and product facts are compared
  // with the control database (changes made by other replicas).
  absl::Duration poll_interval = absl::Milliseconds(100);
};

class Catalog {
 public:
  // Collaborators are not owned and must outlive the catalog. `registry` may
  // be null. Reads the cached state once; fails when the control database
  // cannot be read.
  static absl::StatusOr<std::unique_ptr<Catalog>> Create(
      MysqlPool* control, BillingCatalog* source, BillingCatalog* target,
      RouteCountsFn route_counts, prometheus::Registry* registry,
      CatalogOptions options = {});
  ~Catalog();

  // The freeze.
  ::tandem::catalog::v1::GetFreezeResponse GetFreeze() const;
  absl::StatusOr<::tandem::catalog::v1::SetFreezeResponse> SetFreeze(
      const Principal& who, const ::tandem::catalog::v1::SetFreezeRequest& req);
  absl::StatusOr<::tandem::catalog::v1::CheckChangeResponse> CheckChange(
      const Principal& who,
      const ::tandem::catalog::v1::CheckChangeRequest& req);
  absl::StatusOr<::tandem::catalog::v1::ListFreezeAuditResponse>
  ListFreezeAudit(const ::tandem::catalog::v1::ListFreezeAuditRequest& req);

  // Registers `listener`, called (on the catalog's poller thread or the
  // caller of SetFreeze) with every freeze event after the current one,
  // which it gets at once. Returns a handle for RemoveFreezeListener.
  using FreezeListener =
      std::function<void(const ::tandem::catalog::v1::WatchFreezeResponse&)>;
  int64_t AddFreezeListener(FreezeListener listener);
  void RemoveFreezeListener(int64_t handle);

  // Called with the router's counts (from RouterWatcher); lifts the freeze
  // by itself when the rules say so. `known` false means the router cannot
  // be heard.
  void OnRouteCounts(const RouteCounts& counts, bool known);

  // Products.
  absl::StatusOr<::tandem::catalog::v1::ListProductsResponse> ListProducts(
      const ::tandem::catalog::v1::ListProductsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::GetProductResponse> GetProduct(
      const ::tandem::catalog::v1::GetProductRequest& req);
  absl::StatusOr<::tandem::catalog::v1::RefreshProductsResponse>
  RefreshProducts(const Principal& who,
                  const ::tandem::catalog::v1::RefreshProductsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::CreateProductResponse> CreateProduct(
      const Principal& who,
      const ::tandem::catalog::v1::CreateProductRequest& req);
  absl::StatusOr<::tandem::catalog::v1::UpdateProductResponse> UpdateProduct(
      const Principal& who,
      const ::tandem::catalog::v1::UpdateProductRequest& req);
  absl::StatusOr<::tandem::catalog::v1::DeleteProductResponse> DeleteProduct(
      const Principal& who,
      const ::tandem::catalog::v1::DeleteProductRequest& req);

  // Mappings and settings.
  absl::StatusOr<::tandem::catalog::v1::SetMappingResponse> SetMapping(
      const Principal& who,
      const ::tandem::catalog::v1::SetMappingRequest& req);
  absl::StatusOr<::tandem::catalog::v1::ListMappingsResponse> ListMappings(
      const ::tandem::catalog::v1::ListMappingsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::DeleteMappingResponse> DeleteMapping(
      const Principal& who,
      const ::tandem::catalog::v1::DeleteMappingRequest& req);
  absl::StatusOr<::tandem::catalog::v1::ProposeMappingsResponse>
  ProposeMappings(const ::tandem::catalog::v1::ProposeMappingsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::GenerateMissingProductsResponse>
  GenerateMissingProducts(
      const Principal& who,
      const ::tandem::catalog::v1::GenerateMissingProductsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::GetSettingsResponse> GetSettings();
  absl::StatusOr<::tandem::catalog::v1::UpdateSettingsResponse> UpdateSettings(
      const Principal& who,
      const ::tandem::catalog::v1::UpdateSettingsRequest& req);

  // Planning.
  absl::StatusOr<::tandem::catalog::v1::PlanCustomerResponse> PlanCustomer(
      const ::tandem::catalog::v1::PlanCustomerRequest& req);
  absl::StatusOr<::tandem::catalog::v1::PlanCustomersResponse> PlanCustomers(
      const ::tandem::catalog::v1::PlanCustomersRequest& req);

  // Re-reads the cached state now (tests; the poller does it on its own).
  absl::Status ReloadNow();

 private:
  struct Cached {
    ::tandem::catalog::v1::Freeze freeze;
    ::tandem::catalog::v1::CatalogSettings settings;
    absl::flat_hash_map<std::pair<int, int64_t>, ProductFacts> facts;
    int64_t revision = -1;
  };

  Catalog(MysqlPool* control, BillingCatalog* source, BillingCatalog* target,
          RouteCountsFn route_counts, prometheus::Registry* registry,
          CatalogOptions options);

  BillingCatalog* Billing(::tandem::common::v1::System system) const;
  absl::Status Reload(bool force);
  void PollLoop();
  ::tandem::catalog::v1::Freeze CurrentFreeze() const;
  // Calls every listener; publish_mu_ must be held.
  void PublishLocked(const ::tandem::catalog::v1::WatchFreezeResponse& event);
  absl::StatusOr<CatalogSnapshot> LoadSnapshot();
  // Counts, logs and audits a refused change. A failure to write the audit
  // entry is logged; the refusal stands either way.
  void AuditRefusal(const Principal& who, const std::string& reason,
                    const std::string& request_id,
                    const ::tandem::catalog::v1::ProductChange& change);
  void CountRefusal(::tandem::catalog::v1::ChangeRefusal refusal);
  absl::StatusOr<::tandem::catalog::v1::SetFreezeResponse> Transition(
      const std::string& actor,
      const ::tandem::catalog::v1::SetFreezeRequest& req, bool automatic);
  absl::StatusOr<::tandem::catalog::v1::CustomerPlan> PlanOne(
      const CatalogSnapshot& snapshot, int64_t customer_id,
      ::tandem::common::v1::Direction direction,
      ::tandem::catalog::v1::FreezeState state);
  void CountOutcomes(const ::tandem::catalog::v1::CustomerPlan& plan);

  MysqlPool* const control_;
  BillingCatalog* const source_;
  BillingCatalog* const target_;
  const RouteCountsFn route_counts_;
  const CatalogOptions options_;

  mutable std::mutex mu_;
  std::mutex publish_mu_;  // orders freeze events to listeners
  Cached cached_;
  int64_t customers_on_source_ = -1;
  std::map<int64_t, FreezeListener> listeners_;
  int64_t next_listener_ = 1;
  std::mutex lift_mu_;  // one automatic lift attempt at a time

  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stopping_ = false;
  std::thread poller_;

  prometheus::Gauge* state_gauge_ = nullptr;
  prometheus::Gauge* on_source_gauge_ = nullptr;
  prometheus::Family<prometheus::Counter>* transitions_ = nullptr;
  prometheus::Family<prometheus::Counter>* refusals_ = nullptr;
  prometheus::Family<prometheus::Counter>* checks_ = nullptr;
  prometheus::Family<prometheus::Counter>* outcomes_ = nullptr;
  prometheus::Family<prometheus::Counter>* plans_ = nullptr;
  prometheus::Counter* drift_ = nullptr;
  prometheus::Counter* applied_ = nullptr;
};

}  // namespace tandem::catalog
