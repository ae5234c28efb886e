/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * etcd's bbolt file, as far as a restore's revision bump needs it. Sources: etcd-io/bbolt
 * v1.3.6, which etcd 3.4.23 is built with (page.go, node.go, bucket.go, tx.go, db.go);
 * etcd-io/etcd v3.5.21 etcdutl/snapshot/v3_snapshot.go modifyLatestRevision (what the bump
 * writes) and v3.4.23 mvcc/kvstore.go restore() (how etcd reads it back).
 *
 * Format: pages of one size, in the machine's byte order, each opening with {id u64, flags u16,
 * count u16, overflow u32} (overflow: the further pages a large node continues on). Pages 0 and
 * 1 are meta pages {magic, version, page size, flags, root bucket {page, sequence}, freelist
 * page, high-water mark, txid, FNV-1a of the fields before}; the valid one with the higher txid
 * is in use. A bucket is a B+tree: branch elements {pos, ksize u32, child u64} keyed by their
 * child's first key, leaf elements {flags, pos, ksize, vsize u32}, pos counting from the element
 * to its key, the value after the key. A sub-bucket is a leaf value flagged 0x01, {root page,
 * sequence}, followed by its leaf page when root is 0 (inline, at most a quarter page). Only the
 * meta pages carry a checksum.
 *
 * Writing, as a bbolt transaction does: the nodes on the paths to the keys written go to new
 * pages at the high-water mark, split where they outgrow a page (a branch keeps two children,
 * which rebalance() asserts); then the meta page not in use gets the new root, high-water mark
 * and next txid, with an fdatasync before and after. The pages left behind are free because the
 * new meta always says "no freelist", as etcd's NoFreelistSync databases do: bbolt then finds
 * the free pages on open by walking the buckets, and writes a freelist on its next commit if it
 * keeps one (db.go Open). Only the paths are read, with pread, all before the first write.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "bbolt.h"
#include "fs-util.h"
#include "macro.h"
#include "string-util.h"

#define PAGE_HEADER_SIZE 16U
#define ELEMENT_SIZE 16U /* branch and leaf elements alike */
#define BUCKET_HEADER_SIZE 16U
#define META_CHECKSUMMED 56U /* the meta fields before the checksum */
#define META_SIZE 64U

#define PAGE_BRANCH 0x01U
#define PAGE_LEAF 0x02U
#define PAGE_META 0x04U
#define LEAF_BUCKET 0x01U /* a leaf element whose value is a bucket */

#define BOLT_MAGIC 0xED0CDAEDU
#define BOLT_VERSION 2U
#define PGID_NO_FREELIST UINT64_MAX
/* node.go write() panics on a page of 0xFFFF elements. */
#define ELEMENTS_MAX 0xFFFEU
/* etcd's values are bounded by its request size (1.5 MiB by default); a node far past that is
 * not something etcd wrote, and would cost that much memory. */
#define NODE_BYTES_MAX (256U * 1024U * 1024U)
/* Even with 1 KiB pages, the tree of an 8 GiB database is a handful of levels deep. */
#define DEPTH_MAX 32U

/* etcd's revision keys: BE64 main '_' BE64 sub, and a trailing 't' for a tombstone. */
#define REVISION_SIZE 17U
#define KEY_BUCKET "key"
#define META_BUCKET "meta"
#define SCHEDULED_COMPACT_KEY "scheduledCompactRev"
#define FINISHED_COMPACT_KEY "finishedCompactRev"

