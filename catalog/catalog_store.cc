#include "catalog/catalog_store.h"

namespace tandem::catalog {

ProductFacts FactsOf(const ProductRow& row) {
  ProductFacts facts;
  facts.known = true;
  facts.created_after_switchover = row.after_switchover;
  facts.mapping_target = row.mapping_target;
  return facts;
}

}  // namespace tandem::catalog
