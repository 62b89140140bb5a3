#include "migrator/batch/selector.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/mysql_pool.h"
#include "common/status_macros.h"
#include "migrator/engine/rows.h"
#include "migrator/move/item_states.h"

namespace tandem::migrator {
namespace {

namespace v1 = ::tandem::migrator::v1;
namespace rv1 = ::tandem::router::v1;
using Stmt = std::unique_ptr<sql::PreparedStatement>;
using Rows = std::unique_ptr<sql::ResultSet>;
using Ids = std::set<int64_t>;

constexpr size_t kSelectChunk = 1000;

// Runs `sql_prefix` + "(?,...)" over `values` in chunks, collecting the
// first column of every row as an id.
template <typename T>
absl::Status CollectIn(sql::Connection& conn, const std::string& sql_prefix,
                       const std::vector<T>& values, Ids* out,
                       std::vector<std::string>* second = nullptr) {
  for (size_t start = 0; start < values.size(); start += kSelectChunk) {
    const size_t n = std::min(kSelectChunk, values.size() - start);
    Stmt ps(conn.prepareStatement(
        absl::StrCat(sql_prefix, " (", Placeholders(n), ")")));
    for (size_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, std::string>) {
        ps->setString(static_cast<int>(i) + 1, values[start + i]);
      } else {
        ps->setInt64(static_cast<int>(i) + 1, values[start + i]);
      }
    }
    Rows rs(ps->executeQuery());
    while (rs->next()) {
      out->insert(rs->getInt64(1));
      if (second != nullptr) second->push_back(rs->getString(2));
    }
  }
  return absl::OkStatus();
}

void Intersect(std::optional<Ids>& into, Ids with) {
  if (!into.has_value()) {
    into = std::move(with);
    return;
  }
  Ids kept;
  std::set_intersection(into->begin(), into->end(), with.begin(), with.end(),
                        std::inserter(kept, kept.end()));
  into = std::move(kept);
}

std::string Table(const BillingDb& db, const std::string& table) {
  return absl::StrCat(QuoteIdent(db.database()), ".", QuoteIdent(table));
}

// Each billing-data criterion of a selector, read on one side in one
// connection: the customers it matches, or a precise error for a product or
// payment system the side does not have.
class CriteriaReader {
 public:
  CriteriaReader(const SelectorDeps& deps, SchemaSide side,
                 sql::Connection& conn)
      : side_(side),
        spec_(deps.mapping->selectors(side)),
        catalog_(deps.mapping->catalog(side)),
        db_(*deps.dbs[side]),
        conn_(conn),
        system_(deps.mapping->schema_name(side)),
        key_(QuoteIdent(deps.mapping->customer(side).key)),
        customers_(Table(db_, deps.mapping->customer(side).table)) {}

