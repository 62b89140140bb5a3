#include "testbed/datagen/datagen.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "testbed/base/crypto.h"
#include "testbed/base/json.h"
#include "testbed/datagen/bulk_writer.h"
#include "testbed/datagen/catalog.h"

namespace tandem::testbed {
namespace {

// The generator's "now": data is dated relative to it, not to the clock,
// so that a seed always gives the same rows.
constexpr int64_t kNowUnix = 1793491200;  // 2026-11-01 00:00:00 UTC
constexpr int64_t kDay = 86400;

std::string Datetime(int64_t unix_seconds) {
  absl::CivilSecond t = absl::ToCivilSecond(absl::FromUnixSeconds(unix_seconds),
                                            absl::UTCTimeZone());
  return absl::StrFormat("%04d-%02d-%02d %02d:%02d:%02d", t.year(), t.month(),
                         t.day(), t.hour(), t.minute(), t.second());
}

std::string Date(int64_t unix_seconds) {
  return Datetime(unix_seconds).substr(0, 10);
}

std::string V1Money(int64_t micros) {
  // Callers only pass multiples of 10 micro-units.
  return *MicrosToV1Decimal(micros);
}

uint64_t Mix(uint64_t seed, uint64_t salt) {
  Rng r(seed ^ (salt * 0x9e3779b97f4a7c15ULL));
  return r.Next();
}

template <typename T>
const T& Pick(Rng& rng, const std::vector<T>& items) {
  return items[rng.Below(items.size())];
}

// Names in several scripts and with characters outside Latin-1, so that
// every copy and comparison must keep UTF-8 intact.
const std::vector<std::string> kFirstNames = {
    "Anna",   "Ben",   "Clara",  "David", "Eva",   "Felix", "Greta",
    "Hanna",  "Ivan",  "Jonas",  "Katja", "Lukas", "Mia",   "Noah",
    "Olga",   "Paul",  "Rosa",   "Sven",  "Tanja", "Uwe",   "Vera",
    "Wim",    "Xenia", "Yusuf",  "Zoë",   "Mateo", "Sofia", "Liam",
    "Łukasz", "Søren", "Jürgen", "Анна",  "Ngọc",  "美咲"};
const std::vector<std::string> kLastNames = {
    "Schmidt",     "Müller", "Novak",   "Kowalski", "Rossi",   "García",
    "Dubois",      "Jansen", "Berg",    "Horvat",   "Ivanova", "O'Brien",
    "Fischer",     "Weber",  "Meyer",   "Wagner",   "Becker",  "Hoffmann",
    "Łukasiewicz", "Ørsted", "Иванова", "Nguyễn",   "Dvořák",  "Yılmaz"};
const std::vector<std::string> kStreets = {
    "Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee",
    "Schulstraße", "Kirchplatz",    "Am Markt",  "Rue de la Paix"};
const std::vector<std::string> kCities = {"Berlin", "Hamburg", "München",
                                          "Köln",   "Leipzig", "Wien",
                                          "Zürich", "Prag"};

struct Segment {
  const char* name;
  std::vector<std::string> products;
};

const std::vector<Segment>& Segments() {
  static const auto* s = new std::vector<Segment>{
      {"mobile", {"MOB-S", "MOB-S", "MOB-M", "MOB-M", "MOB-L"}},
      {"fixed", {"FIX-BASIC", "FIX-BASIC", "FIX-PRO", "FIX-ISDN"}},
      {"broadband", {"BB-100", "BB-250", "BB-500", "BB-500", "BB-1000"}},
      {"iot", {"IOT-1", "IOT-10"}},
      {"business", {"MOB-BIZ", "MOB-BIZ", "MOB-BIZ", "FIX-PRO", "IOT-10"}},
  };
  return *s;
}

// How many accounts each customer has and how many xDRs each account has.
struct Plan {
  std::vector<int32_t> accounts;  // per customer
  std::vector<int32_t> xdrs;      // per account, in account id order
  std::vector<bool> whale;        // per customer
};

// Picks `count` customers not picked yet, gives each `size` accounts.
void PickBig(Rng& rng, int64_t count, int32_t size, Plan& plan) {
  for (int64_t w = 0; w < count; ++w) {
    int64_t c;
    do {
      c = static_cast<int64_t>(rng.Below(plan.accounts.size()));
    } while (plan.whale[c]);
    plan.whale[c] = true;
    plan.accounts[c] = size;
  }
}

// The options MakePlan needs to be consistent.
absl::Status CheckPlanOptions(const DatagenOptions& o) {
  if (o.customers < 1 || o.accounts < o.customers || o.xdrs < 0) {
    return absl::InvalidArgumentError(
        "need customers >= 1, accounts >= customers and xdrs >= 0");
  }
  if (o.large_customers < -1 || o.large_accounts < 1 || o.huge_accounts < -1 ||
      o.at_limit_share < 0 || o.at_limit_share > 1) {
    return absl::InvalidArgumentError(
        "need large_customers >= -1, large_accounts >= 1, huge_accounts >= "
        "-1 and at_limit_share in [0, 1]");
  }
  return absl::OkStatus();
}

// Picks the large customers and the huge one (the options, or when they are
// -1 as many as fit) and gives them their accounts. Returns how many
// customers are big and how many accounts they hold together.
absl::StatusOr<std::pair<int64_t, int64_t>> PlaceBigCustomers(
    const DatagenOptions& o, Rng& rng, Plan& plan) {
  int64_t large = o.large_customers;
  int64_t large_size = o.large_accounts;
  if (large < 0) {  // automatic: capped to fit
    large = o.customers >= 100 ? std::max<int64_t>(1, o.customers / 2000) : 0;
    int64_t cap = large > 0 ? (o.accounts - o.customers) * 3 / 10 / large : 0;
    large_size = std::min<int64_t>(large_size, cap);
    if (large_size < 100) large = 0;
  }
  int64_t huge = o.huge_accounts;
  if (huge < 0) {  // automatic: when the rest still spreads
    huge = 0;
    const int64_t rest = o.accounts - large * large_size - 5000;
    const int64_t normal = o.customers - large - 1;
    if (o.customers >= 2000 && normal > 0 && rest >= normal &&
        rest <= 20 * normal) {
      huge = 5000;
    }
  }
  const int64_t big = large + (huge > 0 ? 1 : 0);
  if (big > o.customers) {
    return absl::InvalidArgumentError(absl::StrCat(
        big, " large customers do not fit ", o.customers, " customers"));
  }
  PickBig(rng, large, static_cast<int32_t>(large_size), plan);
  if (huge > 0) PickBig(rng, 1, static_cast<int32_t>(huge), plan);
  return std::make_pair(big, large * large_size + huge);
}

// Gives every customer that is not big 1 to 20 accounts, `rest` in all.
absl::Status SpreadAccounts(const DatagenOptions& o, int64_t big,
                            int64_t whale_total, Rng& rng, Plan& plan) {
  int64_t normal = o.customers - big;
  int64_t rest = o.accounts - whale_total;
  if (normal == 0 ? rest != 0 : (rest < normal || rest > 20 * normal)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot spread ", o.accounts, " accounts over ",
                     o.customers, " customers with 1-20 accounts each (plus ",
                     big, " large ones with ", whale_total, ")"));
  }
  if (normal == 0) normal = 1;  // (no normal customers: nothing to spread)
  // A long tail toward 20: 1 + 19 * u^a has mean 1 + 19 / (a + 1).
  double mean = static_cast<double>(rest) / normal;
  double a = std::max(0.05, 19.0 / std::max(mean - 1.0, 0.01) - 1.0);
  int64_t sum = 0;
  std::vector<int64_t> normals;
  for (int64_t c = 0; c < o.customers; ++c) {
    if (plan.whale[c]) continue;
    normals.push_back(c);
    plan.accounts[c] =
        1 + static_cast<int32_t>(19.0 * std::pow(rng.Unit(), a) + 0.5);
    sum += plan.accounts[c];
  }
  while (sum != rest) {
    int64_t c = normals[rng.Below(normals.size())];
    if (sum < rest && plan.accounts[c] < 20) {
      ++plan.accounts[c];
      ++sum;
    } else if (sum > rest && plan.accounts[c] > 1) {
      --plan.accounts[c];
      --sum;
    }
  }
  return absl::OkStatus();
}

