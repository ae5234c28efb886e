#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bbolt-check.py COMMAND DB ...

An independent reading of etcd's bbolt files for the tests of agent/bbolt.c: written from
bbolt's source (etcd-io/bbolt v1.3.6 db.go, tx.go Check/checkBucket, page.go, node.go,
bucket.go), sharing no code with the module it checks.

  check DB              walks every bucket and page from the meta page in use and fails
                        unless: both meta pages are valid, every reachable page is below the
                        high-water mark, inside the file, of the right type, self-identified
                        and referenced once, the keys of every bucket are strictly ordered,
                        every branch key bounds its child and every branch has two children
                        at least (node.go rebalance() asserts it); with a synced freelist,
                        every page is reachable or free and never both. Prints what it found
                        as key=value words (revisions, the shape of bucket "key").
  corrupt DB WHAT       damages the right-most path of bucket "key" in place, for the
                        negative tests: leaf-type, cycle, past-end, order, page-id.
  repage SRC DST SIZE [--freelist] [--max-items N] [--no-inline] [--from-right]
                        rebuilds SRC with pages of SIZE bytes, every level packed full (or
                        with N elements) from the left, or from the right (then the
                        right-most path is full), optionally with a synced freelist and no
                        inline buckets: page sizes and layouts etcd does not write here.