  absl::StatusOr<Ids> ByProducts(const v1::BatchSelector& s) {
    std::vector<int64_t> wanted(s.product_ids().begin(), s.product_ids().end());
    Ids known;
    TANDEM_RETURN_IF_ERROR(CollectIn(
        conn_,
        absl::StrCat("SELECT ", QuoteIdent(catalog_.products.id), " FROM ",
                     Table(db_, catalog_.products.table), " WHERE ",
                     QuoteIdent(catalog_.products.id), " IN"),
        wanted, &known));
    std::vector<std::string> unknown;
    for (int64_t p : wanted) {
      if (!known.count(p)) unknown.push_back(absl::StrCat(p));
    }
    if (!unknown.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "selector.product_ids: no product ", absl::StrJoin(unknown, ", "),
          " on ", system_, " (a batch that ",
          side_ == kSourceSide ? "moves" : "rolls back", " customers names ",
          system_, " products)"));
    }
    Ids users;
    TANDEM_RETURN_IF_ERROR(CollectIn(
        conn_,
        absl::StrCat("SELECT DISTINCT ", QuoteIdent(spec_.products_customer),
                     " FROM ", Table(db_, spec_.products_table), " WHERE ",
                     QuoteIdent(spec_.products_product), " IN"),
        wanted, &users));
    return users;
  }

  absl::StatusOr<Ids> ByPaymentSystems(const v1::BatchSelector& s) {
    std::vector<std::string> names(s.payment_systems().begin(),
                                   s.payment_systems().end());
    Ids ids;
    std::vector<std::string> found;
    TANDEM_RETURN_IF_ERROR(CollectIn(
        conn_,
        absl::StrCat("SELECT ", QuoteIdent(spec_.payment_names_id), ", ",
                     QuoteIdent(spec_.payment_names_name), " FROM ",
                     Table(db_, spec_.payment_names_table), " WHERE ",
                     QuoteIdent(spec_.payment_names_name), " IN"),
        names, &ids, &found));
    std::vector<std::string> unknown;
    for (const std::string& n : names) {
      if (std::find(found.begin(), found.end(), n) == found.end()) {
        unknown.push_back(absl::StrCat("\"", n, "\""));
      }
    }
    if (!unknown.empty()) return UnknownPaymentSystems(unknown);
    Ids users;
    TANDEM_RETURN_IF_ERROR(
        CollectIn(conn_,
                  absl::StrCat("SELECT ", key_, " FROM ", customers_, " WHERE ",
                               QuoteIdent(spec_.payment_column), " IN"),
                  std::vector<int64_t>(ids.begin(), ids.end()), &users));
    return users;
  }

  Ids ByAccountCount(const v1::BatchSelector& s) {
    Stmt ps(conn_.prepareStatement(absl::StrCat(
        "SELECT c.", key_, " FROM ", customers_, " c LEFT JOIN ",
        Table(db_, spec_.accounts_table), " a ON a.",
        QuoteIdent(spec_.accounts_customer), " = c.", key_, " GROUP BY c.",
        key_, " HAVING COUNT(a.", QuoteIdent(spec_.accounts_customer),
        ") >= ? AND (? = 0 OR COUNT(a.", QuoteIdent(spec_.accounts_customer),
        ") <= ?)")));
    ps->setInt(1, s.min_accounts());
    ps->setInt(2, s.max_accounts());
    ps->setInt(3, s.max_accounts());
    return Collect(*ps);
  }

  Ids All() {
    Stmt ps(conn_.prepareStatement(
        absl::StrCat("SELECT ", key_, " FROM ", customers_)));
    return Collect(*ps);
  }

 private:
  static Ids Collect(sql::PreparedStatement& ps) {
    Rows rs(ps.executeQuery());
    Ids users;
    while (rs->next()) users.insert(rs->getInt64(1));
    return users;
  }

  // The error for payment systems the side does not have, naming those it
  // has.
  absl::Status UnknownPaymentSystems(const std::vector<std::string>& unknown) {
    Stmt all(conn_.prepareStatement(
        absl::StrCat("SELECT ", QuoteIdent(spec_.payment_names_name), " FROM ",
                     Table(db_, spec_.payment_names_table), " ORDER BY 1")));
    Rows rs(all->executeQuery());
    std::vector<std::string> known;
    while (rs->next()) known.push_back(rs->getString(1));
    return absl::InvalidArgumentError(
        absl::StrCat("selector.payment_systems: no payment system ",
                     absl::StrJoin(unknown, ", "), " on ", system_,
                     " (known: ", absl::StrJoin(known, ", "), ")"));
  }

  const SchemaSide side_;
  const SelectorSpec& spec_;
  const CatalogSpec& catalog_;
  BillingDb& db_;
  sql::Connection& conn_;
  const std::string system_;
  const std::string key_;
  const std::string customers_;
};

