#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# garbage-grpc-endpoint.py PORT MESSAGE : listens on 127.0.0.1:PORT and answers every gRPC call
# at once with status UNAVAILABLE and MESSAGE as its grpc-message, percent-encoded as gRPC
# has it, so that MESSAGE may hold any bytes ("%FF" for 0xff): what an endpoint that is not
# etcd, or a hostile one, can make a client report. Plain HTTP/2 by hand (no h2 module needed):
# our SETTINGS, an ACK of the client's, PING answered, one HEADERS frame per call.
import socket
import struct
import sys
import threading

PORT, MESSAGE = int(sys.argv[1]), sys.argv[2].encode()
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, SETTINGS, PING = 1, 4, 6
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    # HPACK "literal header field without indexing, new name", lengths below 127.
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(conn):
    try:
        read_exactly(conn, len(PREFACE))
        conn.sendall(frame(SETTINGS, 0, 0))
        while True:
            head = read_exactly(conn, 9)
            length = int.from_bytes(head[:3], "big")
            kind, flags, stream = head[3], head[4], struct.unpack(">I", head[5:])[0] & 0x7FFFFFFF
            payload = read_exactly(conn, length)
            if kind == SETTINGS and not flags & ACK:
                conn.sendall(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                conn.sendall(frame(PING, ACK, 0, payload))
            elif kind == HEADERS:
                # Trailers only: ":status: 200" (static table entry 8), then the gRPC status.
                block = b"\x88" + literal(b"content-type", b"application/grpc") + \
                    literal(b"grpc-status", b"14") + literal(b"grpc-message", MESSAGE)
                conn.sendall(frame(HEADERS, END_HEADERS | END_STREAM, stream, block))
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


server = socket.create_server(("127.0.0.1", PORT))
while True:
    c, _ = server.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
