#!/usr/bin/env python3
"""Convert porcupine's test_data into the checker bench's JSON-lines format.

usage: convert.py PORCUPINE_DIR OUT_DIR
Writes OUT_DIR/etcd/etcd_NNN.jsonl (Jepsen etcd register logs) and OUT_DIR/kv/cNN-*.jsonl.
Times are event positions (the logs carry no clock); an operation still pending at the end of
a log, or timed out, is indeterminate ("unknown": true); a never-returned one has "ret": null.
"""
import json
import os
import re
import sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(out, "etcd"), exist_ok=True)
os.makedirs(os.path.join(out, "kv"), exist_ok=True)

JEPSEN = re.compile(r"^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*)$")


def convert_jepsen(path):
    ops, pending = [], {}
    for line in open(path):
        m = JEPSEN.match(line.rstrip("\n"))
        if not m:
            continue
        proc, typ, f, arg = int(m[1]), m[2], m[3], m[4].strip()
        if typ == "invoke":
            op = {"client": proc, "f": f, "ret": None, "unknown": True}
            if f == "write":
                op["value"] = int(arg)
            elif f == "cas":
                a, b = re.match(r"\[(\d+)\s+(\d+)\]", arg).groups()
                op["value"], op["to"] = int(a), int(b)
            pending[proc] = op
            ops.append(op)
            op["_seq"] = True
            continue
        op = pending.get(proc)
        if op is None or op["f"] != f:
            continue
        if typ == "ok" and f == "read":
            op["out"] = None if arg == "nil" else int(arg)
            op["unknown"] = False
        elif typ == "ok" and f == "write":
            op["unknown"] = False
        elif typ in ("ok", "fail") and f == "cas":
            op["out"] = typ == "ok"
            op["unknown"] = False
        elif typ == "fail" and f == "read" and arg == ":timed-out":
            pass  # returns now, result unknown
        else:
            continue  # :info — never returns (+inf)
        op["_ret"] = True
        del pending[proc]
        ops.append({"_return_of": op})
    return number(ops)


def number(events):
    """events: op dicts (calls, in order) interleaved with {"_return_of": op} markers."""
    result = []
    for t, e in enumerate(events):
        if "_return_of" in e:
            e["_return_of"]["ret"] = t
        else:
            e["call"] = t
            result.append(e)
    for o in result:
        o.pop("_seq", None)
        o.pop("_ret", None)
    return result


KV = re.compile(r'\{:process (\d+), :type :(\w+), :f :(\w+), :key "(.*?)", :value (nil|"(.*)")\}')


def convert_kv(path):
    events, pending = [], {}
    for line in open(path):
        m = KV.match(line.strip())
        if not m:
            continue
        proc, typ, f, key, value = int(m[1]), m[2], m[3], m[4], m[6]
        if typ == "invoke":
            op = {"client": proc, "f": f, "key": key, "ret": None, "unknown": True}
            if f != "get":
                op["value"] = value
            pending[proc] = op
            events.append(op)
        elif typ == "ok" and proc in pending:
            op = pending.pop(proc)
            if f == "get":
                op["out"] = value or ""
            op["unknown"] = False
            events.append({"_return_of": op})
    return number(events)


def write(path, ops):
    with open(path, "w") as fh:
        for o in ops:
            fh.write(json.dumps(o, sort_keys=True) + "\n")


jd = os.path.join(src, "test_data", "jepsen")
for name in sorted(os.listdir(jd)):
    if name.endswith(".log"):
        write(os.path.join(out, "etcd", name[:-4] + ".jsonl"), convert_jepsen(os.path.join(jd, name)))
kd = os.path.join(src, "test_data", "kv")
for name in sorted(os.listdir(kd)):
    if name.endswith(".txt"):
        write(os.path.join(out, "kv", name[:-4] + ".jsonl"), convert_kv(os.path.join(kd, name)))