static uint16_t get16(const uint8_t *p) {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static uint32_t get32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static uint64_t get64(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static void put16(uint8_t *p, uint16_t v) {
        memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v) {
        memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v) {
        memcpy(p, &v, sizeof(v));
}

static uint64_t fnv1a64(const uint8_t *p, size_t n) {
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
        int c = memcmp(a, b, MIN(an, bn));

        if (c != 0)
                return c;
        return an < bn ? -1 : an > bn;
}

/* ---- meta pages -------------------------------------------------------------------------- */

typedef struct Meta {
        uint32_t magic, version, page_size, flags;
        uint64_t root, sequence; /* the root bucket */
        uint64_t freelist, pgid, txid, checksum;
} Meta;

static void meta_decode(const uint8_t *page, Meta *ret) {
        const uint8_t *p = page + PAGE_HEADER_SIZE;

        *ret = (Meta) {
                .magic = get32(p), .version = get32(p + 4), .page_size = get32(p + 8), .flags = get32(p + 12),
                .root = get64(p + 16), .sequence = get64(p + 24), .freelist = get64(p + 32),
                .pgid = get64(p + 40), .txid = get64(p + 48), .checksum = get64(p + 56),
        };
}

/* Writes m as meta page index into page (page_size zeroed bytes), with its checksum. */
static void meta_encode(const Meta *m, unsigned index, uint8_t *page) {
        uint8_t *p = page + PAGE_HEADER_SIZE;

        put64(page, index);
        put16(page + 8, PAGE_META);
        put32(p, m->magic);
        put32(p + 4, m->version);
        put32(p + 8, m->page_size);
        put32(p + 12, m->flags);
        put64(p + 16, m->root);
        put64(p + 24, m->sequence);
        put64(p + 32, m->freelist);
        put64(p + 40, m->pgid);
        put64(p + 48, m->txid);
        put64(p + 56, fnv1a64(p, META_CHECKSUMMED));
}

static int meta_check(const uint8_t *page, unsigned index, Meta *ret, char **ret_message) {
        uint64_t sum;

        meta_decode(page, ret);
        if (ret->magic != BOLT_MAGIC)
                return set_message(ret_message, -EBADMSG, "Not a bbolt database: meta page %u has magic 0x%08" PRIx32,
                                   index, ret->magic);
        if (ret->version != BOLT_VERSION)
                return set_message(ret_message, -EBADMSG, "Meta page %u has bbolt format version %" PRIu32 ", not %u",
                                   index, ret->version, BOLT_VERSION);
        sum = fnv1a64(page + PAGE_HEADER_SIZE, META_CHECKSUMMED);
        if (sum != ret->checksum)
                return set_message(ret_message, -EBADMSG,
                                   "Meta page %u is corrupt: its checksum is %016" PRIx64 ", its contents hash to %016" PRIx64,
                                   index, ret->checksum, sum);
        if (get64(page) != index || get16(page + 8) != PAGE_META)
                return set_message(ret_message, -EBADMSG, "Meta page %u is marked as page %" PRIu64 " of type 0x%x",
                                   index, get64(page), get16(page + 8));
        if (ret->page_size < BBOLT_PAGE_SIZE_MIN || ret->page_size > BBOLT_PAGE_SIZE_MAX ||
            (ret->page_size & (ret->page_size - 1)) != 0)
                return set_message(ret_message, -EBADMSG, "Meta page %u gives a page size of %" PRIu32 " bytes (%u to %u expected)",
                                   index, ret->page_size, BBOLT_PAGE_SIZE_MIN, BBOLT_PAGE_SIZE_MAX);
        return 0;
}

/* Checks both meta pages and returns the one in use, the way db.go meta() picks it. */
static int header_check(const uint8_t *head, size_t size, uint64_t db_size, Meta *ret, unsigned *ret_index,
                        char **ret_message) {
        Meta m[2];
        unsigned cur;
        int r;

        if (size < PAGE_HEADER_SIZE + META_SIZE)
                return set_message(ret_message, -EBADMSG, "Database of %" PRIu64 " bytes is too small for a bbolt header",
                                   db_size);
        r = meta_check(head, 0, &m[0], ret_message);
        if (r < 0)
                return r;
        if (db_size < 2ULL * m[0].page_size)
                return set_message(ret_message, -EBADMSG, "Database of %" PRIu64 " bytes is too small for its two meta pages",
                                   db_size);
        if (size < 2ULL * m[0].page_size)
                return set_message(ret_message, -EINVAL, "The bbolt header check needs the first %" PRIu32 " bytes",
                                   2 * m[0].page_size);
        r = meta_check(head + m[0].page_size, 1, &m[1], ret_message);
        if (r < 0)
                return r;
        if (m[1].page_size != m[0].page_size)
                return set_message(ret_message, -EBADMSG, "Meta pages disagree on the page size (%" PRIu32 " and %" PRIu32 ")",
                                   m[0].page_size, m[1].page_size);

        cur = m[1].txid > m[0].txid ? 1 : 0;
        if (m[cur].pgid < 3 || m[cur].pgid > db_size / m[cur].page_size)
                return set_message(ret_message, -EBADMSG,
                                   "Meta page %u gives a high-water mark of %" PRIu64 " pages, the file holds %" PRIu64,
                                   cur, m[cur].pgid, db_size / m[cur].page_size);
        if (m[cur].root < 2 || m[cur].root >= m[cur].pgid)
                return set_message(ret_message, -EBADMSG, "Meta page %u puts the root bucket at page %" PRIu64 ", outside the database",
                                   cur, m[cur].root);
        if (m[cur].freelist != PGID_NO_FREELIST && (m[cur].freelist < 2 || m[cur].freelist >= m[cur].pgid))
                return set_message(ret_message, -EBADMSG, "Meta page %u puts the freelist at page %" PRIu64 ", outside the database",
                                   cur, m[cur].freelist);
        *ret = m[cur];
        *ret_index = cur;
        return 0;
}

int bbolt_check_header(const void *head, size_t size, uint64_t db_size, BboltHeader *ret, char **ret_message) {
        unsigned index = 0;
        Meta m = {};
        int r;

        r = header_check(head, MIN((uint64_t) size, db_size), db_size, &m, &index, ret_message);
        if (r < 0)
                return r;
        if (ret)
                *ret = (BboltHeader) {
                        .page_size = m.page_size,
                        .txid = m.txid,
                        .root = m.root,
                        .high_water = m.pgid,
                        .freelist_synced = m.freelist != PGID_NO_FREELIST,
                };
        return 0;
}

/* ---- nodes and buckets ------------------------------------------------------------------- */

typedef struct Node Node;

typedef struct Item {
        const uint8_t *key;
        const uint8_t *value; /* leaf */
        uint32_t ksize, vsize;
        uint32_t flags;       /* leaf */
        uint64_t pgid;        /* branch: the child's page */
        Node *child;          /* branch: the child, once read */
} Item;

struct Node {
        uint64_t pgid;     /* 0 for an inline bucket's page and for new nodes */
        uint32_t overflow;
        bool leaf;
        bool dirty;        /* on the path to a key written: goes to new pages */
        uint8_t *buf;      /* the page(s) as read, which the items point into */
        Item *items;
        size_t n_items;
};

typedef struct Bucket {
        const char *name;
        Node *root;
        uint64_t sequence;
        uint8_t *value; /* once written: the bucket's new value in the root bucket */
        size_t value_size;
} Bucket;

typedef struct Tx {
        int fd;
        uint64_t file_size;
        uint32_t page_size;
        Meta meta;
        unsigned meta_index;
        Node **nodes; /* every node, to free them and to notice a page reached twice */
        size_t n_nodes;
        Bucket root, key, meta_bucket;
        uint8_t *out; /* the new pages, from the old high-water mark on */
        uint64_t out_pages;
        uint8_t revision[REVISION_SIZE]; /* the bumped revision, key and value both */
        char **message;
} Tx;

static void tx_done(Tx *tx) {
        for (size_t i = 0; i < tx->n_nodes; i++) {
                free(tx->nodes[i]->buf);
                free(tx->nodes[i]->items);
                free(tx->nodes[i]);
        }
        free(tx->nodes);
        free(tx->root.value);
        free(tx->key.value);
        free(tx->meta_bucket.value);
        free(tx->out);
}

static int node_new(Tx *tx, Node **ret) {
        Node **a, *n;

        a = reallocarray(tx->nodes, tx->n_nodes + 1, sizeof(Node *));
        if (!a)
                return -ENOMEM;
        tx->nodes = a;
        n = calloc(1, sizeof(Node));
        if (!n)
                return -ENOMEM;
        tx->nodes[tx->n_nodes++] = n;
        *ret = n;
        return 0;
}

/* Reads the elements of the page at p (size bytes: the page and its overflow, or an inline
 * bucket's page) into n. where names the page in messages. */
static int node_parse(Tx *tx, Node *n, const uint8_t *p, size_t size, const char *where) {
        uint16_t flags = get16(p + 8), count = get16(p + 10);

        if (flags != PAGE_BRANCH && flags != PAGE_LEAF)
                return set_message(tx->message, -EBADMSG, "%s has page type 0x%x where a branch or leaf page belongs",
                                   where, flags);
        n->leaf = flags == PAGE_LEAF;
        if (PAGE_HEADER_SIZE + (size_t) count * ELEMENT_SIZE > size)
                return set_message(tx->message, -EBADMSG, "%s: its %u elements do not fit in it", where, count);
        n->items = calloc(MAX(count, 1), sizeof(Item));
        if (!n->items)
                return -ENOMEM;

        for (size_t i = 0; i < count; i++) {
                const uint8_t *e = p + PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
                Item *it = &n->items[i];
                uint64_t start;
                uint32_t pos;

                if (n->leaf) {
                        it->flags = get32(e);
                        pos = get32(e + 4);
                        it->ksize = get32(e + 8);
                        it->vsize = get32(e + 12);
                } else {
                        pos = get32(e);
                        it->ksize = get32(e + 4);
                        it->pgid = get64(e + 8);
                }
                start = PAGE_HEADER_SIZE + i * ELEMENT_SIZE + (uint64_t) pos;
                if (it->ksize == 0 || start + it->ksize + it->vsize > size)
                        return set_message(tx->message, -EBADMSG, "%s: element %zu lies outside the page", where, i);
                if (it->flags & ~LEAF_BUCKET)
                        return set_message(tx->message, -EBADMSG, "%s: element %zu has unknown flags 0x%" PRIx32,
                                           where, i, it->flags);
                it->key = p + start;
                it->value = it->key + it->ksize;
                if (i > 0 && key_cmp(it[-1].key, it[-1].ksize, it->key, it->ksize) >= 0)
                        return set_message(tx->message, -EBADMSG, "%s: keys out of order at element %zu", where, i);
        }
        n->n_items = count;
        return 0;
}

/* Reads the node at page pgid, after checking that it is a page of the database that no node
 * read before covers (which also stops cycles). */
static int node_read(Tx *tx, uint64_t pgid, Node **ret) {
        uint8_t header[PAGE_HEADER_SIZE];
        char where[32];
        uint64_t overflow;
        size_t size;
        Node *n = NULL;
        int r;

        if (pgid < 2 || pgid >= tx->meta.pgid)
                return set_message(tx->message, -EBADMSG, "Page %" PRIu64 " lies outside the database (pages 2 to %" PRIu64 ")",
                                   pgid, tx->meta.pgid - 1);
        r = pread_full(tx->fd, header, sizeof(header), (off_t) (pgid * tx->page_size));
        if (r == -EBADMSG)
                return set_message(tx->message, -EBADMSG, "Page %" PRIu64 " lies past the end of the file", pgid);
        if (r < 0)
                return set_message(tx->message, r, "Cannot read page %" PRIu64 ": %s", pgid, strerror(-r));
        if (get64(header) != pgid)
                return set_message(tx->message, -EBADMSG, "Page %" PRIu64 " calls itself page %" PRIu64, pgid, get64(header));
        overflow = get32(header + 12);
        if (overflow >= tx->meta.pgid - pgid)
                return set_message(tx->message, -EBADMSG, "Page %" PRIu64 " continues past the high-water mark", pgid);
        for (size_t i = 0; i < tx->n_nodes; i++) {
                const Node *o = tx->nodes[i];
                if (o->pgid != 0 && pgid <= o->pgid + o->overflow && o->pgid <= pgid + overflow)
                        return set_message(tx->message, -EBADMSG, "Page %" PRIu64 " is reached twice (a cycle, or pages shared)",
                                           pgid);
        }
        if ((overflow + 1) * tx->page_size > NODE_BYTES_MAX)
                return set_message(tx->message, -EFBIG, "Page %" PRIu64 " spans %" PRIu64 " pages, more than a restore handles",
                                   pgid, overflow + 1);
        size = (size_t) (overflow + 1) * tx->page_size;

        r = node_new(tx, &n);
        if (r < 0)
                return r;
        n->pgid = pgid;
        n->overflow = (uint32_t) overflow;
        n->buf = malloc(size);
        if (!n->buf)
                return -ENOMEM;
        r = pread_full(tx->fd, n->buf, size, (off_t) (pgid * tx->page_size));
        if (r == -EBADMSG)
                return set_message(tx->message, -EBADMSG, "Page %" PRIu64 " lies past the end of the file", pgid);
        if (r < 0)
                return set_message(tx->message, r, "Cannot read page %" PRIu64 ": %s", pgid, strerror(-r));
        (void) snprintf(where, sizeof(where), "Page %" PRIu64, pgid);
        r = node_parse(tx, n, n->buf, size, where);
        if (r < 0)
                return r;
        *ret = n;
        return 0;
}

/* The child of a branch to descend into for key: the last one whose key is not above it. */
static size_t branch_index(const Node *n, const uint8_t *key, size_t ksize) {
        size_t lo = 0, hi = n->n_items;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (key_cmp(n->items[mid].key, n->items[mid].ksize, key, ksize) <= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo > 0 ? lo - 1 : 0;
}

/* Where key is, or belongs, in a leaf. */
static size_t leaf_index(const Node *n, const uint8_t *key, size_t ksize, bool *ret_found) {
        size_t lo = 0, hi = n->n_items;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (key_cmp(n->items[mid].key, n->items[mid].ksize, key, ksize) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *ret_found = lo < n->n_items && key_cmp(n->items[lo].key, n->items[lo].ksize, key, ksize) == 0;
        return lo;
}

/* Walks bucket b down to the leaf where key belongs (key NULL: the right-most leaf), reading the
 * nodes on the way and checking that each one's keys lie in the range its parent gives it.
 * mark: the path is about to change, every node on it goes to new pages. */
static int bucket_descend(Tx *tx, Bucket *b, const uint8_t *key, size_t ksize, bool mark, Node **ret) {
        const Item *hi = NULL; /* the first key above the current node, if any */
        Node *n = b->root;
        int r;

        for (unsigned depth = 0;; depth++) {
                const Item *it, *next;
                size_t i;

                if (mark)
                        n->dirty = true;
                if (n->leaf) {
                        *ret = n;
                        return 0;
                }
                if (depth >= DEPTH_MAX)
                        return set_message(tx->message, -EBADMSG, "Bucket \"%s\" is more than %u levels deep", b->name,
                                           DEPTH_MAX);
                if (n->n_items == 0)
                        return set_message(tx->message, -EBADMSG, "Page %" PRIu64 " is an empty branch", n->pgid);

                i = key ? branch_index(n, key, ksize) : n->n_items - 1;
                it = &n->items[i];
                next = i + 1 < n->n_items ? &n->items[i + 1] : hi;
                if (!it->child) {
                        Node *c = NULL;

                        r = node_read(tx, it->pgid, &c);
                        if (r < 0)
                                return r;
                        if (c->n_items == 0)
                                return set_message(tx->message, -EBADMSG, "Page %" PRIu64 " is empty but has a parent", c->pgid);
                        if (key_cmp(c->items[0].key, c->items[0].ksize, it->key, it->ksize) < 0 ||
                            (next && key_cmp(c->items[c->n_items - 1].key, c->items[c->n_items - 1].ksize,
                                             next->key, next->ksize) >= 0))
                                return set_message(tx->message, -EBADMSG,
                                                   "Page %" PRIu64 " holds keys outside the range its parent gives it", c->pgid);
                        n->items[i].child = c;
                }
                hi = next;
                n = it->child;
        }
}

/* Opens the bucket called name in the root bucket, inline or not. */
static int bucket_open(Tx *tx, const char *name, Bucket *ret) {
        size_t ksize = strlen(name), i;
        const Item *it;
        Node *leaf = NULL, *n = NULL;
        bool found;
        uint64_t root;
        int r;

        r = bucket_descend(tx, &tx->root, (const uint8_t *) name, ksize, false, &leaf);
        if (r < 0)
                return r;
        i = leaf_index(leaf, (const uint8_t *) name, ksize, &found);
        if (!found)
                return set_message(tx->message, -EBADMSG, "No bucket \"%s\": not an etcd database", name);
        it = &leaf->items[i];
        if (!(it->flags & LEAF_BUCKET) || it->vsize < BUCKET_HEADER_SIZE)
                return set_message(tx->message, -EBADMSG, "\"%s\" in the root bucket is not a bucket", name);
        root = get64(it->value);

        if (root == 0) {
                char where[64];

                if (it->vsize < BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE || get16(it->value + BUCKET_HEADER_SIZE + 8) != PAGE_LEAF)
                        return set_message(tx->message, -EBADMSG, "Bucket \"%s\" is inline but holds no leaf page", name);
                r = node_new(tx, &n);
                if (r < 0)
                        return r;
                (void) snprintf(where, sizeof(where), "The inline page of bucket \"%s\"", name);
                r = node_parse(tx, n, it->value + BUCKET_HEADER_SIZE, it->vsize - BUCKET_HEADER_SIZE, where);
        } else if (it->vsize != BUCKET_HEADER_SIZE)
                return set_message(tx->message, -EBADMSG, "Bucket \"%s\" has both a root page and an inline page", name);
        else
                r = node_read(tx, root, &n);
        if (r < 0)
                return r;

        *ret = (Bucket) { .name = name, .root = n, .sequence = get64(it->value + 8) };
        return 0;
}

/* The plain value of key in bucket b; NULL if there is none. */
static int bucket_get(Tx *tx, Bucket *b, const char *key, const Item **ret) {
        size_t ksize = strlen(key), i;
        Node *leaf = NULL;
        bool found;
        int r;

        r = bucket_descend(tx, b, (const uint8_t *) key, ksize, false, &leaf);
        if (r < 0)
                return r;
        i = leaf_index(leaf, (const uint8_t *) key, ksize, &found);
        if (found && (leaf->items[i].flags & LEAF_BUCKET))
                return set_message(tx->message, -EBADMSG, "\"%s\" in bucket \"%s\" is a bucket, not a value", key, b->name);
        *ret = found ? &leaf->items[i] : NULL;
        return 0;
}

/* Sets key to value in bucket b. key and value must outlive the transaction. */
static int bucket_put(Tx *tx, Bucket *b, const uint8_t *key, size_t ksize, const uint8_t *value, size_t vsize,
                      uint32_t flags) {
        Node *leaf = NULL;
        Item *it;
        bool found;
        size_t i;
        int r;

        r = bucket_descend(tx, b, key, ksize, true, &leaf);
        if (r < 0)
                return r;
        i = leaf_index(leaf, key, ksize, &found);
        if (found) {
                if ((leaf->items[i].flags ^ flags) & LEAF_BUCKET)
                        return set_message(tx->message, -EBADMSG, "A key of bucket \"%s\" is a bucket and a value at once",
                                           b->name);
        } else {
                Item *a = reallocarray(leaf->items, leaf->n_items + 1, sizeof(Item));
                if (!a)
                        return -ENOMEM;
                leaf->items = a;
                memmove(a + i + 1, a + i, (leaf->n_items - i) * sizeof(Item));
                leaf->n_items++;
        }
        it = &leaf->items[i];
        *it = (Item) { .key = key, .ksize = (uint32_t) ksize, .value = value, .vsize = (uint32_t) vsize, .flags = flags };
        return 0;
}

/* ---- writing ----------------------------------------------------------------------------- */

static size_t item_size(const Node *n, const Item *it) {
        return ELEMENT_SIZE + it->ksize + (n->leaf ? it->vsize : 0);
}

/* The end of the run of items from start that goes into one node: as many as fit in a page, and
 * at least one. A branch keeps two at least and leaves no single one behind, because bbolt's
 * rebalance() asserts that a parent has two children (node.go; splitIndex() keeps to that too).
 * A run that cannot keep to a page that way continues on overflow pages, like bbolt's own. */
static size_t split_end(const Tx *tx, const Node *n, size_t start, size_t *ret_size) {
        size_t min = n->leaf ? 1 : 2, size = PAGE_HEADER_SIZE, end = start;

        for (; end < n->n_items; end++) {
                size_t s = item_size(n, &n->items[end]);
                if (end - start >= min && (size + s > tx->page_size || end - start >= ELEMENTS_MAX))
                        break;
                size += s;
        }
        if (end < n->n_items && n->n_items - end < min) {
                end = n->n_items - min >= start + min ? n->n_items - min : n->n_items;
                size = PAGE_HEADER_SIZE;
                for (size_t i = start; i < end; i++)
                        size += item_size(n, &n->items[i]);
        }
        *ret_size = size;
        return end;
}

/* Writes items [start, end) of n as one page (node.go write()) at p, zeroed. */
static void node_write(const Node *n, size_t start, size_t end, uint8_t *p, uint64_t pgid, uint32_t overflow) {
        size_t off = PAGE_HEADER_SIZE + (end - start) * ELEMENT_SIZE;

        put64(p, pgid);
        put16(p + 8, n->leaf ? PAGE_LEAF : PAGE_BRANCH);
        put16(p + 10, (uint16_t) (end - start));
        put32(p + 12, overflow);
        for (size_t i = start; i < end; i++) {
                const Item *it = &n->items[i];
                size_t e = PAGE_HEADER_SIZE + (i - start) * ELEMENT_SIZE;

                if (n->leaf) {
                        put32(p + e, it->flags);
                        put32(p + e + 4, (uint32_t) (off - e));
                        put32(p + e + 8, it->ksize);
                        put32(p + e + 12, it->vsize);
                } else {
                        put32(p + e, (uint32_t) (off - e));
                        put32(p + e + 4, it->ksize);
                        put64(p + e + 8, it->pgid);
                }
                memcpy(p + off, it->key, it->ksize);
                off += it->ksize;
                if (n->leaf && it->vsize > 0) {
                        memcpy(p + off, it->value, it->vsize);
                        off += it->vsize;
                }
        }
}

/* Appends pages zeroed pages at the high-water mark; returns the first page's id and memory. */
static int page_alloc(Tx *tx, uint64_t pages, uint64_t *ret_pgid, uint8_t **ret) {
        size_t old = (size_t) tx->out_pages * tx->page_size, add = (size_t) pages * tx->page_size;
        uint8_t *a;

        a = realloc(tx->out, old + add);
        if (!a)
                return -ENOMEM;
        memset(a + old, 0, add);
        tx->out = a;
        *ret_pgid = tx->meta.pgid + tx->out_pages;
        tx->out_pages += pages;
        *ret = a + old;
        return 0;
}

/* Writes n to new pages, after every changed node below it, splitting it where it outgrew a
 * page; returns the branch items pointing at the new pages (one per part). */
static int node_spill(Tx *tx, Node *n, Item **ret, size_t *ret_n) {
        _cleanup_free_ Item *parts = NULL;
        size_t n_parts = 0, start = 0;
        int r;

        if (!n->leaf) {
                /* A changed child is replaced by the parts it was written as. */
                for (size_t i = 0; i < n->n_items; i++) {
                        _cleanup_free_ Item *sub = NULL;
                        size_t n_sub = 1;
                        Item *a;

                        if (n->items[i].child && n->items[i].child->dirty) {
                                r = node_spill(tx, n->items[i].child, &sub, &n_sub);
                                if (r < 0)
                                        return r;
                        }
                        a = reallocarray(parts, n_parts + n_sub, sizeof(Item));
                        if (!a)
                                return -ENOMEM;
                        parts = a;
                        if (sub)
                                memcpy(parts + n_parts, sub, n_sub * sizeof(Item));
                        else
                                parts[n_parts] = n->items[i];
                        n_parts += n_sub;
                }
                free(n->items);
                n->items = TAKE_PTR(parts);
                n->n_items = n_parts;
                n_parts = 0;
        }

        do {
                size_t size, end = split_end(tx, n, start, &size);
                uint64_t pages = DIV_ROUND_UP(size, tx->page_size), pgid;
                uint8_t *p;
                Item *a;

                r = page_alloc(tx, pages, &pgid, &p);
                if (r < 0)
                        return r;
                node_write(n, start, end, p, pgid, (uint32_t) (pages - 1));

                a = reallocarray(parts, n_parts + 1, sizeof(Item));
                if (!a)
                        return -ENOMEM;
                parts = a;
                parts[n_parts++] = end > start ? (Item) { .key = n->items[start].key, .ksize = n->items[start].ksize, .pgid = pgid }
                                               : (Item) { .pgid = pgid };
                start = end;
        } while (start < n->n_items);

        *ret = TAKE_PTR(parts);
        *ret_n = n_parts;
        return 0;
}

/* bucket.go inlineable(): a single leaf without sub-buckets, at most a quarter page. */
static bool node_inlineable(const Tx *tx, const Node *n) {
        size_t size = PAGE_HEADER_SIZE;

        if (!n->leaf)
                return false;
        for (size_t i = 0; i < n->n_items; i++) {
                size += item_size(n, &n->items[i]);
                if ((n->items[i].flags & LEAF_BUCKET) || size > tx->page_size / 4)
                        return false;
        }
        return true;
}

/* Writes the changed nodes of b and makes b->value its new value in the root bucket (for the
 * root bucket itself: value holds the new root page). */
static int bucket_spill(Tx *tx, Bucket *b, bool may_inline) {
        _cleanup_free_ Item *parts = NULL;
        size_t n_parts, size;
        int r;

        if (may_inline && node_inlineable(tx, b->root)) {
                (void) split_end(tx, b->root, 0, &size);
                b->value_size = BUCKET_HEADER_SIZE + size;
                b->value = calloc(1, b->value_size);
                if (!b->value)
                        return -ENOMEM;
                put64(b->value + 8, b->sequence);
                node_write(b->root, 0, b->root->n_items, b->value + BUCKET_HEADER_SIZE, 0, 0);
                return 0;
        }

        r = node_spill(tx, b->root, &parts, &n_parts);
        if (r < 0)
                return r;
        /* The root split: a new root above the parts, until one page holds them. */
        while (n_parts > 1) {
                Node *up = NULL;

                r = node_new(tx, &up);
                if (r < 0)
                        return r;
                up->items = TAKE_PTR(parts);
                up->n_items = n_parts;
                up->dirty = true;
                r = node_spill(tx, up, &parts, &n_parts);
                if (r < 0)
                        return r;
        }

        b->value_size = BUCKET_HEADER_SIZE;
        b->value = calloc(1, b->value_size);
        if (!b->value)
                return -ENOMEM;
        put64(b->value, parts[0].pgid);
        put64(b->value + 8, b->sequence);
        return 0;
}

/* ---- transactions ------------------------------------------------------------------------ */

static int tx_open(Tx *tx, int fd, char **ret_message) {
        _cleanup_free_ uint8_t *head = NULL;
        struct stat st;
        size_t size;
        int r;

        *tx = (Tx) { .fd = fd, .message = ret_message };
        if (fstat(fd, &st) < 0)
                return set_message(ret_message, -errno, "Cannot stat the database: %m");
        if (!S_ISREG(st.st_mode))
                return set_message(ret_message, -EBADMSG, "The database is not a regular file");
        tx->file_size = (uint64_t) st.st_size;

        size = (size_t) MIN(tx->file_size, (uint64_t) BBOLT_HEADER_MAX);
        head = malloc(MAX(size, 1U));
        if (!head)
                return -ENOMEM;
        r = pread_full(fd, head, size, 0);
        if (r == -EBADMSG)
                return set_message(ret_message, -EBADMSG, "The database shrank while it was read");
        if (r < 0)
                return set_message(ret_message, r, "Cannot read the database header: %s", strerror(-r));
        r = header_check(head, size, tx->file_size, &tx->meta, &tx->meta_index, ret_message);
        if (r < 0)
                return r;
        tx->page_size = tx->meta.page_size;

        r = node_read(tx, tx->meta.root, &tx->root.root);
        if (r < 0)
                return r;
        tx->root.name = "(root)";
        tx->root.sequence = tx->meta.sequence;
        r = bucket_open(tx, KEY_BUCKET, &tx->key);
        if (r < 0)
                return r;
        return bucket_open(tx, META_BUCKET, &tx->meta_bucket);
}

static int revision_parse(Tx *tx, const Item *it, const char *what, int64_t *ret_main, int64_t *ret_sub) {
        uint64_t main = 0, sub = 0;

        if (!it) {
                *ret_main = -1;
                return 0;
        }
        if ((it->ksize != REVISION_SIZE && it->ksize != REVISION_SIZE + 1) || it->key[8] != '_' ||
            (it->ksize == REVISION_SIZE + 1 && it->key[REVISION_SIZE] != 't'))
                return set_message(tx->message, -EBADMSG, "%s is not an etcd revision", what);
        for (unsigned i = 0; i < 8; i++) {
                main = main << 8 | it->key[i];
                sub = sub << 8 | it->key[9 + i];
        }
        if (main > INT64_MAX || sub > INT64_MAX)
                return set_message(tx->message, -EBADMSG, "%s is a negative revision", what);
        *ret_main = (int64_t) main;
        if (ret_sub)
                *ret_sub = (int64_t) sub;
        return 0;
}

/* A meta bucket value is a revision key (17 bytes); revision_parse takes it as a key. */
static int compact_revision(Tx *tx, const char *key, int64_t *ret) {
        const Item *it;
        Item as_key = {};
        char what[64];
        int r;

        r = bucket_get(tx, &tx->meta_bucket, key, &it);
        if (r < 0)
                return r;
        if (it && it->vsize != REVISION_SIZE)
                return set_message(tx->message, -EBADMSG, "\"%s\" in bucket \"meta\" is not an etcd revision", key);
        if (it)
                as_key = (Item) { .key = it->value, .ksize = it->vsize };
        (void) snprintf(what, sizeof(what), "\"%s\" in bucket \"meta\"", key);
        return revision_parse(tx, it ? &as_key : NULL, what, ret, NULL);
}

static int tx_revisions(Tx *tx, BboltRevisions *ret) {
        Node *leaf = NULL;
        int r;

        *ret = (BboltRevisions) {};
        r = bucket_descend(tx, &tx->key, NULL, 0, false, &leaf);
        if (r < 0)
                return r;
        if (leaf->n_items > 0) {
                const Item *last = &leaf->items[leaf->n_items - 1];
                if (last->flags & LEAF_BUCKET)
                        return set_message(tx->message, -EBADMSG, "Bucket \"key\" holds a bucket");
                r = revision_parse(tx, last, "The last key of bucket \"key\"", &ret->latest, &ret->latest_sub);
                if (r < 0)
                        return r;
        }
        r = compact_revision(tx, SCHEDULED_COMPACT_KEY, &ret->scheduled_compact);
        if (r < 0)
                return r;
        return compact_revision(tx, FINISHED_COMPACT_KEY, &ret->finished_compact);
}

/* Puts the new pages, then the meta page not in use, on disk, syncing after each. */
static int tx_commit(Tx *tx, uint64_t root) {
        _cleanup_free_ uint8_t *page = NULL;
        unsigned index = 1 - tx->meta_index;
        Meta m = tx->meta;
        int r;

        page = calloc(1, tx->page_size);
        if (!page)
                return -ENOMEM;

        r = pwrite_full(tx->fd, tx->out, (size_t) tx->out_pages * tx->page_size, (off_t) (tx->meta.pgid * tx->page_size));
        if (r >= 0 && fdatasync(tx->fd) < 0)
                r = -errno;
        if (r < 0) {
                /* Nothing refers to these pages; give back what the file grew by. Should that fail
                 * too, the file is only longer (bbolt reads no page past the meta page's pgid),
                 * but it is no longer the size it had: say so. */
                if ((tx->meta.pgid + tx->out_pages) * tx->page_size > tx->file_size &&
                    ftruncate(tx->fd, (off_t) tx->file_size) < 0)
                        return set_message(tx->message, r, "Cannot write the new pages: %s (nor truncate the file back to %" PRIu64 " bytes: %m)",
                                           strerror(-r), tx->file_size);
                return set_message(tx->message, r, "Cannot write the new pages: %s", strerror(-r));
        }

        /* bbolt puts txid t on meta page t % 2; keep that, and never overwrite the meta page in
         * use (a snapshot's meta pages, written by tx.WriteTo, need not follow the rule). */
        m.txid += (m.txid + 1) % 2 == index ? 1 : 2;
        m.root = root;
        m.freelist = PGID_NO_FREELIST;
        m.pgid = tx->meta.pgid + tx->out_pages;
        meta_encode(&m, index, page);
        r = pwrite_full(tx->fd, page, tx->page_size, (off_t) index * tx->page_size);
        if (r >= 0 && fdatasync(tx->fd) < 0)
                r = -errno;
        if (r < 0)
                return set_message(tx->message, r, "Cannot write meta page %u: %s", index, strerror(-r));
        return 0;
}

static int lock_fd(int fd, int operation, char **ret_message) {
        if (flock(fd, operation | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return set_message(ret_message, -EBUSY, "The database is in use (bbolt's lock is held)");
                return set_message(ret_message, -errno, "Cannot lock the database: %m");
        }
        return 0;
}

int bbolt_lock_held(int fd) {
        int r = lock_fd(fd, LOCK_SH, NULL);

        if (r == -EBUSY)
                return 1;
        if (r < 0)
                return r;
        (void) flock(fd, LOCK_UN);
        return 0;
}

int bbolt_read_revisions(int fd, BboltRevisions *ret, char **ret_message) {
        Tx tx;
        int r;

        r = lock_fd(fd, LOCK_SH, ret_message);
        if (r < 0)
                return r;
        r = tx_open(&tx, fd, ret_message);
        if (r >= 0)
                r = tx_revisions(&tx, ret);
        tx_done(&tx);
        (void) flock(fd, LOCK_UN);
        return r;
}

static int bump(Tx *tx, uint64_t n, BboltRevisions *ret_before) {
        static const uint8_t empty[1];
        BboltRevisions before;
        uint64_t rev;
        int r;

        r = tx_revisions(tx, &before);
        if (r < 0)
                return r;
        if (n > (uint64_t) INT64_MAX - (uint64_t) before.latest)
                return set_message(tx->message, -EOVERFLOW, "Revision %" PRIi64 " plus %" PRIu64 " is past etcd's largest revision",
                                   before.latest, n);
        rev = (uint64_t) before.latest + n;
        for (unsigned i = 0; i < 8; i++)
                tx->revision[i] = (uint8_t) (rev >> (56 - 8 * i));
        tx->revision[8] = '_';

        /* modifyLatestRevision: the dummy key makes it the latest revision (on 3.4.23 nothing
         * else raises it), the scheduled compaction marks everything older compacted. */
        r = bucket_put(tx, &tx->key, tx->revision, REVISION_SIZE, empty, 0, 0);
        if (r < 0)
                return r;
        r = bucket_put(tx, &tx->meta_bucket, (const uint8_t *) SCHEDULED_COMPACT_KEY, strlen(SCHEDULED_COMPACT_KEY),
                       tx->revision, REVISION_SIZE, 0);
        if (r < 0)
                return r;

        /* The root bucket's paths to both were read when they were opened: nothing is read from
         * here on, so nothing below can meet a bad page after a byte was written. */
        r = bucket_spill(tx, &tx->key, true);
        if (r < 0)
                return r;
        r = bucket_spill(tx, &tx->meta_bucket, true);
        if (r < 0)
                return r;
        r = bucket_put(tx, &tx->root, (const uint8_t *) KEY_BUCKET, strlen(KEY_BUCKET), tx->key.value,
                       tx->key.value_size, LEAF_BUCKET);
        if (r < 0)
                return r;
        r = bucket_put(tx, &tx->root, (const uint8_t *) META_BUCKET, strlen(META_BUCKET), tx->meta_bucket.value,
                       tx->meta_bucket.value_size, LEAF_BUCKET);
        if (r < 0)
                return r;
        r = bucket_spill(tx, &tx->root, false);
        if (r < 0)
                return r;

        r = tx_commit(tx, get64(tx->root.value));
        if (r < 0)
                return r;
        if (ret_before)
                *ret_before = before;
        return 0;
}

int bbolt_bump_revision(int fd, uint64_t n, BboltRevisions *ret_before, char **ret_message) {
        Tx tx;
        int r;

        if (n == 0 || n > INT64_MAX)
                return set_message(ret_message, -EINVAL, "A revision bump of %" PRIu64 " is not possible", n);
        r = lock_fd(fd, LOCK_EX, ret_message);
        if (r < 0)
                return r;
        r = tx_open(&tx, fd, ret_message);
        if (r >= 0)
                r = bump(&tx, n, ret_before);
        tx_done(&tx);
        (void) flock(fd, LOCK_UN);
        return r;
}
