// PackagedData codec (DESIGN.md §3): the agent appends EncodedRecords into a batch buffer as
// records arrive, forwarding each Payload's bytes untouched, and seals the batch with the agent
// header and batch_seq. Parsing walks a batch without building message objects.
// Not thread-safe: one builder per batching thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/wire/buffer.h"

namespace vigil::wire {

struct BatchHeader {
    std::string agent_id;
    std::vector<std::string> intranet_ipv4;
    std::vector<std::string> extranet_ipv4;
    std::vector<std::string> intranet_ipv6;
    std::vector<std::string> extranet_ipv6;
    std::string hostname;
    std::string version;
    std::string product;
};

// Encodes the header fields (2..9) once; appended to every sealed batch.
std::string encodeBatchHeader(const BatchHeader& header);

class BatchBuilder {
public:
    // Appends one EncodedRecord (PackagedData field 1).
    void add(int32_t data_type, int64_t timestamp, std::string_view payload);
    size_t records() const { return records_; }
    size_t bytes() const { return buf_.size(); }
    bool empty() const { return records_ == 0; }
    // Appends the encoded header and batch_seq (field 16), moves the finished PackagedData into
    // `out` and starts a new batch.
    void seal(std::string_view encoded_header, uint64_t batch_seq, Buffer& out);
    // Drops the records added so far.
    void clear() {
        buf_.clear();
        records_ = 0;
    }

private:
    Buffer buf_;
    size_t records_ = 0;
};

struct EncodedRecordView {
    int32_t data_type = 0;
    int64_t timestamp = 0;
    std::string_view data;
};

struct BatchView {
    std::vector<EncodedRecordView> records;
    BatchHeader header;
    uint64_t batch_seq = 0;
};

// Parses a serialized PackagedData (any field order). False when malformed.
bool parseBatch(std::string_view bytes, BatchView& out);

// Plugin Task frames (agent -> plugin).
struct TaskView {
    int32_t data_type = 0;
    std::string_view object_name;
    std::string_view data;
    std::string_view token;
};
// Appends a framed Task.
void appendTaskFrame(Buffer& out, int32_t data_type, std::string_view object_name, std::string_view data,
                     std::string_view token);
bool parseTask(std::string_view frame, TaskView& out);

}  // namespace vigil::wire