// xDRs: uniform in [0, 2 * mean] per account, then adjusted to the total.
void SpreadXdrs(const DatagenOptions& o, Rng& rng, Plan& plan) {
  plan.xdrs.assign(o.accounts, 0);
  int64_t per = o.xdrs / o.accounts;
  int64_t xsum = 0;
  for (int64_t i = 0; i < o.accounts; ++i) {
    plan.xdrs[i] = static_cast<int32_t>(rng.Range(0, 2 * per));
    xsum += plan.xdrs[i];
  }
  while (xsum != o.xdrs) {
    int64_t i = static_cast<int64_t>(rng.Below(o.accounts));
    if (xsum < o.xdrs) {
      int64_t add = std::min<int64_t>(o.xdrs - xsum, 1 + per / 4);
      plan.xdrs[i] += static_cast<int32_t>(add);
      xsum += add;
    } else if (plan.xdrs[i] > 0) {
      int64_t sub =
          std::min<int64_t>({xsum - o.xdrs, plan.xdrs[i], 1 + per / 4});
      plan.xdrs[i] -= static_cast<int32_t>(sub);
      xsum -= sub;
    }
  }
}

absl::StatusOr<Plan> MakePlan(const DatagenOptions& o) {
  TANDEM_RETURN_IF_ERROR(CheckPlanOptions(o));
  Rng rng(Mix(o.seed, 0x504c414e));  // "PLAN"
  Plan plan;
  plan.accounts.assign(o.customers, 0);
  plan.whale.assign(o.customers, false);
  TANDEM_ASSIGN_OR_RETURN(auto big, PlaceBigCustomers(o, rng, plan));
  TANDEM_RETURN_IF_ERROR(SpreadAccounts(o, big.first, big.second, rng, plan));
  SpreadXdrs(o, rng, plan);
  return plan;
}

