#include "catalog/catalog.h"

#include <utility>

#include "catalog/mysql_catalog_store.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

Catalog::Catalog(CatalogStore* store, BillingCatalog* source,
                 BillingCatalog* target, RouteCountsFn route_counts,
                 prometheus::Registry* registry)
    : metrics_(registry),
      state_(store, &metrics_),
      audit_(store, &metrics_),
      freeze_(store, &state_, &audit_, &metrics_, std::move(route_counts)),
      reads_(store, &state_),
      changes_(store, source, target, &state_, &audit_, &metrics_),
      refresh_(store, source, target, &state_, &metrics_),
      mappings_(store, &state_),
      clones_(store, target, &state_, &audit_),
      settings_(store, &state_),
      planner_(store, source, target, &state_, &metrics_) {}

Catalog::~Catalog() = default;

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Create(
    MysqlPool* control, BillingCatalog* source, BillingCatalog* target,
    RouteCountsFn route_counts, prometheus::Registry* registry,
    CatalogOptions options) {
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<MysqlCatalogStore> store,
                          MysqlCatalogStore::Create(control));
  TANDEM_ASSIGN_OR_RETURN(std::unique_ptr<Catalog> catalog,
                          Create(store.get(), source, target,
                                 std::move(route_counts), registry, options));
  catalog->owned_store_ = std::move(store);
  return catalog;
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Create(
    CatalogStore* store, BillingCatalog* source, BillingCatalog* target,
    RouteCountsFn route_counts, prometheus::Registry* registry,
    CatalogOptions options) {
  std::unique_ptr<Catalog> catalog(
      new Catalog(store, source, target, std::move(route_counts), registry));
  TANDEM_RETURN_IF_ERROR(catalog->state_.Reload(/*force=*/true));
  catalog->state_.StartPolling(options.poll_interval, options.clock != nullptr
                                                          ? *options.clock
                                                          : Clock::Real());
  return catalog;
}

absl::Status Catalog::ReloadNow() { return state_.Reload(/*force=*/true); }

v1::GetFreezeResponse Catalog::GetFreeze() const {
  v1::GetFreezeResponse response;
  *response.mutable_freeze() = state_.Freeze();
  return response;
}

absl::StatusOr<v1::SetFreezeResponse> Catalog::SetFreeze(
    const Principal& who, const v1::SetFreezeRequest& req) {
  return freeze_.SetFreeze(who, req);
}

absl::StatusOr<v1::CheckChangeResponse> Catalog::CheckChange(
    const Principal& who, const v1::CheckChangeRequest& req) {
  return freeze_.CheckChange(who, req);
}

absl::StatusOr<v1::ListFreezeAuditResponse> Catalog::ListFreezeAudit(
    const v1::ListFreezeAuditRequest& req) {
  return audit_.List(req);
}

int64_t Catalog::AddFreezeListener(FreezeListener listener) {
  return state_.AddListener(std::move(listener));
}

void Catalog::RemoveFreezeListener(int64_t handle) {
  state_.RemoveListener(handle);
}

void Catalog::OnRouteCounts(const RouteCounts& counts, bool known) {
  freeze_.OnRouteCounts(counts, known);
}

absl::StatusOr<v1::ListProductsResponse> Catalog::ListProducts(
    const v1::ListProductsRequest& req) {
  return reads_.List(req);
}

absl::StatusOr<v1::GetProductResponse> Catalog::GetProduct(
    const v1::GetProductRequest& req) {
  return reads_.Get(req);
}

absl::StatusOr<v1::RefreshProductsResponse> Catalog::RefreshProducts(
    const Principal& who, const v1::RefreshProductsRequest& req) {
  return refresh_.Refresh(who, req);
}

absl::StatusOr<v1::CreateProductResponse> Catalog::CreateProduct(
    const Principal& who, const v1::CreateProductRequest& req) {
  return changes_.Create(who, req);
}

absl::StatusOr<v1::UpdateProductResponse> Catalog::UpdateProduct(
    const Principal& who, const v1::UpdateProductRequest& req) {
  return changes_.Update(who, req);
}

absl::StatusOr<v1::DeleteProductResponse> Catalog::DeleteProduct(
    const Principal& who, const v1::DeleteProductRequest& req) {
  return changes_.Delete(who, req);
}

absl::StatusOr<v1::SetMappingResponse> Catalog::SetMapping(
    const Principal& who, const v1::SetMappingRequest& req) {
  return mappings_.Set(who, req);
}

absl::StatusOr<v1::ListMappingsResponse> Catalog::ListMappings(
    const v1::ListMappingsRequest& req) {
  return mappings_.List(req);
}

absl::StatusOr<v1::DeleteMappingResponse> Catalog::DeleteMapping(
    const Principal& who, const v1::DeleteMappingRequest& req) {
  return mappings_.Delete(who, req);
}

absl::StatusOr<v1::ProposeMappingsResponse> Catalog::ProposeMappings(
    const v1::ProposeMappingsRequest& req) {
  return mappings_.Propose(req);
}

absl::StatusOr<v1::GenerateMissingProductsResponse>
Catalog::GenerateMissingProducts(
    const Principal& who, const v1::GenerateMissingProductsRequest& req) {
  return clones_.Generate(who, req);
}

absl::StatusOr<v1::GetSettingsResponse> Catalog::GetSettings() {
  return settings_.Get();
}

absl::StatusOr<v1::UpdateSettingsResponse> Catalog::UpdateSettings(
    const Principal& who, const v1::UpdateSettingsRequest& req) {
  return settings_.Update(who, req);
}

absl::StatusOr<v1::PlanCustomerResponse> Catalog::PlanCustomer(
    const v1::PlanCustomerRequest& req) {
  return planner_.PlanCustomer(req);
}

absl::StatusOr<v1::PlanCustomersResponse> Catalog::PlanCustomers(
    const v1::PlanCustomersRequest& req) {
  return planner_.PlanCustomers(req);
}

}  // namespace tandem::catalog
