// The login fold against a real MariaDB: every character of the Basic
// Multilingual Plane folds to its utf8mb4_general_ci weight, and logins the
// server's default collation takes as equal (a billing system's
// `WHERE login = ?`) fold alike, and only those.
#include "router/login_fold.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "router/route_table.h"
#include "tests/testing/mariadb_server.h"

namespace tandem::router {
namespace {

std::string Utf8(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

std::string Fold(const std::string& login) {
  std::string out;
  EXPECT_TRUE(FoldLogin(login, &out)) << login;
  return out;
}

// `text` as a utf8mb4 SQL expression (no quoting issues).
std::string Sql(const std::string& text) {
  return text.empty() ? "CONVERT('' USING utf8mb4)"
                      : absl::StrCat("CONVERT(X'", absl::BytesToHexString(text),
                                     "' USING utf8mb4)");
}

class LoginFoldTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto db = testing::MariaDbServer::Start();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = db->release();
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }
  static testing::MariaDbServer* db_;
};

testing::MariaDbServer* LoginFoldTest::db_ = nullptr;

TEST_F(LoginFoldTest, EveryBmpCharacterFoldsToItsCollationWeight) {
  ASSERT_NE(db_, nullptr);
  auto rows = db_->Query(
      "SELECT seq, HEX(WEIGHT_STRING(CONVERT(CHAR(seq USING utf32) USING "
      "utf8mb4) COLLATE utf8mb4_general_ci)) FROM seq_0_to_65535 "
      "WHERE seq < 0xD800 OR seq > 0xDFFF",
      "mysql");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 65536u - 2048u);
  int wrong = 0;
  for (const std::string& row : *rows) {
    std::vector<std::string> cols = absl::StrSplit(row, '\t');
    ASSERT_EQ(cols.size(), 2u) << row;
    uint32_t cp = 0;
    uint32_t weight = 0;
    ASSERT_TRUE(absl::SimpleAtoi(cols[0], &cp));
    ASSERT_TRUE(absl::SimpleHexAtoi(cols[1], &weight)) << row;
    std::string expected = cp == ' ' ? "" : Utf8(weight);
    if (Fold(Utf8(cp)) != expected && ++wrong <= 10) {
      ADD_FAILURE() << "U+" << std::hex << cp << " folds to "
                    << absl::BytesToHexString(Fold(Utf8(cp))) << ", weight "
                    << cols[1];
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST_F(LoginFoldTest, LoginsTheServerTakesAsEqualFoldAlike) {
  ASSERT_NE(db_, nullptr);
  const std::vector<std::string> logins = {
      "cust8",
      "CUST8",
      "Cust8 ",
      "cust8  ",
      " cust8",
      "cust8\t",
      "c\xC3\xBAst8",
      "C\xC3\x9ASt8",
      "cust\xC3\x9F",
      "custs",
      "custss",
      "\xF0\x9F\x98\x80",
      "\xF0\x9F\x98\x83",
      "\xEF\xBF\xBD",
      "stra\xC3\x9F"
      "e",
      "STRASSE",
      "strase",
      "\xC3\x85ngstr\xC3\xB6m",
      "angstrom",
      "\xEF\xBD\x81",
      "a",
      "",
      " ",
      "O'Brien",
      "o'brien ",
      "\xC4\xB1",
      "i",
      "I",
      "\xC4\xB0",
  };
  std::string sql;
  for (size_t i = 0; i < logins.size(); ++i) {
    for (size_t j = 0; j < logins.size(); ++j) {
      absl::StrAppend(&sql, "SELECT ", i, ", ", j, ", ", Sql(logins[i]), " = ",
                      Sql(logins[j]), " COLLATE utf8mb4_general_ci;");
    }
  }
  auto rows = db_->Query(sql, "mysql");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), logins.size() * logins.size());
  for (const std::string& row : *rows) {
    std::vector<std::string> cols = absl::StrSplit(row, '\t');
    ASSERT_EQ(cols.size(), 3u);
    size_t i = 0, j = 0;
    ASSERT_TRUE(absl::SimpleAtoi(cols[0], &i));
    ASSERT_TRUE(absl::SimpleAtoi(cols[1], &j));
    EXPECT_EQ(Fold(logins[i]) == Fold(logins[j]), cols[2] == "1")
        << absl::CHexEscape(logins[i]) << " vs " << absl::CHexEscape(logins[j]);
  }
}

TEST_F(LoginFoldTest, TheDefaultCollationOfABillingTableIsTheOneFolded) {
  ASSERT_NE(db_, nullptr);
  ASSERT_TRUE(db_->CreateDatabase("fold").ok());
  ASSERT_TRUE(db_->Execute("CREATE TABLE customers (id INT PRIMARY KEY, "
                           "login VARCHAR(64) NOT NULL, UNIQUE KEY (login)) "
                           "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
                           "INSERT INTO customers VALUES (8, " +
                               Sql("Cust\xC3\xA9"
                                   "8") +
                               ")",
                           "fold")
                  .ok());
  RouteTable table;
  RouteChange change;
  RouteUpdate* update = change.mutable_route_update();
  update->mutable_route()->set_customer_id(8);
  update->mutable_route()->set_version(1);
  update->mutable_route()->set_system(::tandem::common::v1::SYSTEM_TARGET);
  update->mutable_route()->set_state(::tandem::router::v1::ROUTE_STATE_STABLE);
  Key* key = update->add_keys_added();
  key->set_kind(::tandem::router::v1::KEY_KIND_LOGIN);
  key->set_value(
      "Cust\xC3\xA9"
      "8");
  change.set_revision(1);
  table.Apply(change);
  for (const std::string spelling : {"cust\xC3\xA9"
                                     "8",
                                     "CUSTE8", "custe8   ",
                                     "cust\xC3\xA8"
                                     "8",
                                     "CUST\xC3\x89"
                                     "8",
                                     "custe9", "cust8", "custe8x", " custe8"}) {
    auto rows = db_->Query(
        "SELECT id FROM customers WHERE login = " + Sql(spelling), "fold");
    ASSERT_TRUE(rows.ok()) << rows.status();
    const bool server_finds = !rows->empty();
    const bool table_finds =
        table.LookupInfo(::tandem::router::v1::KEY_KIND_LOGIN, spelling)
            .has_value();
    EXPECT_EQ(table_finds, server_finds) << absl::CHexEscape(spelling);
  }
  // Not UTF-8: matches nobody.
  EXPECT_FALSE(table
                   .LookupInfo(::tandem::router::v1::KEY_KIND_LOGIN,
                               "Cust\xE9"
                               "8")
                   .has_value());
  std::string out;
  EXPECT_FALSE(FoldLogin("\xC0\xAF", &out));          // overlong
  EXPECT_FALSE(FoldLogin("\xED\xA0\x80", &out));      // surrogate
  EXPECT_FALSE(FoldLogin("\xF4\x90\x80\x80", &out));  // beyond U+10FFFF
  EXPECT_FALSE(FoldLogin("\xE2\x82", &out));          // truncated
}

}  // namespace
}  // namespace tandem::router
