// Webhook output: POSTs alert batches as JSON arrays with cpp-httplib (http or https, keep-alive,
// optional HMAC-SHA256 signature). Semantics in output_sinks.h.
#include <unistd.h>

#include <exception>

#include <httplib.h>

#include "libs/common/crypto.h"
#include "libs/common/httplib_error.h"
#include "libs/common/log.h"
#include "server/hub/output_sinks.h"

namespace vigil::hub {
namespace {

// A short, printable excerpt of a response body for an error message.
std::string excerpt(const std::string& body) {
    std::string out;
    for (char c : body.substr(0, 200)) out.push_back(c >= 32 && c < 127 ? c : ' ');
    return out;
}

class WebhookSink final : public AlertSink {
public:
    WebhookSink(WebhookOutput output, OutputAddress url, metrics::Registry& metrics)
        : output_(std::move(output)),
          url_(std::move(url)),
          // Errors and metrics name the URL without its query (it may carry a token).
          shown_url_(url_.origin() + url_.target.substr(0, url_.target.find('?'))),
          name_("webhook " + shown_url_),
          metrics_(metrics, "webhook", shown_url_),
          client_(url_.origin()) {
        client_.set_connection_timeout(output_.timeout);
        client_.set_read_timeout(output_.timeout);
        client_.set_write_timeout(output_.timeout);
        client_.set_keep_alive(true);
        client_.set_follow_location(false);
        if (url_.scheme == "https") {
            client_.enable_server_certificate_verification(!output_.insecure_skip_verify);
            if (!output_.ca_file.empty()) client_.set_ca_cert_path(output_.ca_file);
        }
        for (const auto& [k, v] : output_.headers) headers_.emplace(k, v);
        if (headers_.find("User-Agent") == headers_.end()) {
            headers_.emplace("User-Agent", "vigil-hub/" VIGIL_VERSION);
        }
    }
    const char* name() const override { return name_.c_str(); }

    Status write(const std::vector<Alert>& alerts) override {
        for (size_t start = 0; start < alerts.size(); start += output_.max_batch) {
            const size_t end = std::min(alerts.size(), start + output_.max_batch);
            Status st = post(alerts, start, end);
            if (!st.ok()) {
                metrics_.errors.inc();
                return makeError("{}: alerts {}-{} of {}: {}", name_, start + 1, end, alerts.size(),
                                 st.message());
            }
            metrics_.messages.inc(end - start);
        }
        return {};
    }

private:
    Status post(const std::vector<Alert>& alerts, size_t start, size_t end) {
        std::string body = "[";
        for (size_t i = start; i < end; ++i) {
            if (i > start) body.push_back(',');
            body.append(alerts[i].json);
        }
        body.push_back(']');
        httplib::Headers headers = headers_;
        if (!output_.hmac_secret.empty()) {
            headers.emplace("X-Vigil-Signature",
                            "sha256=" + crypto::hmacSha256Hex(output_.hmac_secret, body));
        }
        try {
            auto res = client_.Post(url_.target, headers, body, "application/json");
            if (!res) {
                return Error{
                    http::describeClientError(res.error(), client_.get_openssl_verify_result())};
            }
            if (res->status < 200 || res->status > 299) {
                return makeError("HTTP {} {}", res->status, excerpt(res->body));
            }
        } catch (const std::exception& e) {
            return makeError("request failed: {}", e.what());
        }
        return {};
    }

    WebhookOutput output_;
    OutputAddress url_;
    std::string shown_url_;
    std::string name_;
    OutputMetrics metrics_;
    httplib::Client client_;
    httplib::Headers headers_;
};

}  // namespace

Result<std::unique_ptr<AlertSink>> openWebhookSink(const WebhookOutput& output,
                                                   metrics::Registry& metrics) {
    auto address = url::parseHttp(output.url);
    if (!address.ok()) return Error{"webhook output: " + address.message()};
    if (output.max_batch == 0) {
        return makeError("webhook output {}: max_batch is 0", address->origin());
    }
    if (!output.ca_file.empty() && ::access(output.ca_file.c_str(), R_OK) != 0) {
        return makeError("webhook output: cannot read ca_file {}", output.ca_file);
    }
    if (address->scheme == "https" && output.insecure_skip_verify) {
        log::get("hub")->warn(
            "webhook output {}: insecure_skip_verify: the server's certificate is not checked",
            address->origin());
    }
    try {
        return std::unique_ptr<AlertSink>(
            std::make_unique<WebhookSink>(output, std::move(*address), metrics));
    } catch (const std::exception& e) {
        return makeError("webhook output {}: {}", address->origin(), e.what());
    }
}

}  // namespace vigil::hub