std::string SettingsJson(Rng& rng) {
  static const std::vector<std::string> kLanguages = {"en", "de", "fr", "cs",
                                                      "es"};
  JsonWriter w;
  w.BeginObject();
  w.Field("language", Pick(rng, kLanguages));
  w.Field("voicemail", rng.Chance(0.6) ? "on" : "off");
  w.Field("call_forwarding",
          rng.Chance(0.2) ? absl::StrCat("+4930", rng.Range(1000000, 9999999))
                          : std::string("off"));
  w.Field("roaming", rng.Chance(0.5) ? "on" : "off");
  if (rng.Chance(0.3)) {
    w.Field("caller_id_hidden", rng.Chance(0.5) ? "yes" : "no");
  }
  w.EndObject();
  return w.Release();
}

using Stmt = std::unique_ptr<sql::PreparedStatement>;

// Inserts the resource classes, resource types and payment systems of `c`.
void InsertReferenceRows(sql::Connection& conn, const CatalogDef& c, bool v1) {
  Stmt cls(conn.prepareStatement(
      v1 ? "INSERT INTO resource_classes (i_resource_class, name) "
           "VALUES (?, ?)"
         : "INSERT INTO resource_classes (resource_class_id, class_name) "
           "VALUES (?, ?)"));
  for (const auto& rc : c.classes) {
    cls->setInt(1, rc.id);
    cls->setString(2, rc.name);
    cls->executeUpdate();
  }
  Stmt type(conn.prepareStatement(
      v1 ? "INSERT INTO resource_types (i_resource_type, code, name, "
           "i_resource_class, unit) VALUES (?, ?, ?, ?, ?)"
         : "INSERT INTO resource_types (resource_type_id, type_code, "
           "type_name, resource_class_id, unit) VALUES (?, ?, ?, ?, ?)"));
  for (const auto& t : c.types) {
    type->setInt(1, t.id);
    type->setString(2, t.code);
    type->setString(3, t.name);
    type->setInt(4, t.class_id);
    type->setString(5, t.unit);
    type->executeUpdate();
  }
  Stmt ps(conn.prepareStatement(
      v1 ? "INSERT INTO payment_systems (i_payment_system, name) "
           "VALUES (?, ?)"
         : "INSERT INTO payment_systems (payment_system_id, name) "
           "VALUES (?, ?)"));
  for (const auto& p : c.payment_systems) {
    ps->setInt(1, p.id);
    ps->setString(2, p.name);
    ps->executeUpdate();
  }
}

