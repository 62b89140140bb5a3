// The shared server bootstrap: health, reflection, metrics over HTTP.
#include "common/grpc_server.h"

#include <arpa/inet.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/net.h"

namespace tandem {
namespace {

using ::tandem::testing::HttpGet;

TEST(GrpcServerTest, HealthReflectionAndMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  GrpcServerOptions options;
  options.address = "127.0.0.1:0";
  options.registry = registry;
  options.health_services = {"tandem.test.v1.TestService"};
  auto server = GrpcServer::Start(options, {});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  }
  request.set_service("tandem.test.v1.TestService");
  {
    grpc::ClientContext context;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }
  (*server)->SetServing("tandem.test.v1.TestService", true);
  {
    grpc::ClientContext context;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  }
  // Reflection answers (it is UNIMPLEMENTED unless its plugin is linked).
  // Its generated classes live inside grpc++_reflection, so the request is
  // sent as raw protobuf bytes: field 7 (list_services) = "".
  {
    grpc::GenericStub generic(channel);
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    auto call = generic.PrepareCall(
        &context,
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    auto step = [&cq](int tag) {
      void* got = nullptr;
      bool ok = false;
      return cq.Next(&got, &ok) && got == reinterpret_cast<void*>(tag) && ok;
    };
    call->StartCall(reinterpret_cast<void*>(1));
    ASSERT_TRUE(step(1));
    grpc::Slice slice(std::string("\x3a\x00", 2));
    grpc::ByteBuffer request_bytes(&slice, 1);
    call->Write(request_bytes, reinterpret_cast<void*>(2));
    ASSERT_TRUE(step(2));
    grpc::ByteBuffer response_bytes;
    call->Read(&response_bytes, reinterpret_cast<void*>(3));
    ASSERT_TRUE(step(3));
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(response_bytes.Dump(&slices).ok());
    std::string raw;
    for (const auto& s : slices)
      raw.append(reinterpret_cast<const char*>(s.begin()), s.size());
    EXPECT_NE(raw.find("grpc.health.v1.Health"), std::string::npos);
    call->WritesDone(reinterpret_cast<void*>(4));
    ASSERT_TRUE(step(4));
    grpc::Status finish;
    call->Finish(&finish, reinterpret_cast<void*>(5));
    ASSERT_TRUE(step(5));
    EXPECT_TRUE(finish.ok()) << finish.error_message();
  }

  auto exposer = MetricsExposer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(exposer.ok());
  std::string scrape = HttpGet((*exposer)->port(), "/metrics");
  EXPECT_NE(scrape.find("200 OK"), std::string::npos);
  EXPECT_NE(scrape.find("grpc_server_handled_total{grpc_code=\"OK\","
                        "grpc_method=\"Check\",grpc_service=\"grpc.health.v1."
                        "Health\"} 3"),
            std::string::npos)
      << scrape;
  EXPECT_NE(scrape.find("process_resident_memory_bytes"), std::string::npos);
  EXPECT_NE(scrape.find("process_cpu_seconds_total"), std::string::npos);
  EXPECT_NE(scrape.find("process_open_fds"), std::string::npos);
  EXPECT_NE(scrape.find("process_start_time_seconds"), std::string::npos);

  (*server)->Shutdown(absl::Seconds(1));
  grpc::ClientContext after;
  after.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(500));
  EXPECT_FALSE(health->Check(&after, request, &response).ok());
}

TEST(GrpcServerTest, ServesTlsWhenConfigured) {
  std::string dir = ::testing::TempDir();
  std::string cert = dir + "/tls-cert.pem";
  std::string key = dir + "/tls-key.pem";
  std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
      "-addext subjectAltName=DNS:localhost -days 1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << "openssl failed";
  GrpcServerOptions options;
  options.address = "127.0.0.1:0";
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  auto server = GrpcServer::Start(options, {});
  ASSERT_TRUE(server.ok()) << server.status();
  std::ifstream in(cert);
  std::string pem((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto secure = grpc::health::v1::Health::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                                grpc::SslCredentials(ssl), args));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(secure->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  // A plaintext client gets nowhere.
  auto plain = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext plain_context;
  plain_context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(2));
  EXPECT_FALSE(plain->Check(&plain_context, request, &response).ok());
}

TEST(GrpcServerTest, LongCallsSurviveNewMethodsInTheMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  GrpcServerOptions options;
  options.address = "127.0.0.1:0";
  options.registry = registry;
  auto server = GrpcServer::Start(options, {});
  ASSERT_TRUE(server.ok());
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  // A stream opened first, held while many other methods are first seen.
  grpc::ClientContext watch_context;
  auto watch =
      health->Watch(&watch_context, grpc::health::v1::HealthCheckRequest());
  grpc::health::v1::HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  grpc::GenericStub generic(channel);
  for (int i = 0; i < 50; ++i) {
    grpc::ClientContext context;
    grpc::Slice nothing(std::string(""));
    grpc::ByteBuffer empty(&nothing, 1);
    grpc::ByteBuffer reply;
    grpc::Status status;
    bool done = false;
    absl::Mutex mu;
    generic.UnaryCall(&context, absl::StrCat("/tandem.test.v1.Nothing/M", i),
                      grpc::StubOptions(), &empty, &reply, [&](grpc::Status s) {
                        absl::MutexLock lock(&mu);
                        status = s;
                        done = true;
                      });
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  watch_context.TryCancel();
  while (watch->Read(&update)) {
  }
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);
  (*server)->Shutdown(absl::Seconds(1));
  double watch_latency_count = 0;
  bool saw_last_method = false;
  for (const auto& family : registry->Collect()) {
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "grpc_method" && label.value == "M49") {
          saw_last_method = true;
        }
      }
    }
    if (family.name != "grpc_server_handling_seconds") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "grpc_method" && label.value == "Watch") {
          watch_latency_count += metric.histogram.sample_count;
        }
      }
    }
  }
  // The premise: all 50 methods were registered while the stream was open.
  EXPECT_TRUE(saw_last_method);
  EXPECT_EQ(watch_latency_count, 1);
}

TEST(GrpcServerTest, IncompleteTlsIsRefused) {
  GrpcServerOptions options;
  options.tls_cert_file = "/nonexistent.pem";
  EXPECT_EQ(GrpcServer::Start(options, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem
