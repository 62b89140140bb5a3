#include "testbed/base/model.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testbed/base/crypto.h"
#include "testbed/base/json.h"

namespace tandem::testbed {
namespace {

TEST(MoneyTest, DecimalToMicrosIsExact) {
  EXPECT_EQ(*DecimalToMicros("12.34567"), 12345670);
  EXPECT_EQ(*DecimalToMicros("-0.5"), -500000);
  EXPECT_EQ(*DecimalToMicros("7"), 7000000);
  EXPECT_EQ(*DecimalToMicros("0.000001"), 1);
  EXPECT_EQ(*DecimalToMicros("99999999.99999"), 99999999999990);
}

TEST(MoneyTest, DecimalToMicrosRejectsMalformed) {
  for (const char* bad : {"", "-", ".5", "1.", "1.2345678", "1e3", "abc", "1,5",
                          "1234567890123.0"}) {
    EXPECT_FALSE(DecimalToMicros(bad).ok()) << bad;
  }
}

TEST(MoneyTest, MicrosRoundTripThroughBothForms) {
  EXPECT_EQ(MicrosToDecimal(12500000), "12.50");
  EXPECT_EQ(MicrosToDecimal(-1), "-0.000001");
  EXPECT_EQ(MicrosToDecimal(0), "0.00");
  EXPECT_EQ(*MicrosToV1Decimal(-12345670), "-12.34567");
  EXPECT_FALSE(MicrosToV1Decimal(1).ok());
  for (int64_t m : {0LL, 10LL, -990LL, 123456780LL, -99999999999990LL}) {
    EXPECT_EQ(*DecimalToMicros(*MicrosToV1Decimal(m)), m);
    EXPECT_EQ(*DecimalToMicros(MicrosToDecimal(m)), m);
  }
}

TEST(StatusCodeTest, EveryNameMapsToACodeAndBack) {
  for (StatusKind kind : {StatusKind::kCustomer, StatusKind::kAccount,
                          StatusKind::kSubscription, StatusKind::kInvoice}) {
    for (int code = 1; code <= 4; ++code) {
      std::optional<std::string> name = StatusName(kind, code);
      if (!name) continue;
      EXPECT_EQ(StatusCode(kind, *name), code);
    }
  }
  EXPECT_EQ(StatusCode(StatusKind::kCustomer, "exported"), 4);
  EXPECT_EQ(StatusCode(StatusKind::kAccount, "blocked"), 2);
  EXPECT_FALSE(StatusCode(StatusKind::kAccount, "exported").has_value());
  EXPECT_FALSE(StatusName(StatusKind::kAccount, 9).has_value());
}

TEST(CredentialTest, PasswordHashVerifies) {
  std::string stored = HashPassword("s3cret", "abcd", 50);
  EXPECT_TRUE(VerifyPassword("s3cret", stored));
  EXPECT_FALSE(VerifyPassword("s3cres", stored));
  EXPECT_FALSE(VerifyPassword("s3cret", "pbkdf2-sha256$50$abcd$00"));
  EXPECT_FALSE(VerifyPassword("s3cret", "garbage"));
}

TEST(CredentialTest, CustomerIdPrefixesParse) {
  EXPECT_EQ(CustomerIdFromSession("42.deadbeef"), 42);
  EXPECT_EQ(CustomerIdFromToken(DemoApiToken(7)), 7);
  EXPECT_FALSE(CustomerIdFromSession("x.1").has_value());
  EXPECT_FALSE(CustomerIdFromToken("tk__abc").has_value());
  EXPECT_FALSE(CustomerIdFromToken("42_abc").has_value());
}

TEST(RngTest, SameSeedSameSequence) {
  Rng a(99), b(99), c(100);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
  }
  EXPECT_TRUE(differs);
}

TEST(JsonTest, ParsesAndKeepsNumberText) {
  absl::StatusOr<JsonValue> v = JsonValue::Parse(
      R"( {"a": "x\"\u00e9", "n": 10.50, "b": [true, null, {}]} )");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->Find("a")->text(), "x\"\xc3\xa9");
  EXPECT_EQ(v->Find("n")->text(), "10.50");
  EXPECT_EQ(v->Find("b")->elements().size(), 3u);
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(JsonTest, RejectsMalformed) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\":1,\"a\":2}",
                          "\"\\x\"", "01", "{} x", "\"\x01\""}) {
    EXPECT_FALSE(JsonValue::Parse(bad).ok()) << bad;
  }
}

TEST(JsonTest, KeepsEveryNumberAsWrittenAndBoundsTheNesting) {
  absl::StatusOr<JsonValue> v = JsonValue::Parse(
      R"([10.50, -3, 1e2, 18446744073709551615, 123456789012345678901234])");
  ASSERT_TRUE(v.ok()) << v.status();
  std::vector<std::string> texts;
  for (const JsonValue& e : v->elements()) texts.push_back(e.text());
  EXPECT_THAT(texts,
              testing::ElementsAre("10.50", "-3", "1e2", "18446744073709551615",
                                   "123456789012345678901234"));
  const std::string deepest = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(JsonValue::Parse(deepest).ok());
  const std::string too_deep = std::string(65, '[') + std::string(65, ']');
  absl::StatusOr<JsonValue> refused = JsonValue::Parse(too_deep);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), testing::HasSubstr("too deep"));
  absl::StatusOr<JsonValue> twice =
      JsonValue::Parse(R"({"a":1,"b":{"a":2},"a":3})");
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(),
              testing::HasSubstr("duplicate member name \"a\""));
  // Member order is the document's.
  absl::StatusOr<JsonValue> ordered = JsonValue::Parse(R"({"z":1,"a":2})");
  ASSERT_TRUE(ordered.ok());
  EXPECT_EQ(ordered->members()[0].first, "z");
}

TEST(JsonTest, WriterEscapesAndSeparates) {
  JsonWriter w;
  w.BeginObject().Field("k", "a\"b\n").Key("l").BeginArray().Int(1).Bool(false);
  w.Null().EndArray().EndObject();
  EXPECT_EQ(w.str(), R"({"k":"a\"b\n","l":[1,false,null]})");
}

}  // namespace
}  // namespace tandem::testbed
