// Every Tandem gRPC server answers a request that does not parse as its
// method's message with INVALID_ARGUMENT and a message (common/grpc_server's
// interceptor), checked on the real router and catalog (the proxy's admin
// port: ProxyIntegrationTest.AdminAnswersAnUnparsableRequestInvalidArgument).
#include <gtest/gtest.h>

#include <string>

#include "tests/testbed/services_fixture.h"
#include "tests/testbed/testbed_fixture.h"
#include "tests/testing/raw_grpc.h"

namespace tandem {
namespace {

constexpr char kViewer[] = "viewer-token-0123456789ab";
constexpr char kTokens[] =
    "alice operator operator-token-0123456789\n"
    "victor viewer viewer-token-0123456789ab\n";

// Not a protobuf message: a field key whose varint never ends.
constexpr char kGarbage[] = "\xff\xff\xff";

TEST(GrpcBadRequestTest, RouterAndCatalogAnswerInvalidArgument) {
  testbed::DatagenOptions o;
  o.customers = 2;
  o.accounts = 2;
  o.xdrs = 2;
  o.password_iterations = 1;
  auto db = testbed::StartTestbedDb(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto router = testbed::StartRouter(*db->server, kTokens);
  ASSERT_TRUE(router.ok()) << router.status();
  auto catalog =
      testbed::StartCatalog(*db->server, (*router)->port(), kTokens, kViewer);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const struct {
    int port;
    const char* method;
    const char* request_type;
  } calls[] = {
      {(*router)->port(), "/tandem.router.v1.RouterService/Lookup",
       "tandem.router.v1.LookupRequest"},
      {(*router)->port(), "/tandem.router.v1.RouterService/Watch",
       "tandem.router.v1.WatchRequest"},
      {(*catalog)->port(), "/tandem.catalog.v1.CatalogService/GetFreeze",
       "tandem.catalog.v1.GetFreezeRequest"},
      {(*catalog)->port(), "/tandem.catalog.v1.CatalogService/CheckChange",
       "tandem.catalog.v1.CheckChangeRequest"},
  };
  for (const auto& call : calls) {
    grpc::Status status =
        testing::CallWithRawRequest(call.port, call.method, kGarbage, kViewer);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << call.method << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(call.request_type), std::string::npos)
        << call.method << ": " << status.error_message();
  }
  // A well-formed (empty) request still works, and an unknown method is
  // still UNIMPLEMENTED.
  EXPECT_TRUE(testing::CallWithRawRequest(
                  (*catalog)->port(),
                  "/tandem.catalog.v1.CatalogService/GetFreeze", "", kViewer)
                  .ok());
  EXPECT_EQ(testing::CallWithRawRequest((*router)->port(),
                                        "/tandem.router.v1.RouterService/Nope",
                                        "", kViewer)
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace tandem
