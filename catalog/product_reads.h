// ProductReads: ListProducts and GetProduct, from the catalog's own rows
// (the products of both systems as last read or written), each marked
// `frozen` for the current freeze state.
#pragma once

#include "absl/status/statusor.h"
#include "catalog/catalog_state.h"
#include "catalog/catalog_store.h"
#include "tandem/catalog/v1/catalog.pb.h"

namespace tandem::catalog {

class ProductReads {
 public:
  // Collaborators are not owned and must outlive this.
  ProductReads(CatalogStore* store, const CatalogState* state)
      : store_(store), state_(state) {}

  // A page of products in (system, product id) order, filtered as asked.
  absl::StatusOr<::tandem::catalog::v1::ListProductsResponse> List(
      const ::tandem::catalog::v1::ListProductsRequest& req);
  // One product by id or code (codes match regardless of case); NOT_FOUND
  // when the catalog does not know it.
  absl::StatusOr<::tandem::catalog::v1::GetProductResponse> Get(
      const ::tandem::catalog::v1::GetProductRequest& req);

 private:
  CatalogStore* const store_;
  const CatalogState* const state_;
};

}  // namespace tandem::catalog
