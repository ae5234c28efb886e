#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""kubelet-standin.py MANIFEST_DIR [PERIOD_SECONDS]

A stand-in for the kubelet's static pods (no kubelet is packaged for Debian 12), following
its documented file-source rules (https://kubernetes.io/docs/tasks/configure-pod-container/static-pod):
every PERIOD_SECONDS (default 1; the kubelet's fileCheckFrequency is 20 s, plus inotify) it
reads MANIFEST_DIR; each regular file whose name does not start with a dot is a pod, and
while it exists, unchanged, its containers' command lines (command, then args) run on the
host, each restarted 1 s after it exits (restartPolicy Always). When the file goes, gets a
dot name, or changes, the pod's processes get SIGTERM, then SIGKILL once the pod's
terminationGracePeriodSeconds (default 30) have passed; a changed file then starts again.
A file that is not a pod it can run is logged with the reason and skipped until it changes.
Every start and stop is logged on stdout with a timestamp ("start etcd.yaml/etcd pid N").

What it does not imitate: no containers, images, namespaces or cgroups of their own (the
commands run as this process's user, in its mount namespace, with the host's network
whatever hostNetwork says), no volumes (hostPath paths are used as the paths they are, so a
test's manifest mounts each at the same path), no probes, no mirror pods and no API server,
no pod UIDs (so none of the kubelet's bugs when a manifest comes back), no env, workingDir or
securityContext. On SIGTERM it stops every pod before it exits (the real kubelet leaves
containers running).
"""
import os
import signal
import subprocess
import sys
import time

import yaml

DIR = sys.argv[1]
PERIOD = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0


def log(msg):
    print(f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {msg}", flush=True)


class Pod:
    def __init__(self, name, data):
        self.name, self.data, self.procs, self.error = name, data, {}, None
        self.grace = 30
        self.commands = {}
        try:
            doc = yaml.safe_load(data)
            spec = doc["spec"]
            self.grace = int(spec.get("terminationGracePeriodSeconds", 30))
            for c in spec["containers"]:
                argv = list(c["command"]) + list(c.get("args") or [])
                if not argv or not all(isinstance(a, str) for a in argv):
                    raise ValueError(f"container {c.get('name')}: command is not a list of strings")
                self.commands[c["name"]] = argv
            if not self.commands:
                raise ValueError("no containers")
        except Exception as e:  # anything the kubelet would refuse
            self.error = f"{type(e).__name__}: {e}"
            log(f"invalid {name}: {self.error}")

    def sync(self):
        now = time.monotonic()
        for cname, argv in self.commands.items():
            p, exited = self.procs.get(cname, (None, None))
            if p is not None and p.poll() is None:
                continue
            if p is not None and exited is None:
                log(f"exited {self.name}/{cname} pid {p.pid} status {p.returncode}")
                self.procs[cname] = (p, now)
                continue
            if p is not None and now - exited < 1:
                continue
            try:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as e:
                log(f"cannot start {self.name}/{cname}: {e}")
                self.procs[cname] = (None, None)
                self.commands = {}
                return
            log(f"start {self.name}/{cname} pid {p.pid}")
            self.procs[cname] = (p, None)

    def stop(self):
        live = [(c, p) for c, (p, _) in self.procs.items() if p is not None and p.poll() is None]
        for c, p in live:
            log(f"stop {self.name}/{c} pid {p.pid} (SIGTERM)")
            os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for c, p in live:
            try:
                p.wait(max(0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"kill {self.name}/{c} pid {p.pid} (SIGKILL after {self.grace} s)")
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            log(f"stopped {self.name}/{c} pid {p.pid}")


pods = {}
running = True


def on_term(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
log(f"watching {DIR}")
while running:
    seen = {}
    try:
        names = sorted(os.listdir(DIR))
    except FileNotFoundError:
        names = []
    for name in names:
        path = os.path.join(DIR, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as f:
                seen[name] = f.read()
        except OSError:
            continue
    for name in list(pods):
        if seen.get(name) != pods[name].data:
            pods.pop(name).stop()
    for name, data in seen.items():
        if name not in pods:
            pods[name] = Pod(name, data)
        pods[name].sync()
    time.sleep(PERIOD)
for pod in pods.values():
    pod.stop()