// Inserts the products of `c`, with their resource limits and add-ons.
void InsertProducts(sql::Connection& conn, const CatalogDef& c, bool v1) {
  Stmt product(conn.prepareStatement(
      v1 ? "INSERT INTO products (i_product, code, name, category, "
           "contract_pool, is_addon, monthly_fee, iso_4217, "
           "activation_params, last_changed) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
         : "INSERT INTO products (product_id, product_code, display_name, "
           "category, contract_pool, is_addon, monthly_fee_micros, "
           "currency, activation_params, updated_at) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  Stmt limit(conn.prepareStatement(
      v1 ? "INSERT INTO product_resources (i_product, i_resource_type, "
           "max_amount) VALUES (?, ?, ?)"
         : "INSERT INTO product_resources (product_id, resource_type_id, "
           "limit_value) VALUES (?, ?, ?)"));
  Stmt addon(conn.prepareStatement(
      v1 ? "INSERT INTO product_addons (i_product, i_addon) VALUES (?, ?)"
         : "INSERT INTO product_addons (product_id, addon_product_id) "
           "VALUES (?, ?)"));
  for (const auto& p : c.products) {
    product->setInt(1, p.id);
    product->setString(2, p.code);
    product->setString(3, p.name);
    product->setString(4, p.category);
    product->setString(5, p.contract_pool);
    product->setInt(6, p.is_addon ? 1 : 0);
    if (v1) {
      product->setString(7, V1Money(p.monthly_fee_micros));
    } else {
      product->setInt64(7, p.monthly_fee_micros);
    }
    product->setString(8, p.currency);
    product->setString(9, p.activation_params);
    product->setString(10, Datetime(kNowUnix - 400 * kDay));
    product->executeUpdate();
    for (const auto& l : p.limits) {
      limit->setInt(1, p.id);
      limit->setInt(2, c.FindType(l.type_code)->id);
      limit->setInt64(3, l.limit);
      limit->executeUpdate();
    }
    for (const auto& code : p.addon_codes) {
      addon->setInt(1, p.id);
      addon->setInt(2, c.FindProduct(code)->id);
      addon->executeUpdate();
    }
  }
}

