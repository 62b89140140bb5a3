// Small socket helpers for tests and benchmarks that talk to real servers
// on loopback.
#pragma once

#include <string>

namespace tandem::testing {

// Returns a loopback TCP port that was free a moment ago (bind to port 0,
// read it, close). Another process may take it before the caller binds it.
int FreePort();

// Sends `GET path HTTP/1.0` to 127.0.0.1:`port` and returns the whole
// response (status line, headers and body), or "" if it cannot connect.
std::string HttpGet(int port, const std::string& path);

}  // namespace tandem::testing
