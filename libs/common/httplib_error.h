// Words for a failed cpp-httplib client request, shared by the processes that use cpp-httplib
// (vigil-fetch, the hub's webhook output). A library apart from vigil_common (target
// vigil_common_httplib): the agent carries its own HTTP client (http.h) and never links
// cpp-httplib.
#pragma once

#include <string>

#include <httplib.h>

namespace vigil::http {

// What went wrong with a request that got no response, for an error message. `verify_result`
// is the client's get_openssl_verify_result(): it names why the server's certificate was not
// trusted. Thread-safe.
std::string describeClientError(httplib::Error error, long verify_result);

}  // namespace vigil::http
