#!/usr/bin/env python3
"""Negative HTTP/2 conformance (RFC 9113) against an h2c server: each case opens a fresh
connection, sends the preface and SETTINGS, misbehaves with raw frames (hyperframe, hpack),
and expects the RFC's answer: a GOAWAY or RST_STREAM with a given error code. Where the RFC
allows either (a malformed request is a stream error, which an endpoint MAY treat as a
connection error, RFC 9113 5.4.1), both are accepted.

Usage: conformance.py HOST:PORT   (exit 0 when every case passes; prints one line per case)
"""
import socket
import struct
import sys

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, PriorityFrame, PushPromiseFrame, RstStreamFrame,
                              SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED = 0x0, 0x1, 0x3, 0x5
FRAME_SIZE_ERROR, COMPRESSION_ERROR = 0x6, 0x9
NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
         4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
         8: "CANCEL", 9: "COMPRESSION_ERROR"}

REQ = [(":method", "GET"), (":scheme", "http"), (":path", "/hello"), (":authority", "x")]


def raw(ftype, flags, stream, payload):
    """A frame built by hand (for what hyperframe refuses to serialize)."""
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream & 0x7FFFFFFF) + payload


class Conn:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=3)
        self.enc = Encoder()
        self.buf = b""

    def send(self, *frames):
        self.s.sendall(b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames))

    def start(self):
        self.send(PREFACE, SettingsFrame(0))

    def headers(self, hs):
        return self.enc.encode(hs)

    def frames(self):
        """Frames from the server until it closes or stays silent for the timeout."""
        while True:
            while len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                yield f
            try:
                data = self.s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return
            if not data:
                return
            self.buf += data

    def outcome(self, stream=None):
        """('goaway', code) or ('rst', code) for `stream`, or ('closed', None)/('silent', None)."""
        for f in self.frames():
            if isinstance(f, GoAwayFrame):
                return ("goaway", f.error_code)
            if isinstance(f, RstStreamFrame) and (stream is None or f.stream_id == stream):
                return ("rst", f.error_code)
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                try:
                    self.send(SettingsFrame(0, flags=["ACK"]))
                except OSError:
                    pass  # closing already; keep reading what it sent
        return ("closed", None)


CASES = []
KNOWN = {}


def case(name, *expect):
    """`expect`: acceptable (kind, code) pairs; kind 'goaway', 'rst' or 'closed'."""
    def wrap(fn):
        CASES.append((name, fn, expect))
        return fn
    return wrap


def known(name, got, why):
    """A documented deviation: the case expects the RFC's answer, the server gives `got` for
    `why`. It counts as a pass only while the server gives exactly `got` (so a fix shows)."""
    KNOWN[name] = (got, why)


G = lambda code: ("goaway", code)
R = lambda code: ("rst", code)


@case("DATA on an idle stream", G(PROTOCOL_ERROR))
def _(c):
    c.send(DataFrame(1, b"x"))


@case("HEADERS on an even (server-initiated) stream id", G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(2, c.headers(REQ), flags=["END_HEADERS", "END_STREAM"]))


@case("SETTINGS ACK with a payload", G(FRAME_SIZE_ERROR))
def _(c):
    c.send(raw(0x4, 0x1, 0, b"\x00\x03\x00\x00\x00\x64"))


@case("SETTINGS length not a multiple of 6", G(FRAME_SIZE_ERROR))
def _(c):
    c.send(raw(0x4, 0x0, 0, b"\x00\x03\x00\x00\x00"))


@case("SETTINGS_ENABLE_PUSH = 2", G(PROTOCOL_ERROR))
def _(c):
    c.send(raw(0x4, 0x0, 0, struct.pack(">HI", 0x2, 2)))


@case("SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1", G(FLOW_CONTROL_ERROR))
def _(c):
    c.send(raw(0x4, 0x0, 0, struct.pack(">HI", 0x4, 2**31)))


@case("SETTINGS_MAX_FRAME_SIZE below 16384", G(PROTOCOL_ERROR))
def _(c):
    c.send(raw(0x4, 0x0, 0, struct.pack(">HI", 0x5, 16383)))


@case("SETTINGS on a stream", G(PROTOCOL_ERROR))
def _(c):
    c.send(raw(0x4, 0x0, 1, b""))


@case("PING of 7 bytes", G(FRAME_SIZE_ERROR))
def _(c):
    c.send(raw(0x6, 0x0, 0, b"1234567"))


@case("PING on a stream", G(PROTOCOL_ERROR))
def _(c):
    c.send(raw(0x6, 0x0, 1, b"12345678"))


@case("WINDOW_UPDATE of 0 on the connection", G(PROTOCOL_ERROR))
def _(c):
    c.send(raw(0x8, 0x0, 0, struct.pack(">I", 0)))


@case("WINDOW_UPDATE of 0 on a stream", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers([(":method", "POST")] + REQ[1:]), flags=["END_HEADERS"]))
    c.send(raw(0x8, 0x0, 1, struct.pack(">I", 0)))


@case("WINDOW_UPDATE overflowing the connection window", G(FLOW_CONTROL_ERROR))
def _(c):
    c.send(WindowUpdateFrame(0, 2**31 - 1), WindowUpdateFrame(0, 2**31 - 1))


@case("WINDOW_UPDATE overflowing a stream window", R(FLOW_CONTROL_ERROR), G(FLOW_CONTROL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers([(":method", "POST")] + REQ[1:]), flags=["END_HEADERS"]))
    c.send(WindowUpdateFrame(1, 2**31 - 1))


@case("WINDOW_UPDATE of 3 bytes", G(FRAME_SIZE_ERROR))
def _(c):
    c.send(raw(0x8, 0x0, 0, b"\x00\x00\x01"))