// The rows of the source database GenerateCustomers writes: one buffer per
// table, and the ids that number them. Customers are written one after
// another, each from random streams of its own (see AddCustomer), so a seed
// always gives the same rows.
class SourceRows {
 public:
  SourceRows(BulkWriter& writer, const DatagenOptions& o, const Plan& plan)
      : o_(o), plan_(plan), catalog_(DemoCatalog(SchemaVersion::kV1)) {
    customers_ = writer.AddTable(
        "customers",
        {"i_customer", "login", "password_hash", "companyname", "email",
         "phone1", "baddr1", "balance", "credit_limit", "iso_4217",
         "i_payment_system", "bill_cycle", "status", "creation_date"});
    accounts_ = writer.AddTable(
        "accounts", {"i_account", "id", "i_customer", "i_product", "balance",
                     "status", "service_settings", "creation_date"});
    subscriptions_ = writer.AddTable(
        "subscriptions", {"i_subscription", "i_customer", "i_account",
                          "i_product", "is_addon", "status", "start_date"});
    usage_ =
        writer.AddTable("subscription_usage",
                        {"i_subscription", "i_resource_type", "used_amount"});
    xdrs_ = writer.AddTable(
        "xdrs", {"i_xdr", "i_account", "i_customer", "connect_time", "duration",
                 "charged_amount", "CLI", "CLD"});
    transactions_ = writer.AddTable("balance_transactions",
                                    {"i_transaction", "i_customer", "i_account",
                                     "amount", "tx_type", "tx_time"});
    invoices_ = writer.AddTable(
        "invoices", {"i_invoice", "i_customer", "period_from", "period_to",
                     "amount_due", "status", "issue_date"});
    methods_ = writer.AddTable(
        "payment_methods", {"i_payment_method", "i_customer", "payment_method",
                            "number_masked", "exp_date", "is_default"});
    tokens_ = writer.AddTable(
        "api_tokens",
        {"token_hash", "i_customer", "description", "created", "expires"});
  }

  // Writes customer `c` (1-based, in order) and everything it owns.
  void AddCustomer(int64_t c) {
    Rng rng(Mix(o_.seed, static_cast<uint64_t>(c)));
    Rng extra(Mix(o_.seed ^ 0x4558545241ULL, static_cast<uint64_t>(c)));
    const bool whale = plan_.whale[c - 1];
    const uint64_t segment_roll = rng.Below(100);
    const Segment& segment = Segments()[whale               ? 4
                                        : segment_roll < 55 ? 0
                                        : segment_roll < 70 ? 1
                                        : segment_roll < 90 ? 2
                                        : segment_roll < 95 ? 3
                                                            : 4];
    const CustomerRow row = AddCustomerRow(
        rng, c, whale || segment.name == std::string("business"));
    for (int32_t a = 0; a < plan_.accounts[c - 1]; ++a) {
      AddAccount(rng, extra, c, row.created, segment);
    }
    AddBalanceHistory(rng, c, row.created, row.balance);
    AddInvoices(rng, c);
    AddPaymentMethods(rng, c, row.payment_system);
  }

  // Counts the rows written (after BulkWriter::Finish) into `report`.
  void CountRows(DatagenReport& report) const {
    report.customers = customers_->rows_written();
    report.accounts = accounts_->rows_written();
    report.subscriptions = subscriptions_->rows_written();
    report.usage_rows = usage_->rows_written();
    report.xdrs = xdrs_->rows_written();
    report.transactions = transactions_->rows_written();
    report.invoices = invoices_->rows_written();
    report.payment_methods = methods_->rows_written();
  }

 private:
  // What the rest of a customer's rows depend on.
  struct CustomerRow {
    int64_t created;
    int64_t balance;
    int64_t payment_system;
  };

