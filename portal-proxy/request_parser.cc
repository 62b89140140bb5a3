#include "portal-proxy/request_parser.h"

#include "portal-proxy/forwarding.h"
#include "portal-proxy/text.h"

namespace tandem::proxy {
namespace {

constexpr HttpError kHeadTooLarge{431, "header_too_large",
                                  "request head larger than the limit"};
constexpr HttpError kDuplicateIdentity{
    400, "duplicate_identity_header",
    "Cookie, Authorization and Content-Type may each come only once"};

// Copies the fields the pipeline reads; false for a repeated one.
bool CopyIdentityFields(const RequestHead& head, const RequestLimits& limits,
                        Exchange* x) {
  x->cookie.clear();
  x->authorization.clear();
  x->content_type.clear();
  x->admin_identity.clear();
  x->wants_html = false;
  int cookies = 0, authorizations = 0, content_types = 0;
  for (size_t i = 0; i < head.field_count; ++i) {
    const HeaderField& field = head.fields[i];
    switch (field.name.size()) {
      case 6:
        if (EqualsIgnoreCase(field.name, "cookie")) {
          ++cookies;
          x->cookie.assign(field.value);
        } else if (EqualsIgnoreCase(field.name, "accept")) {
          x->wants_html = ContainsIgnoreCase(
              absl::string_view(field.value.data(), field.value.size()),
              "text/html");
        }
        break;
      case 12:
        if (EqualsIgnoreCase(field.name, "content-type")) {
          ++content_types;
          x->content_type.assign(field.value);
        }
        break;
      case 13:
        if (EqualsIgnoreCase(field.name, "authorization")) {
          ++authorizations;
          x->authorization.assign(field.value);
        }
        break;
      default:
        break;
    }
    if (!limits.admin_identity_header.empty() && x->admin_identity.empty() &&
        EqualsIgnoreCase(field.name, limits.admin_identity_header)) {
      x->admin_identity.assign(field.value);
    }
  }
  return cookies <= 1 && authorizations <= 1 && content_types <= 1;
}

}  // namespace

HeadParse ParseRequest(std::string_view data, const RequestLimits& limits,
                       RequestHead* head, Exchange* x, size_t* head_bytes) {
  HttpError error;
  const HeadParse parsed = ParseRequestHead(data, head, &error);
  if (parsed == HeadParse::kIncomplete) {
    if (data.size() > limits.max_header_bytes) {
      SetClientError(kHeadTooLarge, &x->reply);
      return HeadParse::kError;
    }
    return parsed;
  }
  if (parsed == HeadParse::kComplete &&
      head->head_bytes > limits.max_header_bytes) {
    error = kHeadTooLarge;
  } else if (parsed == HeadParse::kComplete &&
             DecideRequestFraming(*head, limits.max_body_bytes, &x->framing,
                                  &error) &&
             NormalizeTarget(head->target, &x->target, &error)) {
    if (!CopyIdentityFields(*head, limits, x)) {
      error = kDuplicateIdentity;
    } else {
      x->method.assign(head->method);
      x->host.assign(x->target.authority.empty()
                         ? head->host
                         : std::string_view(x->target.authority));
      x->version = head->version;
      x->keep_alive = head->keep_alive();
      x->head_request = head->method == "HEAD";
      x->upgrade = head->has_upgrade && head->connection_upgrade;
      x->expect_continue = head->version == 11 && head->expect_continue;
      x->forwarded_fields.clear();
      AppendForwardedRequestFields(*head, x->upgrade, &x->forwarded_fields);
      *head_bytes = head->head_bytes;
      return HeadParse::kComplete;
    }
  }
  SetClientError(error, &x->reply);
  x->version = parsed == HeadParse::kComplete ? head->version : 11;
  return HeadParse::kError;
}

}  // namespace tandem::proxy