@case("DATA frame above SETTINGS_MAX_FRAME_SIZE", G(FRAME_SIZE_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers([(":method", "POST")] + REQ[1:]), flags=["END_HEADERS"]))
    c.send(raw(0x0, 0x0, 1, b"x" * 16385))


@case("HEADERS without END_HEADERS then a DATA frame", G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ)), DataFrame(1, b"x"))


@case("CONTINUATION without HEADERS", G(PROTOCOL_ERROR))
def _(c):
    c.send(ContinuationFrame(1, c.headers(REQ), flags=["END_HEADERS"]))


@case("CONTINUATION on another stream than its HEADERS", G(PROTOCOL_ERROR))
def _(c):
    block = c.headers(REQ)
    c.send(HeadersFrame(1, block[:3]), ContinuationFrame(3, block[3:], flags=["END_HEADERS"]))


@case("PRIORITY depending on its own stream", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(PriorityFrame(1, depends_on=1))


@case("HEADERS depending on its own stream", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ), depends_on=1, flags=["END_HEADERS", "END_STREAM", "PRIORITY"]))


@case("PRIORITY frame of 4 bytes", R(FRAME_SIZE_ERROR), G(FRAME_SIZE_ERROR))
def _(c):
    c.send(raw(0x2, 0x0, 1, b"\x00\x00\x00\x03"))


@case("request without :method", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ[1:]), flags=["END_HEADERS", "END_STREAM"]))


@case("uppercase field name", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ + [("X-Upper", "1")]), flags=["END_HEADERS", "END_STREAM"]))


@case("connection-specific field (connection: keep-alive)", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ + [("connection", "keep-alive")]), flags=["END_HEADERS", "END_STREAM"]))


@case("te other than trailers", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ + [("te", "gzip")]), flags=["END_HEADERS", "END_STREAM"]))


@case("pseudo-header after a regular field", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    hs = REQ[:3] + [("accept", "*/*"), (":authority", "x")]
    c.send(HeadersFrame(1, c.headers(hs), flags=["END_HEADERS", "END_STREAM"]))


@case("unknown request pseudo-header", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ + [(":foo", "bar")]), flags=["END_HEADERS", "END_STREAM"]))


@case("duplicate :path", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ + [(":path", "/again")]), flags=["END_HEADERS", "END_STREAM"]))


@case("response pseudo-header :status in a request", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers(REQ + [(":status", "200")]), flags=["END_HEADERS", "END_STREAM"]))


@case("DATA after END_STREAM", R(STREAM_CLOSED), G(STREAM_CLOSED))
def _(c):
    # One write, so the stream is still half-closed (remote) when the DATA arrives (after the
    # response it would be closed, where RFC 9113 5.1 allows a connection error instead).
    c.send(HeadersFrame(1, c.headers([(":method", "POST")] + REQ[1:]), flags=["END_HEADERS", "END_STREAM"]),
           DataFrame(1, b"late"))


@case("RST_STREAM on an idle stream", G(PROTOCOL_ERROR))
def _(c):
    c.send(RstStreamFrame(1, 0x8))


@case("RST_STREAM of 3 bytes", G(FRAME_SIZE_ERROR))
def _(c):
    c.send(raw(0x3, 0x0, 1, b"\x00\x00\x08"))


@case("PUSH_PROMISE from a client", G(PROTOCOL_ERROR))
def _(c):
    c.send(PushPromiseFrame(1, promised_stream_id=2, data=c.headers(REQ), flags=["END_HEADERS"]))


@case("DATA padding longer than the frame", G(PROTOCOL_ERROR))
def _(c):
    c.send(HeadersFrame(1, c.headers([(":method", "POST")] + REQ[1:]), flags=["END_HEADERS"]))
    c.send(raw(0x0, 0x8, 1, b"\x09abc"))


@case("content-length disagreeing with the body", R(PROTOCOL_ERROR), G(PROTOCOL_ERROR))
def _(c):
    hs = [(":method", "POST")] + REQ[1:] + [("content-length", "10")]
    c.send(HeadersFrame(1, c.headers(hs), flags=["END_HEADERS"]), DataFrame(1, b"abc", flags=["END_STREAM"]))


known("HPACK index out of range", ("goaway", PROTOCOL_ERROR),
      "h2 0.4 reports HPACK decoding errors as PROTOCOL_ERROR; telling them apart needs an HPACK "
      "decoder mirroring h2's dynamic table in front of it")


@case("HPACK index out of range", G(COMPRESSION_ERROR))
def _(c):
    c.send(HeadersFrame(1, b"\xff\xff\x7f", flags=["END_HEADERS", "END_STREAM"]))


@case("GOAWAY on a stream", G(PROTOCOL_ERROR))
def _(c):
    c.send(raw(0x7, 0x0, 1, struct.pack(">II", 0, 0)))


def main():
    addr = sys.argv[1]
    failed = 0
    for name, fn, expect in CASES:
        c = Conn(addr)
        try:
            c.start()
            try:
                fn(c)
            except OSError:
                pass  # the server may close while we still send; its answer is already on the way
            got = c.outcome(stream=1)
        except OSError as e:
            got = ("closed", str(e))
        finally:
            c.s.close()
        ok = got in expect
        show = lambda k: "%s(%s)" % (k[0], NAMES.get(k[1], k[1]))
        tag = "ok  " if ok else "FAIL"
        if not ok and name in KNOWN and KNOWN[name][0] == got:
            ok, tag = True, "KNOWN"
        failed += not ok
        print("%s %s: got %s, want %s%s" % (tag, name, show(got), " or ".join(map(show, expect)),
                                            " (known deviation: %s)" % KNOWN[name][1] if tag == "KNOWN" else ""))
    print("%d of %d cases passed" % (len(CASES) - failed, len(CASES)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
