#!/usr/bin/env python3
"""Load and idle clients for scripts/bench-serve-soak (raw sockets, no dependencies).

  serve-soak-client.py load  PROTO ADDR N [CONNS]  N keep-alive requests/messages over CONNS
                                                   connections, pipelined in batches; prints
                                                   the count done and the rate as JSON
  serve-soak-client.py idle  PROTO ADDR K SECS     opens K connections, completes the
                                                   protocol's hello on each, holds them SECS
                                                   seconds (prints "ready K" when all are open)

PROTO: http1, ws, rpc (h2 load comes from h2load). Requests are pre-built batches and replies
are counted by length, so the client costs little next to the server.
"""
import json, socket, struct, sys, threading, time

BATCH = 200

def conn(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def read_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(min(1 << 20, n - len(buf)))
        if not b:
            raise EOFError("server closed after %d of %d bytes" % (len(buf), n))
        buf += b
    return bytes(buf)

def read_until(s, marker):
    buf = b""
    while marker not in buf:
        b = s.recv(4096)
        if not b:
            raise EOFError("closed before %r" % marker)
        buf += b
    return buf

WS_UPGRADE = (b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")

def rpc_frame(kind, mid, method, payload):
    # magic, version, kind, codec (0 json), flags, reserved(2), message id, method, deadline, len
    return struct.pack(">2sBBBBH QIII", b"TB", 1, kind, 0, 0, 0, mid, method, 0, len(payload)) + payload

def hello(proto, s):
    """Completes the protocol's opening on `s`; returns (request batch, reply bytes)."""
    if proto == "http1":
        req = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
        s.sendall(req)
        first = read_until(s, b"hello\n")
        return req * BATCH, len(first) * BATCH
    if proto == "ws":
        s.sendall(WS_UPGRADE)
        read_until(s, b"\r\n\r\n")
        msg = b"ping-pong-12345"  # 15 bytes, masked with a zero key
        frame = bytes([0x81, 0x80 | len(msg), 0, 0, 0, 0]) + msg
        return frame * BATCH, (2 + len(msg)) * BATCH
    if proto == "rpc":
        payload = json.dumps({"a": 1, "b": 2}).encode()
        req = b"".join(rpc_frame(0, i, 1, payload) for i in range(BATCH))
        s.sendall(rpc_frame(0, 0, 1, payload))
        reply = read_exact(s, 28)
        plen = struct.unpack(">I", reply[24:28])[0]
        read_exact(s, plen)
        return req, (28 + plen) * BATCH
    raise SystemExit("unknown protocol %s" % proto)

def load(proto, addr, n, conns):
    done = [0] * conns
    err = []
    per = n // conns
    def run(i):
        try:
            s = conn(addr)
            batch, reply = hello(proto, s)
            left = per
            while left > 0:
                s.sendall(batch)
                read_exact(s, reply)
                left -= BATCH
                done[i] += BATCH
            s.close()
        except Exception as e:  # reported, never hidden
            err.append(repr(e))
    t0 = time.time()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
    for t in ts: t.start()
    for t in ts: t.join()
    dt = time.time() - t0
    print(json.dumps({"proto": proto, "requests": sum(done), "secs": round(dt, 2),
                      "per_sec": round(sum(done) / dt), "errors": err[:3]}))
    return 0 if not err else 1

def idle(proto, addr, k, secs):
    socks = []
    for _ in range(k):
        s = conn(addr)
        if proto == "h2":
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            s.recv(4096)
        else:
            hello(proto, s)
        socks.append(s)
    print("ready %d" % len(socks), flush=True)
    time.sleep(secs)
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            alive += s.recv(1) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print("alive %d" % alive, flush=True)

if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "load":
        sys.exit(load(a[1], a[2], int(a[3]), int(a[4]) if len(a) > 4 else 2))
    if a[0] == "idle":
        idle(a[1], a[2], int(a[3]), float(a[4]))
        sys.exit(0)
    sys.exit(__doc__)
