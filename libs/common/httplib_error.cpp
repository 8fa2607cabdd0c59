// cpp-httplib client errors in words.
#include "libs/common/httplib_error.h"

#include <openssl/x509.h>

namespace vigil::http {

std::string describeClientError(httplib::Error error, long verify_result) {
    switch (error) {
        case httplib::Error::Connection:
            return "cannot connect";
        case httplib::Error::ConnectionTimeout:
            return "connection timed out";
        case httplib::Error::Read:
            return "reading the response failed (closed or timed out)";
        case httplib::Error::Write:
            return "sending the request failed";
        case httplib::Error::ExceedRedirectCount:
            return "too many redirects";
        case httplib::Error::SSLConnection:
            return "TLS handshake failed";
        case httplib::Error::SSLLoadingCerts:
            return "cannot load the CA certificates";
        case httplib::Error::SSLServerVerification:
            // cpp-httplib checks the chain first, then the host name with the chain trusted.
            if (verify_result == X509_V_OK) {
                return "TLS server certificate verification failed (the certificate does not "
                       "name the host)";
            }
            return std::string("TLS server certificate verification failed: ") +
                   X509_verify_cert_error_string(verify_result);
        default:
            return "request failed (" + httplib::to_string(error) + ")";
    }
}

}  // namespace vigil::http
