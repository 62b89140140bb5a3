// The mapping loader, the schema check and the converter on a small schema
// pair of their own, without a database: a new pair of schema versions is a
// new mapping file, not new code.
#include "migrator/engine/converter.h"

#include <gtest/gtest.h>

#include "migrator/mapping/mapping.h"
#include "migrator/mapping/schema_check.h"

namespace tandem::migrator {
namespace {

constexpr char kMapping[] = R"(version: toy/1
schemas: {source: old, target: new}
native_id_start: 1000
conversions:
  cents: {scale: 100}
enums:
  state: {live: "1", gone: "2", away: "3"}
customer:
  old: {table: people, key: id, status: state, exported: away}
  new: {table: persons, key: person_id, status: state, exported: "3"}
catalog:
  old:
    products: {table: people, id: id, code: name}
    resource_types: {table: people, id: id, code: name}
  new:
    products: {table: persons, id: person_id, code: full_name}
    resource_types: {table: persons, id: person_id, code: full_name}
adjustment:
  old: {table: notes, columns: {person_id: $customer, body: $amount}}
  new: {table: notes, columns: {person_id: $customer, body: $amount}}
directions:
  move:
    - from: people
      owner: id
      to: persons
      columns:
        person_id: {from: id, id: persons}
        full_name: name
        cents: {from: money, convert: cents}
        state: {from: state, enum: state}
    - from: people
      owner: id
      to: person_prefs
      split_json: {from: prefs, name: pref, value: val}
      columns:
        person_id: id
  rollback:
    - from: persons
      owner: person_id
      to: people
      defaults: {prefs: "{}"}
      columns:
        id: {from: person_id, id: persons}
        name: full_name
        money: {from: cents, convert: cents, inverse: true}
        state: {from: state, enum: state, inverse: true}
    - from: person_prefs
      owner: person_id
      to: people
      collect_json: {into: prefs, name: pref, value: val}
      columns:
        id: person_id
)";

ColumnInfo Col(std::string name, std::string type, int scale = 0,
               bool nullable = false) {
  ColumnInfo c;
  c.name = std::move(name);
  c.data_type = std::move(type);
  c.column_type = c.data_type;
  c.scale = scale;
  c.nullable = nullable;
  return c;
}

struct Schemas {
  LiveSchema old_, new_;
  const LiveSchema* both[2] = {&old_, &new_};
  Schemas() {
    old_.AddTable({"people",
                   {Col("id", "bigint"), Col("name", "varchar"),
                    Col("money", "decimal", 2), Col("state", "varchar"),
                    Col("prefs", "longtext")},
                   {"id"}});
    old_.AddTable({"notes",
                   {Col("id", "bigint"), Col("person_id", "bigint"),
                    Col("body", "varchar")},
                   {"id"}});
    new_.AddTable({"persons",
                   {Col("person_id", "bigint"), Col("full_name", "varchar"),
                    Col("cents", "bigint"), Col("state", "tinyint")},
                   {"person_id"}});
    new_.AddTable({"person_prefs",
                   {Col("person_id", "bigint"), Col("pref", "varchar"),
                    Col("val", "varchar")},
                   {"person_id", "pref"}});
    new_.AddTable({"notes",
                   {Col("id", "bigint"), Col("person_id", "bigint"),
                    Col("body", "varchar")},
                   {"id"}});
  }
};

// No products or resource types in this schema pair.
class NoCatalog final : public CatalogLookups {
 public:
  absl::StatusOr<CatalogTarget> Product(const std::string&,
                                        const std::string&) const override {
    return absl::NotFoundError("no products here");
  }
  absl::StatusOr<CatalogTarget> ResourceType(
      const std::string&, const std::string&) const override {
    return absl::NotFoundError("no resource types here");
  }
};

TEST(MappingTest, ParseErrorsNameTheFileAndLine) {
  auto bad =
      Mapping::Parse("version: x\nschemas: {source: a, target: a}\n", "m.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("m.yaml:2"), std::string::npos)
      << bad.status();
  auto unknown =
      Mapping::Parse(std::string(kMapping) + "surprise: 1\n", "m.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key `surprise`"),
            std::string::npos)
      << unknown.status();
  std::string twice = kMapping;
  twice.replace(twice.find("        full_name: name\n"),
                sizeof("        full_name: name\n") - 1,
                "        full_name: name\n        full_name: name\n");
  auto dup = Mapping::Parse(twice, "m.yaml");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("mapped twice"), std::string::npos);
  auto not_yaml = Mapping::Parse("a: [", "m.yaml");
  EXPECT_EQ(not_yaml.status().code(), absl::StatusCode::kInvalidArgument);
  auto ok = Mapping::Parse(kMapping, "m.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->digest().size(), 64u);
}

TEST(SchemaCheckTest, ReportsMissingColumnsAndUnfilledTargetColumns) {
  auto m = Mapping::Parse(kMapping, "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status();
  Schemas s;
  auto issues = CheckMapping(*m, s.both);
  EXPECT_FALSE(HasErrors(issues));
  for (const SchemaIssue& i : issues) EXPECT_FALSE(i.error) << i.message;
  // A NOT NULL column no entry fills, and a column the mapping names that
  // is gone.
  Schemas changed;
  TableInfo persons = *changed.new_.Find("persons");
  persons.columns.push_back(Col("email", "varchar"));
  persons.columns.erase(persons.columns.begin() + 1);  // full_name
  changed.new_.AddTable(persons);
  auto errors = CheckMapping(*m, changed.both);
  ASSERT_TRUE(HasErrors(errors));
  bool unfilled = false, missing = false;
  for (const SchemaIssue& i : errors) {
    unfilled |= i.error && i.column == "email";
    missing |=
        i.error && i.column == "full_name" && i.location.find("m.yaml:") == 0;
  }
  EXPECT_TRUE(unfilled);
  EXPECT_TRUE(missing);
}

class ConverterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Mapping::Parse(kMapping, "m.yaml");
    ASSERT_TRUE(m.ok()) << m.status();
    mapping_ = *std::move(m);
  }
  Converter Make(Direction d, bool allow_rounding = false) {
    ConvertOptions o;
    o.allow_rounding = allow_rounding;
    return Converter(mapping_, d, schemas_.both, catalog_, catalog_, ids_, o);
  }
  CustomerRows Person(const std::string& money, const std::string& state,
                      const std::string& prefs) {
    CustomerRows rows;
    rows.Table(*schemas_.old_.Find("people")).rows[EncodeKey({"7"})] =
        Row{"7", "Ann", money, state, prefs};
    return rows;
  }
  Mapping mapping_;
  Schemas schemas_;
  NoCatalog catalog_;
  IdMap ids_{1000};
};

TEST_F(ConverterTest, ConvertsUnitsEnumsAndJsonRowsHoldingTheStatus) {
  auto desired = Make(Direction::kMove)
                     .Convert(Person("12.34", "live",
                                     R"({"lang": "de", "n": 2, "x": null})"),
                              CustomerRows());
  ASSERT_TRUE(desired.ok()) << desired.status();
  const DesiredRow& p = desired->tables.at("persons").rows.at(EncodeKey({"7"}));
  EXPECT_EQ(p.values, (Row{"7", "Ann", "1234", "3"}));  // held: exported
  EXPECT_EQ(desired->customer_status, "1");
  const auto& prefs = desired->tables.at("person_prefs").rows;
  ASSERT_EQ(prefs.size(), 2u);
  EXPECT_EQ(prefs.at(EncodeKey({"7", "lang"})).values,
            (Row{"7", "lang", "de"}));
  EXPECT_EQ(prefs.at(EncodeKey({"7", "n"})).values, (Row{"7", "n", "2"}));
}

TEST_F(ConverterTest, AnUnknownEnumValueIsAnErrorNotADefault) {
  auto desired = Make(Direction::kMove)
                     .Convert(Person("1.00", "zombie", "{}"), CustomerRows());
  ASSERT_FALSE(desired.ok());
  EXPECT_EQ(desired.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(desired.status().message().find("zombie"), std::string::npos);
  EXPECT_NE(desired.status().message().find("m.yaml:"), std::string::npos);
}

TEST_F(ConverterTest, BackwardsRoundingIsRefusedUnlessAllowed) {
  // A source that keeps money to one decimal: 12.35 does not fit.
  TableInfo people = *schemas_.old_.Find("people");
  people.columns[2].scale = 1;
  schemas_.old_.AddTable(people);
  CustomerRows target;
  target.Table(*schemas_.new_.Find("persons")).rows[EncodeKey({"7"})] =
      Row{"7", "Ann", "1235", "1"};
  auto refused = Make(Direction::kRollback).Convert(target, CustomerRows());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("rounding is not allowed"),
            std::string::npos)
      << refused.status();
  auto rounded = Make(Direction::kRollback, /*allow_rounding=*/true)
                     .Convert(target, CustomerRows());
  ASSERT_TRUE(rounded.ok()) << rounded.status();
  EXPECT_EQ(rounded->tables.at("people").rows.at(EncodeKey({"7"})).values[2],
            "12.4");
  ASSERT_EQ(rounded->roundings.size(), 1u);
  EXPECT_EQ(rounded->roundings[0].exact, "12.35");
  EXPECT_TRUE(rounded->rounded_tables.count("people"));
}

