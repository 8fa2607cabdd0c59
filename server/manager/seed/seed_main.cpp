// vigil-manager-seed: fills a manager store with synthetic hosts and alerts (server/manager/seed),
// for demos, the console's browser tests and bench/manager. A store that already holds that many
// alerts is left as it is.
//   vigil-manager-seed --url sqlite:///tmp/m.db [--alerts N] [--hosts H] [--days D]
#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "server/manager/seed/store_seed.h"

int main(int argc, char** argv) {
    using namespace vigil::manager;
    CLI::App app{"vigil-manager-seed: synthetic hosts and alerts in a manager store"};
    std::string url;
    seed::SeedOptions options;
    int days = 30;
    app.add_option("--url", url, "sqlite://PATH or postgresql://...")->required();
    app.add_option("--alerts", options.alerts, "alerts to load (default 1000000)");
    app.add_option("--hosts", options.hosts, "hosts to load (default 10000)");
    app.add_option("--days", days, "days the alerts span, ending now (default 30)");
    CLI11_PARSE(app, argc, argv);
    if (options.alerts < 0 || options.hosts < 1 || days < 1) {
        std::fprintf(stderr, "vigil-manager-seed: --alerts >= 0, --hosts >= 1, --days >= 1\n");
        return 2;
    }
    auto store = openStore(url, StoreOptions{});
    if (!store.ok()) {
        std::fprintf(stderr, "vigil-manager-seed: store: %s\n", store.message().c_str());
        return 1;
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    seed::Generator gen(options.hosts, now, days);
    options.progress = [](int64_t n) {
        if (n % 100000 == 0)
            std::fprintf(stderr, "%lld alerts loaded\n", static_cast<long long>(n));
    };
    auto r = seed::seedStore(**store, gen, options);
    if (!r.ok()) {
        std::fprintf(stderr, "vigil-manager-seed: %s\n", r.message().c_str());
        return 1;
    }
    std::printf("%s: %lld alerts were stored, loaded %lld more and %d hosts in %.1f s\n",
                std::string((*store)->backend()).c_str(), static_cast<long long>(r->alerts_present),
                static_cast<long long>(r->alerts_loaded), r->alerts_loaded ? options.hosts : 0,
                r->seconds);
    return 0;
}