"""
import mmap
import struct
import sys

PAGE_HDR = struct.Struct("=QHHI")          # id, flags, count, overflow
LEAF_ELEM = struct.Struct("=IIII")         # flags, pos, ksize, vsize
BRANCH_ELEM = struct.Struct("=IIQ")        # pos, ksize, pgid
META = struct.Struct("=IIIIQQQQQ")         # magic .. txid: the checksummed 56 bytes
BUCKET = struct.Struct("=QQ")              # root, sequence
BRANCH, LEAF, METAPAGE, FREELIST = 0x01, 0x02, 0x04, 0x10
BUCKET_FLAG = 0x01
NO_FREELIST = 0xFFFFFFFFFFFFFFFF
MAGIC, VERSION = 0xED0CDAED, 2


class Bad(Exception):
    pass


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def parse_meta(buf, off):
    hid, flags, _, _ = PAGE_HDR.unpack_from(buf, off)
    fields = META.unpack_from(buf, off + 16)
    (checksum,) = struct.unpack_from("=Q", buf, off + 16 + META.size)
    magic, version, psize, _, root, seq, freelist, hwm, txid = fields
    ok = (magic == MAGIC and version == VERSION and flags == METAPAGE and
          checksum == fnv1a(buf[off + 16:off + 16 + META.size]))
    return ok, dict(id=hid, page_size=psize, root=root, seq=seq, freelist=freelist, hwm=hwm, txid=txid)


class Db:
    def __init__(self, path, writable=False):
        self.f = open(path, "r+b" if writable else "rb")
        self.buf = mmap.mmap(self.f.fileno(), 0, access=mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ)
        ok0, m0 = parse_meta(self.buf, 0)
        if not ok0:
            raise Bad("meta page 0 invalid")
        self.ps = m0["page_size"]
        ok1, m1 = parse_meta(self.buf, self.ps)
        if not ok1 or m1["page_size"] != self.ps:
            raise Bad("meta page 1 invalid")
        self.meta = m0 if m0["txid"] > m1["txid"] else m1
        self.meta_index = 0 if self.meta is m0 else 1
        if self.meta["hwm"] * self.ps > len(self.buf):
            raise Bad("high-water mark %d past the end of the file" % self.meta["hwm"])
        self.seen = {}

    def page(self, pgid):
        if pgid < 2 or pgid >= self.meta["hwm"]:
            raise Bad("page %d outside [2, %d)" % (pgid, self.meta["hwm"]))
        off = pgid * self.ps
        hid, flags, count, overflow = PAGE_HDR.unpack_from(self.buf, off)
        if hid != pgid:
            raise Bad("page %d says it is page %d" % (pgid, hid))
        if pgid + overflow >= self.meta["hwm"]:
            raise Bad("page %d overflows past the high-water mark" % pgid)
        for i in range(pgid, pgid + overflow + 1):
            if i in self.seen:
                raise Bad("page %d referenced twice" % i)
            self.seen[i] = pgid
        return off, flags, count, overflow

    def elements(self, off, end, flags, count):
        """(key, value-or-child, flags, key offset) of one page in the file."""
        if 16 + count * 16 > end - off:
            raise Bad("page at %d: %d elements do not fit" % (off, count))
        out = []
        for i in range(count):
            e = off + 16 + 16 * i
            if flags == LEAF:
                fl, pos, ks, vs = LEAF_ELEM.unpack_from(self.buf, e)
                second = None
            else:
                pos, ks, child = BRANCH_ELEM.unpack_from(self.buf, e)
                fl, vs, second = 0, 0, child
            k0 = e + pos
            if ks == 0 or k0 + ks + vs > end:
                raise Bad("element %d of the page at %d out of its page" % (i, off))
            key = bytes(self.buf[k0:k0 + ks])
            if flags == LEAF:
                second = bytes(self.buf[k0 + ks:k0 + ks + vs])
            if out and out[-1][0] >= key:
                raise Bad("keys out of order in the page at %d" % off)
            out.append((key, second, fl, k0))
        return out

    def walk(self, pgid, lo, hi, shape, depth=0):
        """Yields (key, value, flags) of the subtree at pgid, asserting lo <= keys < hi."""
        off, flags, count, overflow = self.page(pgid)
        if flags not in (BRANCH, LEAF):
            raise Bad("page %d has type %#x on a tree path" % (pgid, flags))
        elems = self.elements(off, off + (overflow + 1) * self.ps, flags, count)
        if elems and ((lo is not None and elems[0][0] < lo) or (hi is not None and elems[-1][0] >= hi)):
            raise Bad("page %d holds keys outside its parent's range" % pgid)
        if shape is not None:
            shape["depth"] = max(shape["depth"], depth + 1)
            shape["branches" if flags == BRANCH else "leaves"] += 1
            shape["last"] = (pgid, flags, off, overflow, elems)
        if flags == LEAF:
            if not elems and depth > 0:
                raise Bad("empty leaf %d below a branch" % pgid)
            for key, value, fl, _ in elems:
                yield key, value, fl
            return
        if len(elems) < 2:
            raise Bad("branch %d has %d children, bbolt's rebalance() needs two" % (pgid, len(elems)))
        if shape is not None:
            shape["last_branch"] = (off, overflow, elems)
        for i, (key, child, _, _) in enumerate(elems):
            nxt = elems[i + 1][0] if i + 1 < len(elems) else hi
            yield from self.walk(child, key, nxt, shape, depth + 1)

    def bucket(self, value, shape=None):
        if len(value) < 16:
            raise Bad("bucket value of %d bytes" % len(value))
        root, seq = BUCKET.unpack_from(value, 0)
        if root != 0:
            if len(value) != 16:
                raise Bad("paged bucket with an inline page")
            return list(self.walk(root, None, None, shape)), seq, False
        hid, flags, count, _ = PAGE_HDR.unpack_from(value, 16)
        if flags != LEAF:
            raise Bad("inline bucket page of type %#x" % flags)
        inline = Db.__new__(Db)
        inline.buf = value
        items = [(k, v, fl) for k, v, fl, _ in inline.elements(16, len(value), LEAF, count)]
        return items, seq, True

    def tree(self):
        """The whole database as {name: (items, seq, inline)}, nested for sub-buckets."""
        def load(items):
            out = []
            for k, v, fl in items:
                if fl & BUCKET_FLAG:
                    sub, seq, inl = self.bucket(v)
                    out.append((k, (load(sub), seq, inl), fl))
                else:
                    out.append((k, v, fl))
            return out
        return load(list(self.walk(self.meta["root"], None, None, None)))


def rev(b):
    main, = struct.unpack(">q", b[:8])
    sub, = struct.unpack(">q", b[9:17])
    if b[8:9] != b"_" or len(b) not in (17, 18) or (len(b) == 18 and b[17:] != b"t"):
        raise Bad("not a revision key: %r" % b)
    return main, sub


def cmd_check(path):
    db = Db(path)
    root_shape = dict(depth=0, leaves=0, branches=0)
    root_items = list(db.walk(db.meta["root"], None, None, root_shape))
    buckets = {}
    for k, v, fl in root_items:
        if not fl & BUCKET_FLAG:
            raise Bad("plain value %r in the root bucket" % k)
        shape = dict(depth=0, leaves=0, branches=0) if k == b"key" else None
        items, _, inline = db.bucket(v, shape)

        def nested(its):
            for _, v2, f2 in its:
                if f2 & BUCKET_FLAG:
                    nested(db.bucket(v2)[0])
        nested(items)
        buckets[k] = (items, inline, shape)
    if db.meta["freelist"] != NO_FREELIST:
        off, flags, count, overflow = db.page(db.meta["freelist"])
        if flags != FREELIST:
            raise Bad("freelist page of type %#x" % flags)
        start = 16
        if count == 0xFFFF:
            (count,), start = struct.unpack_from("=Q", db.buf, off + 16), 24
        free = struct.unpack_from("=%dQ" % count, db.buf, off + start) if count else ()
        for p in free:
            if p in db.seen or p < 2 or p >= db.meta["hwm"]:
                raise Bad("free page %d is in use or out of range" % p)
        missing = set(range(2, db.meta["hwm"])) - set(db.seen) - set(free)
        if missing:
            raise Bad("pages neither reachable nor free: %s" % sorted(missing)[:10])
    key_items, key_inline, shape = buckets[b"key"]
    meta_items = dict((k, v) for k, v, _ in buckets[b"meta"][0])
    latest = rev(key_items[-1][0]) if key_items else (0, 0)
    words = dict(page_size=db.ps, txid=db.meta["txid"], meta_index=db.meta_index, hwm=db.meta["hwm"],
                 freelist="synced" if db.meta["freelist"] != NO_FREELIST else "none",
                 keys=len(key_items), latest=latest[0], latest_sub=latest[1],
                 latest_tombstone=int(bool(key_items) and len(key_items[-1][0]) == 18),
                 scheduled=rev(meta_items[b"scheduledCompactRev"])[0] if b"scheduledCompactRev" in meta_items else -1,
                 finished=rev(meta_items[b"finishedCompactRev"])[0] if b"finishedCompactRev" in meta_items else -1,
                 root_depth=root_shape["depth"], root_leaves=root_shape["leaves"],
                 key_inline=int(key_inline), meta_inline=int(buckets[b"meta"][1]))
    # key_room: what the right-most leaf of bucket "key" takes before it splits, or an inline
    # bucket before it no longer is one.
    if key_inline:
        words.update(key_room=db.ps // 4 - 16 - sum(16 + len(k) + len(v) for k, v, _ in key_items))
    else:
        pgid, _, off, overflow, elems = shape["last"]
        used = 16 + sum(16 + len(k) + len(v) for k, v, _, _ in elems)
        words.update(key_depth=shape["depth"], key_leaves=shape["leaves"], key_branches=shape["branches"],
                     last_leaf=pgid, last_leaf_overflow=overflow, key_room=(overflow + 1) * db.ps - used)
        if "last_branch" in shape:
            # the parent of the right-most leaf: the last branch a pre-order walk meets
            _, overflow, elems = shape["last_branch"]
            words.update(key_branch_room=(overflow + 1) * db.ps - 16 - sum(16 + len(k) for k, _, _, _ in elems))
    print(" ".join("%s=%s" % kv for kv in words.items()))


def right_path(db):
    """The page ids from the root of bucket "key" to its right-most leaf."""
    for k, v, fl in db.walk(db.meta["root"], None, None, None):
        if k == b"key":
            root, _ = BUCKET.unpack_from(v, 0)
    if root == 0:
        raise Bad("bucket key is inline")
    path = [root]
    while True:
        off = path[-1] * db.ps
        _, flags, count, _ = PAGE_HDR.unpack_from(db.buf, off)
        if flags != BRANCH:
            return path
        path.append(BRANCH_ELEM.unpack_from(db.buf, off + 16 + 16 * (count - 1))[2])


def cmd_corrupt(path, what):
    db = Db(path, writable=True)
    path_ = right_path(db)
    leaf, ps = path_[-1], db.ps
    if what == "leaf-type":
        struct.pack_into("=H", db.buf, leaf * ps + 8, FREELIST)
    elif what in ("cycle", "past-end"):
        if len(path_) < 2:
            raise Bad("bucket key has no branch")
        branch = path_[-2]
        _, _, count, _ = PAGE_HDR.unpack_from(db.buf, branch * ps)
        target = branch if what == "cycle" else db.meta["hwm"] + 3
        struct.pack_into("=Q", db.buf, branch * ps + 16 + 16 * (count - 1) + 8, target)
    elif what == "order":
        _, _, count, _ = PAGE_HDR.unpack_from(db.buf, leaf * ps)
        _, pos, _, _ = LEAF_ELEM.unpack_from(db.buf, leaf * ps + 16 + 16 * (count - 1))
        # The low byte of the last key's main revision: now below the keys before it.
        db.buf[leaf * ps + 16 + 16 * (count - 1) + pos + 7] = 0
    elif what == "page-id":
        struct.pack_into("=Q", db.buf, leaf * ps, leaf + 1)
    else:
        raise Bad("unknown corruption " + what)
    db.buf.flush()


class Writer:
    def __init__(self, ps, max_items, inline, from_right):
        self.ps, self.pages, self.next = ps, {}, 2
        self.max_items, self.inline, self.from_right = max_items, inline, from_right

    def alloc(self, data):
        n = (len(data) + self.ps - 1) // self.ps
        pgid, self.next = self.next, self.next + n
        self.pages[pgid] = data
        return pgid, n

    def node(self, items, leaf):
        """Page bytes without the id, and the page count, of items [(key, value|pgid, flags)]."""
        head = bytearray(16 + 16 * len(items))
        data = bytearray()
        for i, (k, v, fl) in enumerate(items):
            pos = len(head) + len(data) - (16 + 16 * i)
            if leaf:
                LEAF_ELEM.pack_into(head, 16 + 16 * i, fl, pos, len(k), len(v))
                data += k + v
            else:
                BRANCH_ELEM.pack_into(head, 16 + 16 * i, pos, len(k), v)
                data += k
        PAGE_HDR.pack_into(head, 0, 0, LEAF if leaf else BRANCH, len(items), 0)
        return head + data

    def level(self, items, leaf):
        """Packs items into full pages; returns the [(first key, pgid, 0)] of the next level."""
        groups, size = [[]], 16
        for it in (reversed(items) if self.from_right else items):
            el = 16 + len(it[0]) + (len(it[1]) if leaf else 0)
            if groups[-1] and (size + el > self.ps or len(groups[-1]) == self.max_items):
                groups.append([])
                size = 16
            groups[-1].append(it)
            size += el
        if self.from_right:
            groups = [g[::-1] for g in reversed(groups)]
        if not leaf and len(groups) > 1:
            # a branch of one child: only at the end packed last
            if len(groups[0]) == 1:
                groups[0].append(groups[1].pop(0))
            if len(groups[-1]) == 1:
                groups[-1].insert(0, groups[-2].pop())
        out = []
        for group in groups:
            data = self.node(group, leaf)
            pgid, n = self.alloc(data)
            struct.pack_into("=QHHI", data, 0, pgid, LEAF if leaf else BRANCH, len(group), n - 1)
            out.append((group[0][0], pgid, 0))
        return out

    def bucket(self, items, seq, root_bucket=False):
        flat = []
        for k, v, fl in items:
            flat.append((k, self.bucket(*v[:2]) if fl & BUCKET_FLAG else v, fl))
        size = 16 + sum(16 + len(k) + len(v) for k, v, _ in flat)
        if (self.inline and not root_bucket and size <= self.ps // 4 and
                not any(fl & BUCKET_FLAG for _, _, fl in flat)):
            return BUCKET.pack(0, seq) + bytes(self.node(flat, True))
        level = self.level(flat, True) if flat else [(b"", self.alloc(self.node([], True))[0], 0)]
        while len(level) > 1:
            level = self.level(level, False)
        return BUCKET.pack(level[0][1], seq)


def cmd_repage(src, dst, size, options):
    freelist = "--freelist" in options
    max_items = int(options[options.index("--max-items") + 1]) if "--max-items" in options else 0xFFFE
    db = Db(src)
    w = Writer(size, max_items, "--no-inline" not in options, "--from-right" in options)
    root, _ = BUCKET.unpack(w.bucket(db.tree(), db.meta["seq"], root_bucket=True))
    for pgid, data in w.pages.items():
        struct.pack_into("=Q", data, 0, pgid)
    fl_pgid = NO_FREELIST
    if freelist:
        # Two free pages and the freelist page listing them, as a NoFreelistSync=false db has.
        free = [w.alloc(bytearray(size))[0] for _ in range(2)]
        page = bytearray(PAGE_HDR.pack(0, FREELIST, len(free), 0) + struct.pack("=%dQ" % len(free), *free))
        fl_pgid, _ = w.alloc(page)
        struct.pack_into("=Q", page, 0, fl_pgid)
    out = bytearray(w.next * size)
    for pgid, data in w.pages.items():
        out[pgid * size:pgid * size + len(data)] = data
    for index, txid in ((0, db.meta["txid"]), (1, db.meta["txid"] - 1)):
        off = index * size
        PAGE_HDR.pack_into(out, off, index, METAPAGE, 0, 0)
        META.pack_into(out, off + 16, MAGIC, VERSION, size, 0, root, db.meta["seq"], fl_pgid, w.next, txid)
        struct.pack_into("=Q", out, off + 16 + META.size, fnv1a(out[off + 16:off + 16 + META.size]))
    with open(dst, "wb") as f:
        f.write(out)


def main():
    try:
        if sys.argv[1] == "check":
            cmd_check(sys.argv[2])
        elif sys.argv[1] == "corrupt":
            cmd_corrupt(sys.argv[2], sys.argv[3])
        elif sys.argv[1] == "repage":
            cmd_repage(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
        else:
            raise Bad("unknown command")
    except (Bad, KeyError, IndexError, struct.error) as e:
        print("bbolt-check: %s: %s" % (sys.argv[2] if len(sys.argv) > 2 else "", e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
