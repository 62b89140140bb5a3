#include "common/auth.h"

#include <openssl/sha.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config.h"

namespace tandem {
namespace {

std::string DigestOf(absl::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuthenticator>>
TokenAuthenticator::FromString(const std::string& contents) {
  std::unique_ptr<TokenAuthenticator> auth(new TokenAuthenticator());
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens file line ", line_number, ": want `<name> <role> <token>`"));
    }
    Principal principal{std::string(parts[0]), Role::kViewer};
    if (parts[1] == "operator") {
      principal.role = Role::kOperator;
    } else if (parts[1] != "viewer") {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file line ", line_number, ": unknown role `",
                       parts[1], "` (want viewer or operator)"));
    }
    if (parts[2].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens file line ", line_number, ": token shorter than 16 bytes"));
    }
    if (!auth->by_digest_.emplace(DigestOf(parts[2]), principal).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file line ", line_number, ": duplicate token"));
    }
  }
  if (auth->by_digest_.empty()) {
    return absl::InvalidArgumentError("tokens file has no tokens");
  }
  return auth;
}

absl::StatusOr<std::unique_ptr<TokenAuthenticator>>
TokenAuthenticator::FromFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) {
    return contents.status();
  }
  return FromString(*contents);
}

void TokenAuthenticator::RegisterMetrics(prometheus::Registry& registry,
                                         const std::string& service) {
  auto& family =
      prometheus::BuildCounter()
          .Name(absl::StrCat("tandem_", service, "_auth_failures_total"))
          .Help("Calls refused by authentication or authorization.")
          .Register(registry);
  missing_ = &family.Add({{"reason", "missing_token"}});
  unknown_ = &family.Add({{"reason", "unknown_token"}});
  denied_ = &family.Add({{"reason", "permission_denied"}});
}

absl::StatusOr<Principal> TokenAuthenticator::AuthorizeHeader(
    absl::string_view header, Role required) const {
  absl::string_view token = header;
  if (token.empty() || !absl::ConsumePrefix(&token, "Bearer ") ||
      token.empty()) {
    if (missing_ != nullptr) missing_->Increment();
    return absl::UnauthenticatedError(
        "missing credentials: send `authorization: Bearer <token>`");
  }
  auto it = by_digest_.find(DigestOf(token));
  if (it == by_digest_.end()) {
    if (unknown_ != nullptr) unknown_->Increment();
    return absl::UnauthenticatedError("unknown bearer token");
  }
  if (static_cast<int>(it->second.role) < static_cast<int>(required)) {
    if (denied_ != nullptr) denied_->Increment();
    return absl::PermissionDeniedError(
        absl::StrCat("principal `", it->second.name,
                     "` has role viewer; this method needs operator"));
  }
  return it->second;
}

absl::StatusOr<Principal> TokenAuthenticator::Authorize(
    const grpc::ServerContextBase& context, Role required) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  absl::string_view header;
  if (it != metadata.end()) {
    header = absl::string_view(it->second.data(), it->second.size());
  }
  return AuthorizeHeader(header, required);
}

void AttachBearerToken(grpc::ClientContext& context, const std::string& token) {
  if (!token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
}

}  // namespace tandem
