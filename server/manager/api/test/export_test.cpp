// GET /api/v1/alerts/export over each backend: CSV (RFC 4180 quoting, header row, formula
// cells defused), a JSON array and NDJSON, the list's filters, pages through the keyset cursor
// beyond one store page, the max cap, the attachment header, bad parameters.
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "server/manager/api/test/api_fixture.h"

namespace vigil::manager::api::testing {
namespace {

using nlohmann::json;

// Splits RFC 4180 CSV into rows of cells (quoted cells may hold commas, quotes, line breaks).
std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string cell;
    bool quoted = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                cell += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                cell += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            row.push_back(std::move(cell));
            cell.clear();
        } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            row.push_back(std::move(cell));
            cell.clear();
            rows.push_back(std::move(row));
            row.clear();
            ++i;
        } else {
            cell += c;
        }
    }
    return rows;
}

class ExportTest : public ApiFixture {
protected:
    void SetUp() override {
        ApiFixture::SetUp();
        if (HasFatalFailure()) return;
        makeApi();
        token_ = userToken("reader", "read_only");
    }
    // `n` alerts, one second apart; every 10th critical, the others low.
    void insert(int n) {
        std::vector<Alert> alerts;
        for (int i = 0; i < n; ++i) {
            alerts.push_back(hubAlert(i, "rule-a", i % 7, i % 10 == 0 ? "critical" : "low",
                                      kT0 / 1000 + i, {{"argv", "cmd " + std::to_string(i)}}));
        }
        auto r = store_->insertAlerts(std::move(alerts));
        ASSERT_TRUE(r.ok()) << r.message();
        ASSERT_EQ(r->alerts_inserted, static_cast<size_t>(n));
    }
    std::string token_;
};

TEST_P(ExportTest, CsvPagesThroughEveryAlertWithAHeader) {
    insert(2500);
    auto r = call("GET", "/api/v1/alerts/export", token_);
    ASSERT_EQ(r.status, 200) << r.raw.substr(0, 200);
    EXPECT_EQ(r.content_type, "text/csv; charset=utf-8");
    const std::string disposition = r.header("Content-Disposition");
    EXPECT_EQ(disposition.rfind("attachment; filename=\"vigil-alerts-", 0), 0u) << disposition;
    EXPECT_NE(disposition.find(".csv\""), std::string::npos);
    auto rows = parseCsv(r.raw);
    ASSERT_EQ(rows.size(), 2501u);
    EXPECT_EQ(rows[0][0], "alert_id");
    EXPECT_EQ(rows[0].size(), 15u);
    std::set<std::string> ids;
    for (size_t i = 1; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].size(), 15u) << i;
        ids.insert(rows[i][0]);
    }
    EXPECT_EQ(ids.size(), 2500u);
    EXPECT_EQ(rows[1][0], "alert-2499");  // newest first, as the list
    EXPECT_EQ(rows[1][1], "2023-11-14T22:41:39.000Z");
    EXPECT_EQ(rows[1][11], "cmd 2499");

    // The list's filters and the cap.
    r = call("GET", "/api/v1/alerts/export?severity=critical&max=7", token_);
    rows = parseCsv(r.raw);
    ASSERT_EQ(rows.size(), 8u);
    for (size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(rows[i][3], "critical");
    r = call("GET", "/api/v1/alerts/export?severity=critical", token_);
    EXPECT_EQ(parseCsv(r.raw).size(), 251u);
}

TEST_P(ExportTest, CsvQuotingAndFormulaCells) {
    ASSERT_TRUE(store_
                    ->insertAlerts({hubAlert(1, "rule-q", 1, "high", kT0 / 1000,
                                             {{"argv", "sh -c \"echo a,b\"\nnext line"}}),
                                    hubAlert(2, "rule-f", 1, "high", kT0 / 1000 - 1,
                                             {{"argv", "=HYPERLINK(\"http://x\")"}})})
                    .ok());
    auto r = call("GET", "/api/v1/alerts/export?format=csv", token_);
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.raw.find("\"sh -c \"\"echo a,b\"\"\nnext line\""), std::string::npos) << r.raw;
    auto rows = parseCsv(r.raw);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[1][11], "sh -c \"echo a,b\"\nnext line");
    EXPECT_EQ(rows[2][11], "'=HYPERLINK(\"http://x\")");
}

TEST_P(ExportTest, JsonAndNdjsonMatchTheList) {
    insert(30);
    auto list = call("GET", "/api/v1/alerts?limit=1000&sort=severity", token_);
    ASSERT_EQ(list.status, 200);
    auto r = call("GET", "/api/v1/alerts/export?format=json&sort=severity", token_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/json");
    ASSERT_TRUE(r.body.is_array()) << r.raw.substr(0, 200);
    EXPECT_EQ(r.body, list.data()["items"]);

    r = call("GET", "/api/v1/alerts/export?format=ndjson&sort=severity&max=12", token_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/x-ndjson");
    std::istringstream in(r.raw);
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    ASSERT_EQ(lines.size(), 12u);
    for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i], list.data()["items"][i]);

    // Nothing matches: an empty array, a header-only CSV.
    r = call("GET", "/api/v1/alerts/export?format=json&rule_id=none", token_);
    EXPECT_EQ(r.body, json::array());
    r = call("GET", "/api/v1/alerts/export?rule_id=none", token_);
    EXPECT_EQ(parseCsv(r.raw).size(), 1u);
}

TEST_P(ExportTest, BadParameters) {
    EXPECT_EQ(call("GET", "/api/v1/alerts/export", "").status, 401);
    auto r = call("GET", "/api/v1/alerts/export?format=xml", token_);
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.msg().find("format"), std::string::npos);
    EXPECT_EQ(call("GET", "/api/v1/alerts/export?max=0", token_).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/alerts/export?severity=bad", token_).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/alerts/export?from=10&to=5", token_).status, 400);
}

INSTANTIATE_TEST_SUITE_P(Backends, ExportTest, backends());

}  // namespace
}  // namespace vigil::manager::api::testing
