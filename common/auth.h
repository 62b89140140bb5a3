// Bearer-token authentication with two roles, for every admin RPC.
//
// The tokens file has one token per line: `<name> <role> <token>`, where role
// is `viewer` (may read) or `operator` (may also change); `#` starts a
// comment. Only SHA-256 digests of the tokens are kept in memory, so a token
// never appears in a log or a core dump of this process.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <array>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace tandem {

enum class Role { kViewer = 1, kOperator = 2 };

// Who is calling, once authenticated.
struct Principal {
  std::string name;
  Role role = Role::kViewer;
};

class TokenAuthenticator {
 public:
  // Parses a tokens file's contents. A malformed line, an unknown role, a
  // token shorter than 16 characters or a duplicate token is
  // INVALID_ARGUMENT naming the line (never the token).
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromString(
      const std::string& contents);
  // Reads and parses the file at `path`.
  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromFile(
      const std::string& path);

  // Counts refusals in tandem_<service>_auth_failures_total{reason}.
  void RegisterMetrics(prometheus::Registry& registry,
                       const std::string& service);

  // Returns the caller of `context` if it presents a known token with at
  // least `required` role. No or an unknown token is UNAUTHENTICATED; a
  // known token with too low a role is PERMISSION_DENIED.
  absl::StatusOr<Principal> Authorize(const grpc::ServerContextBase& context,
                                      Role required) const;

  // The same check for a raw `authorization` header value.
  absl::StatusOr<Principal> AuthorizeHeader(absl::string_view header,
                                            Role required) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  TokenAuthenticator() = default;

  absl::flat_hash_map<std::string, Principal> by_digest_;
  prometheus::Counter* missing_ = nullptr;
  prometheus::Counter* unknown_ = nullptr;
  prometheus::Counter* denied_ = nullptr;
};

// Adds `authorization: Bearer <token>` to an outgoing call.
void AttachBearerToken(grpc::ClientContext& context, const std::string& token);

}  // namespace tandem