  // The customer's row and its API token; `company` names it as a business.
  CustomerRow AddCustomerRow(Rng& rng, int64_t c, bool company) {
    const std::string first = Pick(rng, kFirstNames);
    const std::string last = Pick(rng, kLastNames);
    const std::string name =
        company ? absl::StrCat(last, " ", Pick(rng, kCities), " GmbH")
                : absl::StrCat(first, " ", last);
    const int64_t created =
        kNowUnix - rng.Range(30, 8 * 365) * kDay - rng.Range(0, kDay - 1);
    const std::string salt = absl::StrFormat("%016x", rng.Next());
    const int64_t payment_system = static_cast<int64_t>(rng.Chance(0.45)  ? 1
                                                        : rng.Chance(0.6) ? 2
                                                        : rng.Chance(0.6) ? 3
                                                                          : 4);
    const double status_roll = rng.Unit();
    const int64_t customer_balance = rng.Range(-5000, 50000) * 10000;
    customers_->Int(c)
        .Str(DemoLogin(c))
        .Str(HashPassword(DemoPassword(c), salt, o_.password_iterations))
        .Str(name)
        .Str(absl::StrCat(DemoLogin(c), "@example.net"))
        .Str(absl::StrCat("+4930", 1000000 + c))
        .Str(absl::StrCat(rng.Range(1, 120), " ", Pick(rng, kStreets), ", ",
                          rng.Range(10000, 99999), " ", Pick(rng, kCities)))
        .Str(V1Money(customer_balance))
        .Str(V1Money(Pick(rng, std::vector<int64_t>{0, 0, 50, 100, 500}) *
                     1000000))
        .Str("EUR")
        .Int(payment_system)
        .Str(rng.Chance(0.85)   ? "monthly"
             : rng.Chance(0.66) ? "weekly"
                                : "daily")
        .Str(status_roll < 0.94   ? "open"
             : status_roll < 0.98 ? "suspended"
                                  : "closed")
        .Str(Datetime(created));
    customers_->EndRow();
    tokens_->Str(Sha256Hex(DemoApiToken(c)))
        .Int(c)
        .Str("demo")
        .Str(Datetime(created))
        .Null();
    tokens_->EndRow();
    return {created, customer_balance, payment_system};
  }

  // One account of customer `c` with its opening transaction, its
  // subscriptions (an add-on to some) and its xDRs.
  void AddAccount(Rng& rng, Rng& extra, int64_t c, int64_t created,
                  const Segment& segment) {
    ++account_id_;
    const ProductDef& product =
        *catalog_.FindProduct(Pick(rng, segment.products));
    const int64_t since = created + rng.Range(0, 60) * kDay;
    const double roll = rng.Unit();
    const std::string phone = absl::StrFormat("+49151%08d", account_id_);
    const int64_t account_balance = rng.Range(0, 5000) * 10000;
    accounts_->Int(account_id_)
        .Str(phone)
        .Int(c)
        .Int(product.id)
        .Str(V1Money(account_balance))
        .Str(roll < 0.95   ? "active"
             : roll < 0.99 ? "blocked"
                           : "closed")
        .Str(SettingsJson(rng))
        .Str(Datetime(since));
    accounts_->EndRow();
    ++tx_id_;  // The balance brought forward (the balance rule).
    transactions_->Int(tx_id_)
        .Int(c)
        .Int(account_id_)
        .Str(V1Money(account_balance))
        .Str("opening")
        .Str(Datetime(since));
    transactions_->EndRow();
    AddSubscription(rng, extra, c, account_id_, product, false, since);
    if (!product.addon_codes.empty() && rng.Chance(0.15)) {
      AddSubscription(rng, extra, c, account_id_,
                      *catalog_.FindProduct(Pick(rng, product.addon_codes)),
                      true, since + rng.Range(1, 30) * kDay);
    }
    const int64_t rate = Pick(rng, std::vector<int64_t>{100, 200, 500, 1000});
    for (int32_t x = 0; x < plan_.xdrs[account_id_ - 1]; ++x) {
      ++xdr_id_;
      const int64_t duration = rng.Chance(0.1) ? 0 : rng.Range(1, 1800);
      xdrs_->Int(xdr_id_)
          .Int(account_id_)
          .Int(c)
          .Str(Datetime(kNowUnix - rng.Range(1, 90 * kDay)))
          .Int(duration)
          .Str(V1Money(duration * rate))
          .Str(phone)
          .Str(absl::StrCat("+49", rng.Range(1000000000, 9999999999)));
      xdrs_->EndRow();
    }
  }

  // One subscription and its usage of each limited resource.
  void AddSubscription(Rng& rng, Rng& extra, int64_t customer, int64_t account,
                       const ProductDef& product, bool addon, int64_t since) {
    ++subscription_id_;
    subscriptions_->Int(subscription_id_)
        .Int(customer)
        .Int(account)
        .Int(product.id)
        .Int(addon ? 1 : 0)
        .Str(rng.Chance(0.97) ? "active" : "pending")
        .Str(Date(since));
    subscriptions_->EndRow();
    for (const ResourceLimitDef& l : product.limits) {
      // Usage skews low: about 13% of subscriptions use more than 3/4 of a
      // limit, which puts some over the lower limits of the v2 catalog.
      double u = rng.Unit();
      int64_t used = static_cast<int64_t>(static_cast<double>(l.limit) * u * u);
      // Some exactly at the limit, from a stream of their own so that the
      // rest of the data does not depend on the share.
      if (l.limit > 0 && extra.Chance(o_.at_limit_share)) used = l.limit;
      usage_->Int(subscription_id_)
          .Int(catalog_.FindType(l.type_code)->id)
          .Int(used);
      usage_->EndRow();
    }
  }

  // Top-ups, and before them the opening transaction that makes the
  // customer's balance their sum (the balance rule).
  void AddBalanceHistory(Rng& rng, int64_t c, int64_t created,
                         int64_t customer_balance) {
    std::vector<std::pair<int64_t, int64_t>> topups;  // micros, unix time
    int64_t topped_up = 0;
    for (int64_t t = rng.Range(1, 3); t > 0; --t) {
      const int64_t amount = rng.Range(1, 10) * 10 * 1000000;
      topups.emplace_back(amount, kNowUnix - rng.Range(1, 180) * kDay);
      topped_up += amount;
    }
    ++tx_id_;
    transactions_->Int(tx_id_)
        .Int(c)
        .Null()
        .Str(V1Money(customer_balance - topped_up))
        .Str("opening")
        .Str(Datetime(created));
    transactions_->EndRow();
    for (const auto& [amount, when] : topups) {
      ++tx_id_;
      transactions_->Int(tx_id_)
          .Int(c)
          .Null()
          .Str(V1Money(amount))
          .Str("topup")
          .Str(Datetime(when));
      transactions_->EndRow();
    }
  }

  // One to six monthly invoices; the latest is open.
  void AddInvoices(Rng& rng, int64_t c) {
    const int64_t months = rng.Range(1, 6);
    for (int64_t m = months; m >= 1; --m) {
      ++invoice_id_;
      const int64_t from = kNowUnix - m * 30 * kDay;
      const double r = rng.Unit();
      invoices_->Int(invoice_id_)
          .Int(c)
          .Str(Date(from))
          .Str(Date(from + 29 * kDay))
          .Str(V1Money(rng.Range(500, 20000) * 10000))
          .Str(m == 1     ? "open"
               : r < 0.9  ? "paid"
               : r < 0.97 ? "overdue"
                          : "void")
          .Str(Datetime(from + 30 * kDay + 3600));
      invoices_->EndRow();
    }
  }

  // One or two payment methods; the default one fits the payment system.
  void AddPaymentMethods(Rng& rng, int64_t c, int64_t payment_system) {
    const int64_t n_methods = rng.Chance(0.2) ? 2 : 1;
    for (int64_t m = 0; m < n_methods; ++m) {
      ++method_id_;
      const int64_t kind = payment_system == 2   ? 1
                           : payment_system == 3 ? 2
                                                 : 0;
      methods_->Int(method_id_).Int(c);
      if (m == 0 && kind == 1) {
        methods_->Str("direct_debit")
            .Str(absl::StrFormat("DE** **** **** %04d", rng.Range(0, 9999)))
            .Null();
      } else if (m == 0 && kind == 2) {
        methods_->Str("paypal")
            .Str(absl::StrCat("paypal:", DemoLogin(c)))
            .Null();
      } else {
        methods_->Str("card")
            .Str(absl::StrFormat("**** **** **** %04d", rng.Range(0, 9999)))
            .Str(Date(kNowUnix + rng.Range(30, 1500) * kDay));
      }
      methods_->Int(m == 0 ? 1 : 0);
      methods_->EndRow();
    }
  }

