#include "catalog/product_reads.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "catalog/product_helpers.h"
#include "catalog/request_checks.h"
#include "common/status_macros.h"

namespace tandem::catalog {

namespace v1 = ::tandem::catalog::v1;

absl::StatusOr<v1::ListProductsResponse> ProductReads::List(
    const v1::ListProductsRequest& req) {
  TANDEM_ASSIGN_OR_RETURN(int page_size, PageSize(req.page_size()));
  if (req.system() != ::tandem::common::v1::SYSTEM_UNSPECIFIED) {
    TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  }
  if (!v1::ProductKind_IsValid(req.kind())) {
    return absl::InvalidArgumentError("unknown product kind");
  }
  if (req.unmapped_only() && req.system() == kTarget) {
    return absl::InvalidArgumentError(
        "unmapped_only applies to source products");
  }
  ProductQuery query;
  if (!req.page_token().empty()) {
    std::vector<std::string> parts = absl::StrSplit(req.page_token(), '.');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &query.after_system) ||
        !absl::SimpleAtoi(parts[1], &query.after_product_id)) {
      return absl::InvalidArgumentError("malformed page_token");
    }
  }
  query.system = req.system();
  query.kind = req.kind();
  query.unmapped_only = req.unmapped_only();
  query.code_prefix = req.code_prefix();
  query.limit = page_size + 1;
  const v1::FreezeState state = state_->Freeze().state();
  TANDEM_ASSIGN_OR_RETURN(std::vector<ProductRow> rows,
                          store_->ListProducts(query));
  v1::ListProductsResponse response;
  for (const ProductRow& row : rows) {
    if (response.products_size() == page_size) {
      const v1::Product& last = response.products(page_size - 1);
      response.set_next_page_token(
          absl::StrCat(last.system(), ".", last.product_id()));
      break;
    }
    v1::Product* product = response.add_products();
    *product = row.product;
    MarkFrozen(state, row, product);
  }
  return response;
}

absl::StatusOr<v1::GetProductResponse> ProductReads::Get(
    const v1::GetProductRequest& req) {
  TANDEM_RETURN_IF_ERROR(ValidateSystem(req.system()));
  const bool by_id = req.product_case() == v1::GetProductRequest::kProductId;
  if (req.product_case() == v1::GetProductRequest::PRODUCT_NOT_SET ||
      (by_id && req.product_id() <= 0) || (!by_id && req.code().empty())) {
    return absl::InvalidArgumentError("give a positive product_id or a code");
  }
  const v1::FreezeState state = state_->Freeze().state();
  TANDEM_ASSIGN_OR_RETURN(
      std::optional<ProductRow> row,
      by_id ? store_->ReadProduct(req.system(), req.product_id())
            : store_->ReadProductByCode(req.system(), req.code()));
  if (!row.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "no product ", by_id ? absl::StrCat(req.product_id()) : req.code(),
        " on the ", SystemName(req.system()), " system"));
  }
  v1::GetProductResponse response;
  *response.mutable_product() = row->product;
  MarkFrozen(state, *row, response.mutable_product());
  return response;
}

}  // namespace tandem::catalog
