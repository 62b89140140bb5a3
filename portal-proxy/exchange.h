// One request on its way through the proxy's pipeline: what the stages
// read and decide. Owned by its connection and reused from request to
// request (the strings keep their capacity), so that the common request
// allocates nothing. It holds copies, never views into the connection's
// buffer: a request's head leaves the buffer as soon as it is parsed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "portal-proxy/backend.h"
#include "portal-proxy/customer_resolver.h"
#include "portal-proxy/freeze_policy.h"
#include "portal-proxy/local_reply.h"
#include "portal-proxy/path_normalizer.h"
#include "portal-proxy/proxy_metrics.h"
#include "portal-proxy/request_framing.h"

namespace tandem::proxy {

struct Exchange {
  using Clock = std::chrono::steady_clock;

  // --- The request, as parsed (request_parser.h).
  std::string method;
  // The normal target, forwarded (path_normalizer.h).
  NormalTarget target;
  // The form of the path the freeze matches.
  std::string freeze_path;
  // The Host sent upstream: the client's, or the absolute-form authority.
  std::string host;
  int version = 11;
  bool keep_alive = true;
  bool head_request = false;
  // A WebSocket-style upgrade (Connection: upgrade and Upgrade).
  bool upgrade = false;
  bool expect_continue = false;
  bool wants_html = false;
  BodyFraming framing;
  std::string cookie;
  std::string authorization;
  std::string content_type;
  // Who asks for a product change, for the catalog's audit.
  std::string admin_identity;
  // The request's header lines that go upstream as they came.
  std::string forwarded_fields;

  // --- The body read ahead of forwarding: decoded, up to a limit.
  std::string body;
  // The limit a stage asked the body to be read up to (kReadBody).
  size_t body_wanted = 0;
  // `body` is the whole body.
  bool body_complete = false;
  // The body is larger than the limit it was last read up to (whether or
  // not all of it came).
  bool body_over_limit = false;
  // Some of the body was read from the client (so that a refusal cannot
  // keep the connection unless the rest is drained).
  bool body_started = false;

  // --- Decisions.
  Resolution resolution;
  Backend backend = Backend::kSource;

  // The hold (a MIGRATING route, or a system that answered that the
  // customer left it).
  struct Hold {
    bool active = false;
    Clock::time_point start;
    Clock::time_point deadline;
    // When the held request is sent again to the system its route names
    // (zero: only a route change or the deadline wakes it).
    Clock::time_point resend_at;
    absl::Time since;
  } hold;
  // The system that answered "customer exported"; the request waits until
  // the route points elsewhere, then goes there.
  std::optional<Backend> exported_from;
  // The deadline of the first hold an exported answer began: every hold and
  // resend of the same request ends by it.
  std::optional<Clock::time_point> exported_until;
  // Times the request was sent again to the system that had answered
  // "customer exported" while its route still named that system.
  int exported_resends = 0;

  // The product change the request makes, and the catalog's answer.
  std::optional<ProductChange> change;
  std::string change_detail;
  std::optional<absl::StatusOr<FreezeDecision>> catalog_answer;

  // An answer the proxy makes itself (status 0: none).
  LocalReply reply;
  RequestRecord record;

  // Ready for the next request on the connection.
  void Reset() {
    body.clear();
    body_wanted = 0;
    body_complete = false;
    body_over_limit = false;
    body_started = false;
    resolution = Resolution();
    backend = Backend::kSource;
    hold = Hold();
    exported_from.reset();
    exported_until.reset();
    exported_resends = 0;
    change.reset();
    change_detail.clear();
    catalog_answer.reset();
    reply.Clear();
  }

  // Whether the whole request can be sent again (a retry on a fresh
  // upstream connection, or to another system): no body, or all of it kept
  // within the limit it was read up to.
  bool replayable() const {
    return framing.kind == BodyFraming::Kind::kNone ||
           (body_complete && !body_over_limit);
  }
};

}  // namespace tandem::proxy