  const DatagenOptions& o_;
  const Plan& plan_;
  const CatalogDef& catalog_;
  BulkWriter::Table* customers_;
  BulkWriter::Table* accounts_;
  BulkWriter::Table* subscriptions_;
  BulkWriter::Table* usage_;
  BulkWriter::Table* xdrs_;
  BulkWriter::Table* transactions_;
  BulkWriter::Table* invoices_;
  BulkWriter::Table* methods_;
  BulkWriter::Table* tokens_;
  int64_t account_id_ = 0;
  int64_t subscription_id_ = 0;
  int64_t xdr_id_ = 0;
  int64_t tx_id_ = 0;
  int64_t invoice_id_ = 0;
  int64_t method_id_ = 0;
};

// Refuses a source database without the v1 catalog or with customers.
absl::Status CheckSourceIsEmpty(MysqlPool& pool) {
  return pool.Run("check source is empty", [](sql::Connection& conn) {
    std::unique_ptr<sql::PreparedStatement> q(
        conn.prepareStatement("SELECT (SELECT COUNT(*) FROM products), "
                              "EXISTS(SELECT 1 FROM customers)"));
    std::unique_ptr<sql::ResultSet> rs(q->executeQuery());
    rs->next();
    if (rs->getInt64(1) == 0) {
      return absl::FailedPreconditionError(
          "the v1 catalog is not loaded (run LoadCatalog first)");
    }
    if (rs->getInt64(2) != 0) {
      return absl::FailedPreconditionError(
          "the source database already holds customers");
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::Status LoadCatalog(MysqlPool& pool, SchemaVersion version) {
  const CatalogDef& c = DemoCatalog(version);
  const bool v1 = version == SchemaVersion::kV1;
  return pool.Transaction("load catalog", [&](sql::Connection& conn) {
    InsertReferenceRows(conn, c, v1);
    InsertProducts(conn, c, v1);
    return absl::OkStatus();
  });
}

std::string ProductCorrespondenceCsv() {
  const CatalogDef& v1 = DemoCatalog(SchemaVersion::kV1);
  const CatalogDef& v2 = DemoCatalog(SchemaVersion::kV2);
  std::string out = "v1_code,v1_product_id,v2_code,v2_product_id\n";
  std::set<std::string> mapped;
  for (const auto& p : v1.products) {
    const ProductDef* q = v2.CounterpartOf(p.code);
    absl::StrAppend(&out, p.code, ",", p.id, ",", q ? q->code : "", ",",
                    q ? absl::StrCat(q->id) : "", "\n");
    if (q != nullptr) mapped.insert(q->code);
  }
  for (const auto& q : v2.products) {
    if (!mapped.count(q.code))
      absl::StrAppend(&out, ",,", q.code, ",", q.id, "\n");
  }
  return out;
}

absl::StatusOr<DatagenReport> GenerateCustomers(MysqlPool& pool,
                                                const DatagenOptions& o) {
  absl::Time start = absl::Now();
  TANDEM_ASSIGN_OR_RETURN(Plan plan, MakePlan(o));
  TANDEM_RETURN_IF_ERROR(CheckSourceIsEmpty(pool));

  BulkWriter writer(pool, o.writers, o.batch_rows);
  SourceRows rows(writer, o, plan);
  for (int64_t c = 1; c <= o.customers; ++c) {
    rows.AddCustomer(c);
  }
  TANDEM_RETURN_IF_ERROR(writer.Finish());
  DatagenReport report;
  rows.CountRows(report);
  report.api_tokens = o.customers;  // one per customer
  report.rows = report.customers + report.accounts + report.subscriptions +
                report.usage_rows + report.xdrs + report.transactions +
                report.invoices + report.payment_methods + report.api_tokens;
  for (int32_t n : plan.accounts) {
    if (n > 20) ++report.large_customers;
    report.largest_accounts = std::max<int64_t>(report.largest_accounts, n);
  }
  report.elapsed = absl::Now() - start;
  return report;
}

}  // namespace tandem::testbed