// The customers of the side read matched by the billing-data criteria
// (nullopt when none is used).
absl::StatusOr<std::optional<Ids>> ReadCriteria(const SelectorDeps& deps,
                                                const v1::BatchSelector& s,
                                                SchemaSide side) {
  std::optional<Ids> result;
  const bool billing = s.product_ids_size() > 0 ||
                       s.payment_systems_size() > 0 || s.min_accounts() > 0 ||
                       s.max_accounts() > 0 || s.all_customers();
  if (!billing) return result;
  if (!deps.mapping->selectors(side).present &&
      !(s.all_customers() && s.product_ids_size() == 0 &&
        s.payment_systems_size() == 0 && s.min_accounts() == 0 &&
        s.max_accounts() == 0)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the schema mapping has no `selectors` for ",
        deps.mapping->schema_name(side), ": select customers by id"));
  }
  TANDEM_RETURN_IF_ERROR(deps.dbs[side]->pool().Run(
      "resolve selector", [&](sql::Connection& conn) -> absl::Status {
        CriteriaReader read(deps, side, conn);
        if (s.product_ids_size() > 0) {
          TANDEM_ASSIGN_OR_RETURN(Ids users, read.ByProducts(s));
          Intersect(result, std::move(users));
        }
        if (s.payment_systems_size() > 0) {
          TANDEM_ASSIGN_OR_RETURN(Ids users, read.ByPaymentSystems(s));
          Intersect(result, std::move(users));
        }
        if (s.min_accounts() > 0 || s.max_accounts() > 0) {
          Intersect(result, read.ByAccountCount(s));
        }
        if (s.all_customers()) Intersect(result, read.All());
        return absl::OkStatus();
      }));
  return result;
}

}  // namespace

