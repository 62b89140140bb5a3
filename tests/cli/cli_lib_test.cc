// cli_lib without a server: the command line, the CSV file, the output
// formats and the convenience verbs' targets.
#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/app.h"
#include "cli/command_helpers.h"
#include "cli/output.h"
#include "cli/router_commands.h"
#include "cli/router_input.h"
#include "yaml-cpp/yaml.h"

namespace tandem::cli {
namespace {

namespace v1 = ::tandem::router::v1;
using ::testing::HasSubstr;

class ParseInvocationTest : public ::testing::Test {
 protected:
  absl::Status Parse(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env = {}) {
    invocation_ = Invocation();
    return ParseInvocation(commands_, args, env, &invocation_);
  }

  CommandSet commands_ = AllCommands();
  Invocation invocation_;
};

TEST_F(ParseInvocationTest, FlagsMayComeBeforeAndAfterTheCommand) {
  ASSERT_TRUE(Parse({"-o", "json", "route", "get", "--keys", "42",
                     "--router=10.0.0.1:7001", "--timeout", "3s"})
                  .ok());
  ASSERT_NE(invocation_.command, nullptr);
  EXPECT_EQ(invocation_.path, (std::vector<std::string>{"route", "get"}));
  EXPECT_EQ(invocation_.args, (std::vector<std::string>{"42"}));
  EXPECT_TRUE(invocation_.flags.GetBool("keys"));
  EXPECT_EQ(invocation_.globals.output, OutputFormat::kJson);
  EXPECT_EQ(invocation_.globals.router, "10.0.0.1:7001");
  EXPECT_EQ(invocation_.globals.timeout, absl::Seconds(3));
}

TEST_F(ParseInvocationTest, DashesAndUnderscoresInFlagNamesAreTheSame) {
  ASSERT_TRUE(Parse({"route", "start-move", "1", "--dry_run"}).ok());
  EXPECT_TRUE(invocation_.flags.GetBool("dry-run"));
  ASSERT_TRUE(Parse({"route", "list", "--page-size=7"}).ok());
  EXPECT_EQ(invocation_.flags.Get("page_size"), "7");
  ASSERT_TRUE(Parse({"route", "start-move", "1", "--dry-run=false"}).ok());
  EXPECT_FALSE(invocation_.flags.GetBool("dry_run"));
}

TEST_F(ParseInvocationTest, GlobalFlagsComeFromEnvironmentUnlessGiven) {
  std::map<std::string, std::string> env = {{"TANDEM_ROUTER", "env:1"},
                                            {"TANDEM_OUTPUT", "yaml"},
                                            {"TANDEM_TOKEN", "secret"},
                                            {"TANDEM_TIMEOUT", "2m"}};
  ASSERT_TRUE(Parse({"router", "stats"}, env).ok());
  EXPECT_EQ(invocation_.globals.router, "env:1");
  EXPECT_EQ(invocation_.globals.output, OutputFormat::kYaml);
  EXPECT_EQ(invocation_.globals.env_token, "secret");
  EXPECT_EQ(invocation_.globals.timeout, absl::Minutes(2));

  ASSERT_TRUE(Parse({"router", "stats", "--router", "flag:1"}, env).ok());
  EXPECT_EQ(invocation_.globals.router, "flag:1");
}

TEST_F(ParseInvocationTest, CommandFlagsDoNotComeFromEnvironment) {
  ASSERT_TRUE(Parse({"route", "list"},
                    {{"TANDEM_SYSTEM", "target"}, {"TANDEM_ALL", "true"}})
                  .ok());
  EXPECT_FALSE(invocation_.flags.Has("system"));
  EXPECT_FALSE(invocation_.flags.Has("all"));
}

TEST_F(ParseInvocationTest, DefaultsWithoutFlagsOrEnvironment) {
  ASSERT_TRUE(Parse({"router", "stats"}).ok());
  EXPECT_EQ(invocation_.globals.router, "127.0.0.1:7001");
  EXPECT_EQ(invocation_.globals.output, OutputFormat::kTable);
  EXPECT_FALSE(invocation_.globals.timeout.has_value());
  EXPECT_FALSE(invocation_.globals.env_token.has_value());
}

TEST_F(ParseInvocationTest, DoubleDashEndsFlags) {
  ASSERT_TRUE(Parse({"route", "lookup", "--", "login", "--weird"}).ok());
  EXPECT_EQ(invocation_.args, (std::vector<std::string>{"login", "--weird"}));
}

TEST_F(ParseInvocationTest, ThreeWordCommandsResolve) {
  ASSERT_TRUE(Parse({"router", "default", "set", "target", "--reason=x"}).ok());
  EXPECT_EQ(invocation_.path,
            (std::vector<std::string>{"router", "default", "set"}));
  EXPECT_EQ(invocation_.args, (std::vector<std::string>{"target"}));
}

TEST_F(ParseInvocationTest, HelpIsNotAnError) {
  ASSERT_TRUE(Parse({"route", "--help"}).ok());
  EXPECT_TRUE(invocation_.help);
  EXPECT_EQ(invocation_.path, (std::vector<std::string>{"route"}));
  ASSERT_TRUE(Parse({"help", "route", "set"}).ok());
  EXPECT_TRUE(invocation_.help);
  EXPECT_NE(invocation_.command, nullptr);
}

TEST_F(ParseInvocationTest, MalformedCommandLinesAreUsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"nonsense"},
           {"route"},
           {"route", "get"},
           {"route", "get", "1", "2"},
           {"route", "get", "1", "--nope"},
           {"--keys", "route", "get", "1"},
           {"route", "list", "--page_size"},
           {"route", "get", "1", "--keys=maybe"},
           {"-o", "xml", "router", "stats"},
           {"--timeout", "-3s", "router", "stats"},
           {"route", "set", "1", "--system", "target", "--state", "stable"}}) {
    absl::Status status = Parse(args);
    EXPECT_TRUE(IsUsageError(status))
        << absl::StrJoin(args, " ") << ": " << status;
  }
}

