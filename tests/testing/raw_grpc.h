// Calls a gRPC method with raw bytes as its request, so that tests can send
// what no generated stub would: a request that does not parse as the
// method's message.
#pragma once

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <future>
#include <string>

#include "common/auth.h"

namespace tandem::testing {

// Sends `bytes` to `method` ("/pkg.Service/Method") on 127.0.0.1:`port`
// with `token` (none when empty) and returns the call's status.
inline grpc::Status CallWithRawRequest(int port, const std::string& method,
                                       const std::string& bytes,
                                       const std::string& token) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  if (!token.empty()) AttachBearerToken(context, token);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(status); });
  return done.get_future().get();
}

}  // namespace tandem::testing