TEST_F(ConverterTest, ARollbackKeepsRowsNothingChangedAndConvertsTheRest) {
  CustomerRows target;
  target.Table(*schemas_.new_.Find("persons")).rows[EncodeKey({"7"})] =
      Row{"7", "Ann", "1235", "1"};
  auto exact = Make(Direction::kRollback).Convert(target, CustomerRows());
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->tables.at("people").rows.at(EncodeKey({"7"})).values[2],
            "12.35");
  // The same person kept on the source with settings the move could not
  // carry: nothing changed on the target since, so the source row stays.
  CustomerRows kept =
      Person("12.35", "away", R"({"x": null, "deep": {"a": 1}})");
  auto retained = Make(Direction::kRollback).Convert(target, kept);
  ASSERT_TRUE(retained.ok()) << retained.status();
  const DesiredRow& row =
      retained->tables.at("people").rows.at(EncodeKey({"7"}));
  EXPECT_TRUE(row.retained);
  EXPECT_EQ(row.values[4], R"({"x": null, "deep": {"a": 1}})");
  // Changed on the target: converted back, its settings rebuilt from rows.
  target.tables["persons"].rows[EncodeKey({"7"})] =
      Row{"7", "Ann B", "1235", "1"};
  auto changed = Make(Direction::kRollback).Convert(target, kept);
  ASSERT_TRUE(changed.ok());
  const DesiredRow& again =
      changed->tables.at("people").rows.at(EncodeKey({"7"}));
  EXPECT_FALSE(again.retained);
  EXPECT_EQ(again.values[1], "Ann B");
  EXPECT_EQ(again.values[4], "{}");
}

// The incremental update gives exactly what converting everything again
// gives, for a changed, an added and a removed row, and touches only them.
TEST_F(ConverterTest, AnUpdateForChangedRowsEqualsConvertingEverythingAgain) {
  Converter c = Make(Direction::kMove);
  CustomerRows read;
  const TableInfo& people = *schemas_.old_.Find("people");
  auto& rows = read.Table(people).rows;
  rows[EncodeKey({"7"})] = Row{"7", "Ann", "1.00", "live", R"({"a": "1"})"};
  rows[EncodeKey({"8"})] = Row{"8", "Bob", "2.00", "live", R"({"b": "2"})"};
  rows[EncodeKey({"9"})] = Row{"9", "Cy", "3.00", "gone", "{}"};
  auto state = c.Convert(read, CustomerRows());
  ASSERT_TRUE(state.ok()) << state.status();
  rows[EncodeKey({"7"})] = Row{"7", "Ann", "1.50", "live", R"({"z": "9"})"};
  rows.erase(EncodeKey({"8"}));
  rows[EncodeKey({"10"})] = Row{"10", "Dee", "4.00", "live", R"({"d": "4"})"};
  std::set<RowRef> changed = {{"people", EncodeKey({"7"})},
                              {"people", EncodeKey({"8"})},
                              {"people", EncodeKey({"10"})}};
  std::set<RowRef> touched;
  ASSERT_TRUE(c.Update(read, changed, &*state, &touched).ok());
  auto again = c.Convert(read, CustomerRows());
  ASSERT_TRUE(again.ok());
  for (const char* table : {"persons", "person_prefs"}) {
    std::map<std::string, Row> a, b;
    for (const auto& [k, r] : state->tables[table].rows) a[k] = r.values;
    for (const auto& [k, r] : again->tables[table].rows) b[k] = r.values;
    EXPECT_EQ(a, b) << table;
  }
  // Customer 9 was not touched.
  EXPECT_FALSE(touched.count({"persons", EncodeKey({"9"})}));
  EXPECT_TRUE(touched.count({"persons", EncodeKey({"8"})}));
  EXPECT_TRUE(touched.count({"person_prefs", EncodeKey({"7", "a"})}));
  EXPECT_TRUE(touched.count({"person_prefs", EncodeKey({"7", "z"})}));
}

}  // namespace
}  // namespace tandem::migrator
