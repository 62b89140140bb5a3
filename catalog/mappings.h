// Mappings: which target product each source product's customers get
// (SetMapping, DeleteMapping, ListMappings), with what each mapping does to
// them (the comparison and warnings), and proposals by code or name
// (ProposeMappings). Mapping changes read the freeze row in share mode:
// after the lift mappings are final.
#pragma once

#include "absl/status/statusor.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "common/auth.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class Mappings {
 public:
  // Collaborators are not owned and must outlive this.
  Mappings(CatalogStore* store, CatalogState* state)
      : store_(store), state_(state) {}

  absl::StatusOr<::tandem::catalog::v1::SetMappingResponse> Set(
      const Principal& who,
      const ::tandem::catalog::v1::SetMappingRequest& req);
  absl::StatusOr<::tandem::catalog::v1::ListMappingsResponse> List(
      const ::tandem::catalog::v1::ListMappingsRequest& req);
  absl::StatusOr<::tandem::catalog::v1::DeleteMappingResponse> Delete(
      const Principal& who,
      const ::tandem::catalog::v1::DeleteMappingRequest& req);
  absl::StatusOr<::tandem::catalog::v1::ProposeMappingsResponse> Propose(
      const ::tandem::catalog::v1::ProposeMappingsRequest& req);

 private:
  template <typename Response>
  struct Written {
    Response response;
    bool changed = false;
  };
  absl::StatusOr<Written<::tandem::catalog::v1::SetMappingResponse>> SetIn(
      CatalogTxn& txn, const Principal& who,
      const ::tandem::catalog::v1::SetMappingRequest& req);
  absl::StatusOr<Written<::tandem::catalog::v1::DeleteMappingResponse>>
  DeleteIn(CatalogTxn& txn, const Principal& who,
           const ::tandem::catalog::v1::DeleteMappingRequest& req);

  CatalogStore* const store_;
  CatalogState* const state_;
};

}  // namespace tandem::catalog