TEST(HelpTextTest, NounHelpListsEveryVerbWithItsFlags) {
  CommandSet commands = AllCommands();
  std::string help = HelpText(commands, {"route"});
  for (const char* verb : {"lookup", "get", "list", "set", "start-move", "flip",
                           "abort", "start-rollback", "import", "watch"}) {
    EXPECT_THAT(help, HasSubstr(absl::StrCat("route ", verb))) << verb;
  }
  EXPECT_THAT(help, HasSubstr("--expected_version=V"));
  EXPECT_THAT(help, HasSubstr("[--dry-run]"));
}

TEST(CustomersCsvTest, ParsesKeysSkipsHeaderAndCommentsAndMergesLines) {
  absl::StatusOr<CustomersFile> file = ParseCustomersCsv(
      "customer_id,keys\r\n"
      "# comment\n"
      "\n"
      "7, login:alice , account_id:4915550007\n"
      "8,api_token:a:b:c,\n"
      "7,login:alice,login:al\n"
      "9\n");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->customers.size(), 3u);
  EXPECT_EQ(file->keys, 4);
  const v1::ImportedCustomer& alice = file->customers[0];
  EXPECT_EQ(alice.customer_id(), 7);
  ASSERT_EQ(alice.keys_size(), 3);
  EXPECT_EQ(alice.keys(0).kind(), v1::KEY_KIND_LOGIN);
  EXPECT_EQ(alice.keys(0).value(), "alice");
  EXPECT_EQ(alice.keys(2).value(), "al");
  EXPECT_EQ(file->customers[1].keys(0).value(), "a:b:c");
  EXPECT_EQ(file->customers[2].keys_size(), 0);
}

TEST(CustomersCsvTest, ErrorsNameTheLine) {
  struct Case {
    const char* contents;
    const char* message;
  };
  for (const Case& c : {
           Case{"1,login:a\nx,login:b\n", "line 2: customer id `x`"},
           Case{"1,login:a\n2,phone:1\n", "line 2: unknown key kind `phone`"},
           Case{"1,login\n", "line 1: key `login` is not kind:value"},
           Case{"1,login:\n", "line 1: key `login:` has an empty value"},
           Case{"1,customer_id:1\n", "line 1: customer_id keys are implicit"},
           Case{"1,login:a\n\n2,login:a\n",
                "line 3: key login:a is also given to customer 1 on line 1"},
           Case{"0,login:a\n", "line 1: customer id `0`"},
       }) {
    absl::StatusOr<CustomersFile> file = ParseCustomersCsv(c.contents);
    ASSERT_FALSE(file.ok()) << c.contents;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(c.message));
  }
}