namespace {

// At most `max` ids, each positive.
absl::Status CheckIds(const char* field, const char* what,
                      const google::protobuf::RepeatedField<int64_t>& ids,
                      int max) {
  if (ids.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "selector.", field, ": at most ", max, ", not ", ids.size()));
  }
  for (int i = 0; i < ids.size(); ++i) {
    if (ids.Get(i) <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("selector.", field, "[", i, "] = ", ids.Get(i), ": ",
                       what, " ids are positive"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPaymentSystems(const v1::BatchSelector& s) {
  if (s.payment_systems_size() > kMaxSelectorPaymentSystems) {
    return absl::InvalidArgumentError(absl::StrCat(
        "selector.payment_systems: at most ", kMaxSelectorPaymentSystems,
        ", not ", s.payment_systems_size()));
  }
  for (int i = 0; i < s.payment_systems_size(); ++i) {
    if (s.payment_systems(i).empty() || s.payment_systems(i).size() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("selector.payment_systems[", i,
                       "]: a payment system name is 1-64 bytes"));
    }
  }
  return absl::OkStatus();
}

// from_batch_id and from_batch_states come together.
absl::Status CheckFromBatch(const v1::BatchSelector& s) {
  if (s.from_batch_id() < 0) {
    return absl::InvalidArgumentError(
        "selector.from_batch_id: batch ids are positive");
  }
  if (s.from_batch_id() > 0 && s.from_batch_states_size() == 0) {
    return absl::InvalidArgumentError(
        "selector.from_batch_states: say which items of batch " +
        absl::StrCat(s.from_batch_id()) +
        " to take (for example FAILED to retry, DONE to roll back)");
  }
  if (s.from_batch_id() == 0 && s.from_batch_states_size() > 0) {
    return absl::InvalidArgumentError(
        "selector.from_batch_states needs selector.from_batch_id");
  }
  for (int i = 0; i < s.from_batch_states_size(); ++i) {
    const int state = s.from_batch_states(i);
    if (state <= v1::ITEM_STATE_UNSPECIFIED ||
        state > v1::ITEM_STATE_ROLLED_BACK) {
      return absl::InvalidArgumentError(
          absl::StrCat("selector.from_batch_states[", i,
                       "]: not an item state (", state, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAccountsAndLimit(const v1::BatchSelector& s) {
  if (s.min_accounts() < 0 || s.max_accounts() < 0) {
    return absl::InvalidArgumentError(
        "selector: min_accounts and max_accounts are not negative");
  }
  if (s.max_accounts() > 0 && s.min_accounts() > s.max_accounts()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "selector: min_accounts ", s.min_accounts(), " is above max_accounts ",
        s.max_accounts(), ": no customer can match both"));
  }
  if (s.limit() < 0) {
    return absl::InvalidArgumentError("selector.limit is not negative");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSelector(const v1::BatchSelector& s) {
  const bool criteria = s.product_ids_size() > 0 ||
                        s.payment_systems_size() > 0 ||
                        s.customer_ids_size() > 0 || s.from_batch_id() != 0 ||
                        s.from_batch_states_size() > 0 ||
                        s.min_accounts() != 0 || s.max_accounts() != 0;
  if (!criteria && !s.all_customers()) {
    return absl::InvalidArgumentError(
        "selector: choose customers by product_ids, payment_systems, "
        "customer_ids, from_batch_id, min_accounts/max_accounts, or "
        "all_customers");
  }
  if (s.all_customers() && criteria) {
    return absl::InvalidArgumentError(
        "selector: all_customers takes no other criterion (only limit)");
  }
  TANDEM_RETURN_IF_ERROR(CheckIds("product_ids", "product", s.product_ids(),
                                  kMaxSelectorProducts));
  TANDEM_RETURN_IF_ERROR(CheckPaymentSystems(s));
  TANDEM_RETURN_IF_ERROR(CheckIds("customer_ids", "customer", s.customer_ids(),
                                  kMaxSelectorCustomers));
  TANDEM_RETURN_IF_ERROR(CheckFromBatch(s));
  return CheckAccountsAndLimit(s);
}

absl::StatusOr<Selection> ResolveSelector(const SelectorDeps& deps,
                                          const v1::BatchSelector& s,
                                          Direction direction) {
  TANDEM_RETURN_IF_ERROR(ValidateSelector(s));
  const SchemaSide side = Mapping::ReadSide(direction);
  const auto origin = direction == Direction::kMove
                          ? ::tandem::common::v1::SYSTEM_SOURCE
                          : ::tandem::common::v1::SYSTEM_TARGET;
  // Named customers: by id, or the items of an earlier batch.
  std::optional<Ids> named;
  if (s.customer_ids_size() > 0) {
    Intersect(named, Ids(s.customer_ids().begin(), s.customer_ids().end()));
  }
  if (s.from_batch_id() > 0) {
    std::vector<v1::ItemState> states;
    for (int st : s.from_batch_states()) {
      states.push_back(static_cast<v1::ItemState>(st));
    }
    TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> from,
                            deps.store->CustomersOf(s.from_batch_id(), states));
    Intersect(named, Ids(from.begin(), from.end()));
  }
  TANDEM_ASSIGN_OR_RETURN(std::optional<Ids> matched,
                          ReadCriteria(deps, s, side));
  Ids candidates;
  if (named.has_value() && matched.has_value()) {
    std::set_intersection(named->begin(), named->end(), matched->begin(),
                          matched->end(),
                          std::inserter(candidates, candidates.end()));
  } else {
    candidates = named.has_value() ? *named : *matched;
  }
  const std::vector<int64_t> ids(candidates.begin(), candidates.end());
  TANDEM_ASSIGN_OR_RETURN(auto routes, deps.router->LookupRoutes(ids));
  Selection out;
  const bool by_name = named.has_value();
  for (int64_t id : ids) {
    if (s.limit() > 0 &&
        static_cast<int64_t>(out.pending.size() + out.skipped.size()) >=
            s.limit()) {
      break;
    }
    auto r = routes.find(id);
    if (r == routes.end()) {
      if (by_name) {
        out.skipped.push_back({id, v1::FAILURE_KIND_CUSTOMER_NOT_FOUND,
                               absl::StrCat("customer ", id, " has no route")});
      }
      continue;
    }
    if (r->second.system() != origin) {
      if (by_name) {
        out.skipped.push_back(
            {id, v1::FAILURE_KIND_ALREADY_MOVED,
             absl::StrCat(
                 "customer ", id, " is already on the ",
                 direction == Direction::kMove ? "target" : "source")});
      }
      continue;
    }
    if (r->second.state() == rv1::ROUTE_STATE_MIGRATING) {
      out.skipped.push_back(
          {id, v1::FAILURE_KIND_ROUTE_CONFLICT,
           absl::StrCat("customer ", id, " is MIGRATING under another move")});
      continue;
    }
    out.pending.push_back(id);
  }
  return out;
}

}  // namespace tandem::migrator
