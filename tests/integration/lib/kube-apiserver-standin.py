#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for kube-apiserver, run as the Type=notify user unit kube-apiserver.service.

What it imitates, because a restore's order and rollback depend on it:
  - at start it needs etcd: it retries a linearizable read (POST /v3/kv/range on etcd's
    HTTP/JSON gateway, over TLS with a client certificate when given) for --start-timeout
    seconds, then exits 1, as kube-apiserver exits when it cannot reach its storage;
  - only then it tells systemd READY=1 ($NOTIFY_SOCKET), so "active" means "serving";
  - while running it reads etcd every --poll seconds and exits 1 once etcd has been gone
    for longer than --gone-timeout seconds (kube-apiserver's health fails and kubelet or
    systemd restarts it; here the unit just fails, so a test sees it);
  - SIGTERM ends it with status 0.
  - with --secure-port it listens on 127.0.0.1:PORT from READY=1 on (as kube-apiserver serves
    its --secure-port once it can reach etcd), answering each connection with "200 ok"
    (/livez), so that a static pod's stop and start are seen where the agent looks: the port;
  - it also runs without $NOTIFY_SOCKET, as a static pod of the kubelet stand-in.
Every event is a line "EVENT MONOTONIC_NS [DETAIL]" appended to --log (start, etcd-ok, ready,
etcd-lost, stop, exit), CLOCK_MONOTONIC as systemd's *TimestampMonotonic (in us) use it, so a
test can order them against etcd's unit.

Switch files in --switch-dir, read at the moment they matter:
  fail-start    exit 1 at start before reading etcd (a control-plane unit that cannot start);
                holding "once", the file is removed as it fails: the next start works
  start-delay   sleep that many seconds before READY=1 (holds a restore in
                starting-control-plane)
  stop-delay    sleep that many seconds after SIGTERM before exiting (holds it in stopping)

What it does not imitate: the API itself (no HTTP server), watches and their caches, the
"compacted" relist of informers, leader election, admission, anything TLS-serving, the real
start-up time or memory of kube-apiserver, and being a static pod instead of a unit.
"""

import argparse
import select
import base64
import json
import os
import signal
import socket
import ssl
import sys
import time
import urllib.request


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class Standin:
    def __init__(self, args):
        self.args = args
        self.ctx = None
        if args.endpoint.startswith("https:"):
            self.ctx = ssl.create_default_context(cafile=args.cacert)
            self.ctx.load_cert_chain(args.cert, args.key)

    def log(self, event, detail=""):
        with open(self.args.log, "a") as f:
            f.write(f"{event} {now_ns()}{' ' + detail if detail else ''}\n")

    def switch(self, name):
        try:
            with open(os.path.join(self.args.switch_dir, name)) as f:
                return f.read().strip() or "1"
        except FileNotFoundError:
            return None

    def etcd_read(self):
        """A linearizable range read of one key: True if etcd answered it."""
        body = json.dumps({"key": base64.b64encode(b"/registry/health").decode()}).encode()
        req = urllib.request.Request(self.args.endpoint + "/v3/kv/range", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=2, context=self.ctx) as r:
                return "header" in json.load(r)
        except (OSError, ValueError):
            return False


def notify(state):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(state.encode())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--cacert")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--log", required=True)
    p.add_argument("--switch-dir", required=True)
    p.add_argument("--start-timeout", type=float, default=10)
    p.add_argument("--gone-timeout", type=float, default=10)
    p.add_argument("--poll", type=float, default=0.5)
    p.add_argument("--secure-port", type=int)
    args = p.parse_args()
    s = Standin(args)

    def on_term(signum, frame):
        delay = s.switch("stop-delay")
        s.log("stop", f"delay={delay or 0}")
        if delay:
            time.sleep(float(delay))
        s.log("exit", "0")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    s.log("start", f"pid={os.getpid()}")

    fail = s.switch("fail-start")
    if fail:
        if fail == "once":
            os.unlink(os.path.join(args.switch_dir, "fail-start"))
        s.log("exit", "1 fail-start")
        return 1

    deadline = time.monotonic() + args.start_timeout
    while not s.etcd_read():
        if time.monotonic() >= deadline:
            s.log("exit", "1 no-etcd-at-start")
            return 1
        time.sleep(0.2)
    s.log("etcd-ok")

    delay = s.switch("start-delay")
    if delay:
        time.sleep(float(delay))
    listener = None
    if args.secure_port:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", args.secure_port))
        listener.listen(16)
    notify("READY=1\nSTATUS=serving")
    s.log("ready")

    gone_since = None
    while True:
        deadline = time.monotonic() + args.poll
        while listener and time.monotonic() < deadline:
            r, _, _ = select.select([listener], [], [], max(0, deadline - time.monotonic()))
            if r:
                c, _ = listener.accept()
                try:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                except OSError:
                    pass
                c.close()
        if not listener:
            time.sleep(args.poll)
        if s.etcd_read():
            gone_since = None
            continue
        if gone_since is None:
            gone_since = time.monotonic()
        elif time.monotonic() - gone_since > args.gone_timeout:
            s.log("etcd-lost")
            s.log("exit", "1 etcd-lost")
            return 1


if __name__ == "__main__":
    sys.exit(main())
