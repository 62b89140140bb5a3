// Value conversions: exact rescaling both ways, the rounding rule, canonical
// text per column type, and JSON split into rows and back.
#include "migrator/engine/values.h"

#include <gtest/gtest.h>

namespace tandem::migrator {
namespace {

TEST(ValuesTest, RescaleIsExactForwardsAndRoundsHalfAwayFromZeroBackwards) {
  auto up = Rescale("12.50000", 6, 0);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->text, "12500000");
  EXPECT_TRUE(up->exact);
  auto neg = Rescale("-0.00001", 6, 0);
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(neg->text, "-10");
  auto back = Rescale("12500000", -6, 5);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->text, "12.50000");
  EXPECT_TRUE(back->exact);
  auto inexact = Rescale("1234567", -6, 5);
  ASSERT_TRUE(inexact.ok());
  EXPECT_FALSE(inexact->exact);
  EXPECT_EQ(inexact->text, "1.23457");
  EXPECT_EQ(inexact->exact_text, "1.234567");
  auto half = Rescale("-1500", -3, 0);
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->text, "-2");
  EXPECT_FALSE(half->exact);
  auto zero = Rescale("-4", -6, 5);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->text, "0.00000");  // no "-0"
  EXPECT_EQ(Rescale("12x", 6, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rescale("", 6, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rescale("99999999999999999999", 6, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValuesTest, DecimalArithmeticIsExact) {
  EXPECT_EQ(*DecimalDifference("12.50000", "10"), "2.50000");
  EXPECT_EQ(*DecimalDifference("1", "1.00001"), "-0.00001");
  EXPECT_EQ(*DecimalSum("-0.000004", "-4"), "-4.000004");
  EXPECT_EQ(*DecimalSum("3", "+2"), "5");
  EXPECT_TRUE(IsZeroDecimal("-0.000"));
  EXPECT_FALSE(IsZeroDecimal("0.001"));
}

TEST(ValuesTest, CanonicalTextIsWhatTheDatabaseReturns) {
  ColumnInfo decimal;
  decimal.name = "balance";
  decimal.data_type = "decimal";
  decimal.scale = 5;
  EXPECT_EQ(*Canonical(decimal, "12.5"), "12.50000");
  EXPECT_EQ(Canonical(decimal, "1.234567").status().code(),
            absl::StatusCode::kInvalidArgument);
  ColumnInfo integer;
  integer.name = "n";
  integer.data_type = "bigint";
  EXPECT_EQ(*Canonical(integer, "+007"), "7");
  EXPECT_EQ(Canonical(integer, "seven").status().code(),
            absl::StatusCode::kInvalidArgument);
  ColumnInfo text;
  text.data_type = "varchar";
  EXPECT_EQ(*Canonical(text, " as is "), " as is ");
}

TEST(ValuesTest, JsonSplitsIntoSettingsRowsAndBack) {
  auto members = SplitJson(
      R"({"voicemail": "on", "limit": 1.50, "count": 7, "roaming": false,
          "gone": null, "list": [1, 2], "nested": {"a": "b"}, "ü": "ä"})");
  ASSERT_TRUE(members.ok()) << members.status();
  std::map<std::string, std::string> m(members->begin(), members->end());
  EXPECT_EQ(m.size(), 5u);
  EXPECT_EQ(m["voicemail"], "on");
  EXPECT_EQ(m["limit"], "1.50");  // the number's source text
  EXPECT_EQ(m["count"], "7");
  EXPECT_EQ(m["roaming"], "false");
  EXPECT_EQ(m["ü"], "ä");
  EXPECT_FALSE(m.count("gone"));
  EXPECT_FALSE(m.count("list"));
  EXPECT_FALSE(m.count("nested"));
  EXPECT_EQ(SplitJson("[1]").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitJson("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CollectJson({{"a", "1"}, {"q\"uote", "x"}}),
            R"({"a": "1", "q\"uote": "x"})");
  EXPECT_EQ(CollectJson({}), "{}");
}

}  // namespace
}  // namespace tandem::migrator
