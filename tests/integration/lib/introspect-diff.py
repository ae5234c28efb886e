#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""introspect-diff.py [--elsewhere IFACE]... DOCUMENTED SERVED...

Compares the org.etcdbackup.* interfaces of the documented introspection XML with those the
agent serves (the Introspect answers of one or more objects): the same interfaces, with the
same members in the same order, the same argument names, types and directions, and the same
annotations. Comments and layout do not count. Prints the differences and exits 1 if any.
--elsewhere IFACE: an interface of objects the caller has none of (a test without a restore),
checked by another test; only its absence is accepted.
"""
import sys
import xml.etree.ElementTree as ET


def describe(element):
    keys = ("name", "type", "direction", "access", "value")
    attrs = tuple((k, element.get(k)) for k in keys if element.get(k) is not None)
    return (element.tag, attrs, tuple(describe(c) for c in element))


def interfaces(path):
    with open(path, encoding="utf-8") as f:
        root = ET.fromstring(f.read())
    return {i.get("name"): describe(i) for i in root.findall("interface")
            if i.get("name", "").startswith("org.etcdbackup.")}


def main():
    args = sys.argv[1:]
    elsewhere = set()
    while args and args[0] == "--elsewhere":
        elsewhere.add(args[1])
        args = args[2:]
    documented = interfaces(args[0])
    served = {}
    for path in args[1:]:
        served.update(interfaces(path))
    bad = False
    for name in sorted(set(documented) | set(served)):
        if name not in served and name in elsewhere:
            continue
        if name not in served:
            print(f"{name}: documented but not served")
            bad = True
        elif name not in documented:
            print(f"{name}: served but not documented")
            bad = True
        elif documented[name] != served[name]:
            d, s = documented[name][2], served[name][2]
            for i in range(max(len(d), len(s))):
                if i >= len(d) or i >= len(s) or d[i] != s[i]:
                    print(f"{name}: member {i}: documented {d[i] if i < len(d) else None}, "
                          f"served {s[i] if i < len(s) else None}")
                    break
            bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
