// The request-side stages of the pipeline, in the spirit of Envoy's filter
// chain (envoy/http/filter.h): each stage looks at the Exchange and either
// lets it go on, or stops it until something it needs has happened, or
// answers it. Stages do no I/O themselves: when one must wait, it says for
// what, the connection does the waiting (reads the body, asks the catalog,
// holds the request) and runs the same stage again, which resumes with
// what arrived. So each stage is a small decision unit tested without
// sockets, and the waiting has one implementation.
//
// The chain is: identify the customer (identify_stage.h), hold while the
// customer cuts over (hold_stage.h), the catalog freeze (freeze_stage.h).
// Parsing the head comes before (request_parser.h); picking the upstream,
// forwarding and relaying the answer after (upstream_exchange.h).
#pragma once

#include "portal-proxy/exchange.h"

namespace tandem::proxy {

enum class StageResult {
  // On to the next stage.
  kContinue,
  // Read the request body into Exchange::body, up to Exchange's limit the
  // stage set (body_wanted), then run this stage again.
  kReadBody,
  // Ask the catalog about Exchange::change; run this stage again with
  // Exchange::catalog_answer set.
  kAskCatalog,
  // Wait until the customer's route changes or the hold's deadline
  // passes, then run this stage again.
  kHold,
  // Answer Exchange::reply; the chain ends.
  kReply,
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual StageResult Run(Exchange& exchange) const = 0;
};

}  // namespace tandem::proxy
