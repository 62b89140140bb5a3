// BillingCatalog: what the catalog needs from one billing system's database
// (the products it sells and a customer's subscriptions with their usage).
// One implementation per schema version lives in mysql_billing_catalog.h;
// unit tests use fakes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tandem/catalog/v1/catalog.pb.h"
#include "tandem/common/v1/types.pb.h"

namespace tandem::catalog {

// A product as its billing system holds it.
struct BillingProduct {
  // The product id on its system; positive.
  int64_t product_id = 0;
  // The product, with every resource type's name, class and unit filled in,
  // resource types sorted by code, activation parameters sorted by name and
  // add-on ids ascending.
  ::tandem::catalog::v1::ProductSpec spec;
  // Subscriptions (not closed) to the product on its system.
  int64_t subscription_count = 0;
  // Customers with at least one such subscription.
  int64_t customer_count = 0;
};

// One subscription of a customer (a main product or an add-on on one of its
// accounts), as planning needs it.
struct BillingSubscription {
  int64_t subscription_id = 0;
  // The account's row id on the system (accounts.i_account / account_id).
  int64_t account_row_id = 0;
  // The account's public id (the phone number).
  std::string account_id;
  int64_t product_id = 0;
  bool is_addon = false;
  // Current usage by resource type code; resource types without a usage row
  // are absent (usage 0).
  std::map<std::string, int64_t> usage;
};

// A customer's subscriptions on one system.
struct CustomerSubscriptions {
  int64_t customer_id = 0;
  // The customer's status as the schema spells it in v1 terms: "open",
  // "suspended", "closed" or "exported".
  std::string status;
  // Every subscription that is not closed, in subscription id order.
  std::vector<BillingSubscription> subscriptions;
};

class BillingCatalog {
 public:
  virtual ~BillingCatalog() = default;

  // The system this database belongs to.
  virtual ::tandem::common::v1::System system() const = 0;

  // Reads every product with its resource types, activation parameters,
  // add-ons and subscription counts, in product id order. UNAVAILABLE when
  // the database cannot be reached.
  virtual absl::StatusOr<std::vector<BillingProduct>> ReadProducts() = 0;

  // Reads every resource type the system knows (code, name, class, unit;
  // limit 0), in code order. UNAVAILABLE when the database cannot be reached.
  virtual absl::StatusOr<std::vector<::tandem::catalog::v1::ResourceType>>
  ReadResourceTypes() = 0;

  // Creates a product in one transaction and returns its id. The spec is
  // already validated for shape; this checks it against the system:
  // ALREADY_EXISTS when the code is taken, INVALID_ARGUMENT for a resource
  // type code the system does not know or an add-on id that is not an add-on
  // product of this system.
  virtual absl::StatusOr<int64_t> CreateProduct(
      const ::tandem::catalog::v1::ProductSpec& spec) = 0;

  // Replaces the product row, its resource limits and its add-on list in one
  // transaction. NOT_FOUND for an unknown id; otherwise as CreateProduct.
  virtual absl::Status UpdateProduct(
      int64_t product_id, const ::tandem::catalog::v1::ProductSpec& spec) = 0;

  // Deletes a product, its resource limits and the add-on rows that name it,
  // in one transaction. NOT_FOUND for an unknown id; FAILED_PRECONDITION when
  // a subscription that is not closed uses it (checked in the transaction).
  virtual absl::Status DeleteProduct(int64_t product_id) = 0;

  // Reads one customer's subscriptions and their usage. NOT_FOUND when the
  // customer does not exist on this system; UNAVAILABLE when the database
  // cannot be reached.
  virtual absl::StatusOr<CustomerSubscriptions> ReadCustomer(
      int64_t customer_id) = 0;
};

}  // namespace tandem::catalog
