#!/usr/bin/env python3
"""Writes the seed corpora of frame_decoder_fuzz (tests/fuzz/corpus/frame_decoder/: small valid
and invalid pipe frames), command_fuzz (tests/fuzz/corpus/command/: center Commands and
FileUploadResponses, encoded by hand from the field numbers in DESIGN.md section 3 and
proto/transfer.proto) and http1_fuzz (tests/fuzz/corpus/http1/: HTTP/1.1 heads and chunked
bodies, each followed by the two bytes the target reads as a cut position).
Re-run after changing it: python3 tests/fuzz/make_corpus.py"""
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def tag(field, wire_type):
    return varint((field << 3) | wire_type)


def ld(field, data):
    if isinstance(data, str):
        data = data.encode()
    return tag(field, 2) + varint(len(data)) + data


def vi(field, value):
    return tag(field, 0) + varint(value)


def entry(key, value):
    return ld(1, ld(1, key) + ld(2, value))


def payload(fields):
    return b"".join(entry(k, v) for k, v in fields)


def record(data_type, timestamp, fields):
    return vi(1, data_type) + vi(2, timestamp) + ld(3, payload(fields))


def frame(body):
    return struct.pack("<I", len(body)) + body


EXEC = [("exe", "/usr/bin/bash"), ("argv", "bash -c id"), ("pid", "4242"), ("ppid", "1"),
        ("uid", "0"), ("comm", "bash"), ("pid_tree", "4242.bash<1.systemd")]

SEEDS = {
    "record_exec": frame(record(59, 1700000000, EXEC)),
    "two_records": frame(record(42, 1, [("dip", "10.0.0.1")])) + frame(record(1010, 2, [
        ("level", "error"), ("msg", "boom")])),
    # Fields in reverse order, an unknown field, a repeated (merged) data field.
    "record_any_order": frame(ld(3, payload([("b", "2")])) + vi(9, 7) + vi(2, 5) +
                              ld(3, payload([("a", "1")])) + vi(1, 601)),
    "record_zero_values": frame(b""),
    "record_negative": frame(record(-1, -1, [("", "")])),
    "record_bad_utf8": frame(record(59, 1, [("exe", b"\xff\xfe/bin"), (b"k\xc0", "v")])),
    "record_group_field": frame(vi(1, 1) + tag(5, 3) + vi(1, 2) + tag(5, 4) +
                                ld(3, payload([("x", "y")]))),
    "task": frame(vi(1, 9101) + ld(2, "example") + ld(3, "hello") + ld(4, "tok-1")),
    "task_then_record": frame(ld(4, "t") + vi(1, 1050)) + frame(record(5100, 3, [
        ("token", "t"), ("status", "succeed"), ("msg", "")])),
    "truncated_frame": struct.pack("<I", 100) + record(59, 1, EXEC)[:10],
    "oversized_prefix": struct.pack("<I", 0x40000000) + b"A" * 64 + frame(record(1, 1, [])),
    "bad_varint": frame(b"\x08" + b"\xff" * 11),
    "bad_length": frame(b"\x1a\x7f\x0a"),
    "payload_wrong_type": frame(vi(1, 1) + ld(3, vi(1, 5))),
    "batch": (ld(1, vi(1, 59) + vi(2, 1700000000) + ld(3, payload(EXEC))) +
              ld(1, vi(1, 1000) + vi(2, 1)) + ld(2, "agent-1") + ld(3, "10.0.0.2") +
              ld(7, "host") + ld(8, "0.1.0") + ld(9, "vigil") + vi(16, 12345)),
}



def config(name, version, sha256, urls, detail=""):
    return ld(3, ld(1, name) + ld(2, "exec") + ld(3, version) + ld(4, sha256) +
              b"".join(ld(6, u) for u in urls) + (ld(7, detail) if detail else b""))


COMMAND_SEEDS = {
    "ack": vi(16, 77),
    "empty_sync": b"",
    "config_sync": (config("collector", "1.0.0", "ab" * 32, ["https://a/c.tar.gz", "http://b/c"],
                           "interval_ms=1000") +
                    config("vigil-agent", "0.2.0", "cd" * 32, ["https://a/agent"]) + vi(16, 3)),
    "task_upload": ld(2, vi(1, 1050) + ld(2, "vigil-agent") + ld(3, '{"path":"/etc/hosts"}') +
                      ld(4, "tok-1")) + vi(16, 9),
    # Any order, unknown fields of every wire type, a group, merged task occurrences.
    "any_order": (vi(16, 1) + ld(2, ld(4, "t")) + tag(40, 1) + b"12345678" + tag(41, 5) + b"1234" +
                  tag(42, 3) + vi(1, 1) + tag(42, 4) + ld(2, vi(1, 1060)) + vi(1, -1)),
    "bad_utf8": ld(3, ld(1, b"\xc0\x80")),
    "upload_response_failed": vi(1, 1),
}


HTTP_SEEDS = {
    "discovery_answer": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 47\r\n\r\n"
                        b'{"code":0,"data":[{"ip":"10.0.0.5","port":6751}]}',
    "chunked_answer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n",
    "chunked_body": b"a\nabcdefghij\n0\n\n",
    "interim_then_answer": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 204\n\n",
    "metrics_request": b"GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9201\r\n"
                       b"Accept: */*\r\n\r\n",
    "head_request": b"\r\nHEAD /healthz HTTP/1.0\r\n\r\n",
    "ambiguous_length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "folded_header": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
}


def main():
    http_seeds = {name: data + b"\x07\x00" for name, data in HTTP_SEEDS.items()}
    for sub, seeds in (("frame_decoder", SEEDS), ("command", COMMAND_SEEDS), ("http1", http_seeds)):
        out = os.path.join(CORPUS, sub)
        os.makedirs(out, exist_ok=True)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
        print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
