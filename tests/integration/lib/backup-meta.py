#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""backup-meta.py FILE [KEY=VALUE...]

Prints the metadata of a backup file (the text of its leading zstd skippable frame) and, given
KEY=VALUE arguments, rewrites those fields in place, with the frame's META_SHA256 line
recomputed as the agent computes it: what a test needs to make a backup file that is valid
but says something else (another id, a creation time in the future, a field holding bytes the
agent must not pass on). A VALUE may use Python escapes (\\x1b, \\xff) to get raw bytes in.
"""
import hashlib
import struct
import sys

FRAME = 4096
SIGNATURE = b"ETCD-BACKUP-METADATA 1\n"
CHECKSUM = b"META_SHA256="


def main():
    path, edits = sys.argv[1], sys.argv[2:]
    with open(path, "r+b") as f:
        frame = bytearray(f.read(FRAME))
        magic, size = struct.unpack_from("<II", frame, 0)
        if magic != 0x184D2A5E or size != FRAME - 8:
            sys.exit(f"{path}: no metadata frame")
        text = bytes(frame[8:]).rstrip(b"\0")
        lines = [l for l in text.split(b"\n") if l and not l.startswith(CHECKSUM)]
        if not edits:
            sys.stdout.buffer.write(b"\n".join(lines) + b"\n")
            return
        for e in edits:
            key, value = e.split("=", 1)
            raw = value.encode("latin-1").decode("unicode_escape").encode("latin-1")
            kb = key.encode()
            for i, l in enumerate(lines):
                if l.startswith(kb + b"="):
                    lines[i] = kb + b"=" + raw
                    break
            else:
                lines.append(kb + b"=" + raw)
        body = b"\n".join(lines) + b"\n"
        body += CHECKSUM + hashlib.sha256(body).hexdigest().encode() + b"\n"
        if len(body) > FRAME - 8:
            sys.exit("metadata too long")
        frame[8:] = body.ljust(FRAME - 8, b"\0")
        f.seek(0)
        f.write(frame)


if __name__ == "__main__":
    main()
