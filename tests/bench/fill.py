#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""fill.py ENDPOINT MEGABYTES

Fills etcd with about MEGABYTES of Kubernetes-like objects under /registry/: JSON documents of
pods, configmaps and secrets with their names, labels, managedFields and random ids, the mix
that makes a real cluster's etcd compress a few times over with zstd (secrets carry
incompressible base64 payloads). Seeded, so every run writes the same data. Uses etcd's own
JSON gateway (/v3/kv/txn), 64 puts per transaction.
"""
import base64
import json
import random
import sys
import time
import urllib.error
import urllib.request

rng = random.Random(20261125)


def uid():
    return "%08x-%04x-%04x-%04x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 16, 16, 48))


def obj(kind, ns, i):
    name = f"{kind.lower()}-{ns}-{i:06d}-{rng.getrandbits(20):05x}"
    meta = {
        "name": name, "namespace": ns, "uid": uid(),
        "resourceVersion": str(rng.randrange(10**6, 10**8)),
        "creationTimestamp": f"2026-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}T"
                             f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
        "labels": {"app": f"app-{rng.randrange(200)}", "tier": rng.choice(["web", "db", "cache", "batch"]),
                   "pod-template-hash": "%010x" % rng.getrandbits(40)},
        "managedFields": [{"manager": rng.choice(["kubectl", "kube-controller-manager", "helm"]),
                           "operation": "Update", "apiVersion": "v1", "time": "2026-11-01T00:00:00Z",
                           "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}],
    }
    if kind == "Secret":
        data = {f"key{k}": base64.b64encode(rng.randbytes(rng.randrange(256, 4096))).decode() for k in range(3)}
        return {"kind": kind, "apiVersion": "v1", "metadata": meta, "type": "Opaque", "data": data}
    if kind == "ConfigMap":
        data = {f"config{k}.yaml": "\n".join(f"setting_{j}: value-{rng.randrange(1000)}" for j in range(rng.randrange(20, 200)))
                for k in range(2)}
        return {"kind": kind, "apiVersion": "v1", "metadata": meta, "data": data}
    containers = [{"name": f"c{c}", "image": f"registry.example.com/team/app-{rng.randrange(50)}:v1.{rng.randrange(30)}",
                   "env": [{"name": f"ENV_{e}", "value": f"value-{rng.getrandbits(32):08x}"} for e in range(rng.randrange(5, 30))],
                   "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}} for c in range(rng.randrange(1, 4))]
    return {"kind": kind, "apiVersion": "v1", "metadata": meta,
            "spec": {"containers": containers, "nodeName": f"node-{rng.randrange(100)}"},
            "status": {"phase": "Running", "podIP": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"}}


def main():
    endpoint, megabytes = sys.argv[1].rstrip("/"), int(sys.argv[2])
    target, written, i = megabytes * 1024 * 1024, 0, 0
    kinds = ["Pod", "Pod", "Pod", "ConfigMap", "Secret"]
    while written < target:
        ops = []
        for _ in range(64):
            kind, ns = rng.choice(kinds), f"ns-{rng.randrange(40)}"
            value = json.dumps(obj(kind, ns, i), separators=(",", ":")).encode()
            key = f"/registry/{kind.lower()}s/{ns}/{i:08d}".encode()
            ops.append({"requestPut": {"key": base64.b64encode(key).decode(),
                                       "value": base64.b64encode(value).decode()}})
            written += len(value)
            i += 1
        req = urllib.request.Request(endpoint + "/v3/kv/txn", data=json.dumps({"success": ops}).encode(),
                                     headers={"Content-Type": "application/json"})
        # etcd answers 429 while its applied index lags the committed one (a busy machine, a
        # big database's commits): back off, up to 2 s at a time and 10 minutes in all, and send
        # the same transaction again.
        for attempt in range(320):
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
                break
            except urllib.error.HTTPError as e:
                if e.code != 429 or attempt == 319:
                    raise
                time.sleep(min(2.0, 0.2 * 1.5 ** attempt))
    print(f"{i} objects, {written / 1048576:.0f} MiB of values")


if __name__ == "__main__":
    main()