TEST(RouterInputTest, NamesRoundTrip) {
  EXPECT_EQ(*ParseKeyKind("LOGIN"), v1::KEY_KIND_LOGIN);
  EXPECT_EQ(*ParseKeyKind("api_token"), v1::KEY_KIND_API_TOKEN);
  EXPECT_FALSE(ParseKeyKind("unspecified").ok());
  EXPECT_EQ(KeyKindName(v1::KEY_KIND_ACCOUNT_ID), "account_id");
  EXPECT_EQ(*ParseSystem("Target"), ::tandem::common::v1::SYSTEM_TARGET);
  EXPECT_FALSE(ParseSystem("both").ok());
  EXPECT_EQ(*ParseRouteState("migrating"), v1::ROUTE_STATE_MIGRATING);
  EXPECT_EQ(SystemName(::tandem::common::v1::SYSTEM_SOURCE), "SOURCE");
  EXPECT_EQ(RouteStateName(v1::ROUTE_STATE_STABLE), "STABLE");
  EXPECT_FALSE(ParseCustomerId("-1").ok());
  EXPECT_EQ(*ParseCustomerId("12"), 12);
}

TEST(ConvenienceTargetTest, EachVerbAsksForItsRoute) {
  using ::tandem::common::v1::SYSTEM_SOURCE;
  using ::tandem::common::v1::SYSTEM_TARGET;
  v1::Route route;
  route.set_customer_id(1);
  route.set_system(SYSTEM_SOURCE);
  route.set_state(v1::ROUTE_STATE_STABLE);
  EXPECT_EQ(*ConvenienceTarget("start-move", route),
            std::make_pair(SYSTEM_SOURCE, v1::ROUTE_STATE_MIGRATING));
  EXPECT_EQ(*ConvenienceTarget("start-rollback", route),
            std::make_pair(SYSTEM_TARGET, v1::ROUTE_STATE_MIGRATING));
  EXPECT_EQ(ConvenienceTarget("flip", route).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ConvenienceTarget("abort", route).status().code(),
            absl::StatusCode::kFailedPrecondition);

  route.set_state(v1::ROUTE_STATE_MIGRATING);
  EXPECT_EQ(*ConvenienceTarget("flip", route),
            std::make_pair(SYSTEM_TARGET, v1::ROUTE_STATE_STABLE));
  EXPECT_EQ(*ConvenienceTarget("abort", route),
            std::make_pair(SYSTEM_SOURCE, v1::ROUTE_STATE_STABLE));
  route.set_system(SYSTEM_TARGET);
  EXPECT_EQ(*ConvenienceTarget("flip", route),
            std::make_pair(SYSTEM_SOURCE, v1::ROUTE_STATE_STABLE));
}

TEST(NewRequestIdTest, IsAVersionFourUuidAndFresh) {
  std::string id = NewRequestId();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[8], '-');
  EXPECT_EQ(id[14], '4');
  EXPECT_THAT(std::string("89ab"), HasSubstr(std::string(1, id[19])));
  EXPECT_NE(NewRequestId(), id);
}

TEST(TableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table table({"ID", "SYSTEM", "STATE"});
  table.AddRow({"1", "SOURCE", "STABLE"});
  table.AddRow({"12345", "TARGET", "MIGRATING"});
  EXPECT_EQ(table.Render(),
            "ID      SYSTEM   STATE\n"
            "1       SOURCE   STABLE\n"
            "12345   TARGET   MIGRATING\n");
}

TEST(OutputTest, JsonUsesProtoNamesAndPrintsDefaults) {
  v1::Route route;
  route.set_customer_id(7);
  std::string json = ToJson(route, /*pretty=*/false);
  EXPECT_THAT(json, HasSubstr("\"customer_id\":\"7\""));
  EXPECT_THAT(json, HasSubstr("\"updated_by\":\"\""));
  EXPECT_THAT(json, HasSubstr("\"system\":\"SYSTEM_UNSPECIFIED\""));
  EXPECT_EQ(json.find('\n'), std::string::npos);
}

