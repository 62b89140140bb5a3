// What a conversion looks up beyond the row itself: where the catalog's plan
// sends the customer's products and resource types, and which ids rows
// created natively on the target were given on the source.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace tandem::migrator {

// The answer to "where does this catalog object go?".
struct CatalogTarget {
  // The id on the side written; empty when the object is not carried.
  std::string id;
  // Why it is not carried, for reports ("add-on ADD-SMS not offered").
  std::string not_carried_reason;
  bool carried() const { return !id.empty(); }
};

// Products and resource types of one customer, as its plan decides, for
// one direction. Ids are the database ids of each side, as text.
class CatalogLookups {
 public:
  virtual ~CatalogLookups() = default;

  // Where the product `product_id` of the side read goes. `subscription_id`
  // names the subscription row being converted (empty for other rows, such
  // as an account's main product). NOT_FOUND when the plan has no answer
  // (a transform error: the customer fails).
  virtual absl::StatusOr<CatalogTarget> Product(
      const std::string& product_id,
      const std::string& subscription_id) const = 0;

  // Where usage of resource type `type_id` of subscription
  // `subscription_id` goes.
  virtual absl::StatusOr<CatalogTarget> ResourceType(
      const std::string& subscription_id, const std::string& type_id) const = 0;
};

// Ids of rows that were created natively on the target (ids from
// `native_id_start` up) and were given other ids on the source by a
// rollback. Ids below `native_id_start` are the same on both sides.
class IdMap {
 public:
  explicit IdMap(int64_t native_id_start = 0)
      : native_id_start_(native_id_start) {}

  int64_t native_id_start() const { return native_id_start_; }

  // Records that `target_id` of `space` is `source_id` on the source.
  void Add(const std::string& space, const std::string& target_id,
           const std::string& source_id);

  // The target id of a source id (itself unless mapped).
  std::string ToTarget(const std::string& space,
                       const std::string& source_id) const;

  // The source id of a target id: itself below the native range, the
  // mapped id when there is one, nullopt when a target-native row has none
  // yet (it must be given one).
  std::optional<std::string> ToSource(const std::string& space,
                                      const std::string& target_id) const;

  // The source id recorded for `target_id` of `space`, if any.
  std::optional<std::string> Find(const std::string& space,
                                  const std::string& target_id) const;

  size_t size() const { return to_source_.size(); }

 private:
  int64_t native_id_start_;
  std::map<std::pair<std::string, std::string>, std::string> to_source_;
  std::map<std::pair<std::string, std::string>, std::string> to_target_;
};

// The placeholder a converted value carries until the row it belongs to is
// given a new id on the source ("@new:<space>:<target id>").
std::string NewIdPlaceholder(const std::string& space,
                             const std::string& target_id);
// Parses a placeholder; nullopt for any other value.
std::optional<std::pair<std::string, std::string>> ParseNewIdPlaceholder(
    const std::string& value);

}  // namespace tandem::migrator