TEST(OutputTest, YamlNestsMessagesAndLists) {
  v1::GetRouteResponse response;
  response.mutable_route()->set_customer_id(7);
  response.mutable_route()->set_updated_by("alice");
  v1::Key* key = response.add_keys();
  key->set_kind(v1::KEY_KIND_ACCOUNT_ID);
  key->set_value("4915550007");
  EXPECT_EQ(ToYaml(response),
            "route:\n"
            "  customer_id: 7\n"
            "  system: SYSTEM_UNSPECIFIED\n"
            "  state: ROUTE_STATE_UNSPECIFIED\n"
            "  version: 0\n"
            "  updated_at_unix_ms: 0\n"
            "  updated_by: alice\n"
            "  lease_expires_unix_ms: 0\n"
            "keys:\n"
            "  - kind: KEY_KIND_ACCOUNT_ID\n"
            "    value: \"4915550007\"\n");
  EXPECT_EQ(ToYaml(v1::ListRoutesResponse()),
            "routes: []\nnext_page_token: \"\"\n");
}

TEST(OutputTest, YamlPrintsStructsAsMappings) {
  google::protobuf::Struct summary;
  (*summary.mutable_fields())["file"].set_string_value("a b.csv");
  (*summary.mutable_fields())["customers"].set_number_value(3);
  EXPECT_EQ(ToYaml(summary), "customers: 3\nfile: a b.csv\n");
}

TEST(OutputTest, YamlQuotesOnlyWhatYamlWouldMisread) {
  EXPECT_EQ(YamlString("alice"), "alice");
  EXPECT_EQ(YamlString("a b"), "a b");
  EXPECT_EQ(YamlString(""), "\"\"");
  EXPECT_EQ(YamlString("123"), "\"123\"");
  EXPECT_EQ(YamlString("yes"), "\"yes\"");
  EXPECT_EQ(YamlString("null"), "\"null\"");
  EXPECT_EQ(YamlString("a: b"), "\"a: b\"");
  EXPECT_EQ(YamlString("- x"), "\"- x\"");
  EXPECT_EQ(YamlString("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
}

// What ToYaml writes, read back by a YAML parser, is what was printed: a
// string stays that string (quoted wherever a plain scalar would resolve to
// a number, a boolean or null), whatever characters it holds.
TEST(OutputTest, YamlReadsBackAsTheSameStrings) {
  const std::vector<std::string> values = {
      "alice",      "David Ørsted", "123",
      "yes",        "null",         "~",
      "0x1f",       "1e3",          ".inf",
      "a: b",       "x #y",         "- x",
      "",           " lead",        "trail ",
      "tab\there",  "line\nbreak",  std::string("nul\x01", 4),
      "say \"hi\"", "back\\slash",  "ünïcödé: ✓"};
  google::protobuf::Struct s;
  for (size_t i = 0; i < values.size(); ++i) {
    (*s.mutable_fields())[absl::StrCat("k", i)].set_string_value(values[i]);
  }
  (*s.mutable_fields())["number"].set_number_value(0.1);
  (*s.mutable_fields())["yes"].set_bool_value(true);
  const YAML::Node doc = YAML::Load(ToYaml(s));
  ASSERT_TRUE(doc.IsMap());
  for (size_t i = 0; i < values.size(); ++i) {
    const YAML::Node node = doc[absl::StrCat("k", i)];
    ASSERT_TRUE(node.IsScalar()) << values[i];
    EXPECT_EQ(node.as<std::string>(), values[i]);
    // "!" is a quoted scalar: a string under every YAML schema; "?" a
    // plain one, left plain only where it reads as a string.
    const bool plain = values[i] == "alice" || values[i] == "David Ørsted" ||
                       values[i] == "say \"hi\"" || values[i] == "back\\slash";
    EXPECT_EQ(node.Tag(), plain ? "?" : "!") << values[i];
  }
  EXPECT_EQ(doc["number"].as<double>(), 0.1);
  EXPECT_EQ(doc["number"].Tag(), "?");
  EXPECT_TRUE(doc["yes"].as<bool>());
}

}  // namespace
}  // namespace tandem::cli
