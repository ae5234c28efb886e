/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The revision bump of agent/bbolt.c on databases the real etcd 3.4.23 wrote. One etcd, a plain
 * child process on free loopback ports, is filled step by step; at each step its snapshot is
 * saved and restored with etcdctl as a restore would, bumped, walked by the independent checker
 * (bbolt-check.py, argv[1]), and etcd is started on the result: it must serve every key as
 * before, at revision latest + N, with everything older compacted. Refusals are checked on
 * damaged copies, byte for byte unchanged. Needs etcd, etcdctl, jq and python3: their absence
 * fails the test, it does not skip it.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "bbolt.h"
#include "fs-util.h"
#include "string-util.h"
#include "tap.h"

#define BUMP_SMALL 1000ULL
#define BUMP_DEFAULT 1000000000ULL
/* What the bump adds to the right-most leaf of bucket "key": an element and a 17-byte key. */
#define BUMP_ITEM_SIZE 33
#define DB_MAX (64U * 1024U * 1024U)

static char tmp[] = "/tmp/test-bbolt-XXXXXX";
static const char *checker;

typedef struct Etcd {
        pid_t pid;
        char endpoint[64];
        char log[256];
} Etcd;

static Etcd source;
static Etcd *running[4]; /* for the exit handler: etcd processes still up */

/* Runs a shell command; its stdout goes to *ret_out, its stderr to ours (meson's log, never
 * the TAP stream). Returns the exit status, 128+N for a signal. */
_printf_(2, 3) static int run(char **ret_out, const char *format, ...) {
        _cleanup_free_ char *command = NULL;
        char *out = NULL, buf[65536];
        size_t size = 0, k;
        FILE *f, *mem;
        va_list ap;
        int status, r;

        va_start(ap, format);
        r = vasprintf(&command, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        fflush(stdout);
        f = popen(command, "re");
        if (!f)
                return -errno;
        mem = open_memstream(&out, &size);
        while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
                if (mem)
                        (void) fwrite(buf, 1, k, mem);
        status = pclose(f);
        if (mem)
                fclose(mem);
        if (ret_out)
                *ret_out = out;
        else
                free(out);
        if (status < 0)
                return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The integer after " key=" in the checker's output; INT64_MIN if absent. */
static int64_t word(const char *s, const char *key) {
        size_t n = strlen(key);

        for (const char *p = s; p && (p = strstr(p, key)); p += n)
                if ((p == s || p[-1] == ' ') && p[n] == '=')
                        return strtoll(p + n + 1, NULL, 10);
        return INT64_MIN;
}

static unsigned free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *) &a, &len) < 0)
                a.sin_port = 0;
        safe_close(fd);
        return ntohs(a.sin_port);
}

static void etcd_stop(Etcd *e) {
        if (e->pid <= 0)
                return;
        (void) kill(e->pid, SIGTERM);
        for (int i = 0; i < 100 && waitpid(e->pid, NULL, WNOHANG) == 0; i++)
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        if (kill(e->pid, 0) == 0) {
                (void) kill(e->pid, SIGKILL);
                (void) waitpid(e->pid, NULL, 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(running); i++)
                if (running[i] == e)
                        running[i] = NULL;
        e->pid = 0;
}

/* Starts etcd 3.4.23 as member "t" on data_dir and waits until it answers. peer_port is the
 * one the data dir's membership names (0: a new member). */
static bool etcd_start(Etcd *e, const char *name, const char *data_dir, unsigned peer_port) {
        char peer[64], cluster[80];
        unsigned client_port = free_port();

        if (peer_port == 0)
                peer_port = free_port();
        *e = (Etcd) {};
        (void) snprintf(e->endpoint, sizeof(e->endpoint), "http://127.0.0.1:%u", client_port);
        (void) snprintf(e->log, sizeof(e->log), "%s/%s.log", tmp, name);
        (void) snprintf(peer, sizeof(peer), "http://127.0.0.1:%u", peer_port);
        (void) snprintf(cluster, sizeof(cluster), "t=%s", peer);

        fflush(stdout);
        e->pid = fork();
        if (e->pid < 0)
                return false;
        if (e->pid == 0) {
                /* etcd takes ETCD_* variables for flags: it gets none of ours. */
                char *env[] = { (char *) "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
                char *argv[] = { (char *) "etcd", (char *) "--name", (char *) "t", (char *) "--data-dir", (char *) data_dir,
                                 (char *) "--listen-client-urls", e->endpoint, (char *) "--advertise-client-urls", e->endpoint,
                                 (char *) "--listen-peer-urls", peer, (char *) "--initial-advertise-peer-urls", peer,
                                 (char *) "--initial-cluster", cluster, (char *) "--max-txn-ops", (char *) "20000",
                                 (char *) "--logger", (char *) "zap", (char *) "--log-outputs", (char *) "stderr", NULL };
                int fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), null = open("/dev/null", O_RDONLY);

                if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        _exit(126);
                execvpe("etcd", argv, env);
                _exit(127);
        }
        for (size_t i = 0; i < ELEMENTSOF(running); i++)
                if (!running[i]) {
                        running[i] = e;
                        break;
                }
        for (int i = 0; i < 300; i++) {
                if (waitpid(e->pid, NULL, WNOHANG) != 0) {
                        printf("# etcd on %s exited, see %s\n", data_dir, e->log);
                        e->pid = 0;
                        return false;
                }
                if (run(NULL, "etcdctl --endpoints=%s --command-timeout=1s endpoint health >/dev/null 2>&1", e->endpoint) == 0)
                        return true;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        }
        printf("# etcd on %s did not answer, see %s\n", data_dir, e->log);
        etcd_stop(e);
        return false;
}

static void cleanup(void) {
        for (size_t i = 0; i < ELEMENTSOF(running); i++)
                if (running[i])
                        etcd_stop(running[i]);
        if (!getenv("KEEP_TMP"))
                (void) run(NULL, "rm -rf %s", tmp);
}

/* Every key as etcd serves it, with its revisions and version. */
static char *keys_json(const Etcd *e) {
        char *out = NULL;

        if (run(&out, "etcdctl --endpoints=%s get '' --prefix -w json | jq -c '[.kvs[]?|[.key,.create_revision,.mod_revision,.version,.value]]'",
                e->endpoint) != 0)
                out = mfree(out);
        return out;
}

/* A number etcdctl prints: jq's filter applied to the JSON of `etcdctl ARGS -w json`. */
static int64_t json_number(const Etcd *e, const char *args, const char *filter) {
        _cleanup_free_ char *out = NULL;

        if (run(&out, "etcdctl --endpoints=%s %s -w json | jq '%s'", e->endpoint, args, filter) != 0 || !out)
                return INT64_MIN;
        return strtoll(out, NULL, 10);
}

static bool put(const char *key, const char *value) {
        return run(NULL, "etcdctl --endpoints=%s put '%s' '%s' >/dev/null", source.endpoint, key, value) == 0;
}

/* A restored data dir and what it must serve once bumped. */
typedef struct Case {
        char name[32];
        char dir[256], db[300], snapshot[256];
        unsigned peer_port;
        char *keys;
        BboltRevisions before;
} Case;

static void case_done(Case *c) {
        c->keys = mfree(c->keys);
}

static bool read_revisions(const char *path, BboltRevisions *ret) {
        _cleanup_free_ char *message = NULL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        int r;

        r = fd < 0 ? -errno : bbolt_read_revisions(fd, ret, &message);
        if (r < 0)
                printf("# reading %s: %s\n", path, message ?: strerror(-r));
        return r >= 0;
}

static int bump(const char *path, uint64_t n, BboltRevisions *ret_before, char **ret_message) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return bbolt_bump_revision(fd, n, ret_before, ret_message);
}

/* etcdctl snapshot restore of snapshot into a new data dir, as the restore stages one. */
static bool case_restore(Case *c, const char *name, const char *snapshot) {
        (void) snprintf(c->name, sizeof(c->name), "%s", name);
        (void) snprintf(c->dir, sizeof(c->dir), "%s/%s", tmp, name);
        (void) snprintf(c->db, sizeof(c->db), "%s/member/snap/db", c->dir);
        c->peer_port = free_port();
        if (run(NULL, "etcdctl snapshot restore %s --name t --initial-cluster t=http://127.0.0.1:%u "
                      "--initial-advertise-peer-urls http://127.0.0.1:%u --data-dir %s >>%s/etcdctl.log 2>&1",
                snapshot, c->peer_port, c->peer_port, c->dir, tmp) != 0)
                return false;
        return read_revisions(c->db, &c->before);
}

/* The source's snapshot now, its keys, and its restore, whose latest revision must be the one
 * etcd reported. */
static bool case_stage(Case *c, const char *name) {
        int64_t revision;

        *c = (Case) {};
        (void) snprintf(c->snapshot, sizeof(c->snapshot), "%s/%s.snapshot", tmp, name);
        if (run(NULL, "etcdctl --endpoints=%s snapshot save %s >>%s/etcdctl.log 2>&1", source.endpoint, c->snapshot, tmp) != 0)
                return false;
        c->keys = keys_json(&source);
        revision = json_number(&source, "endpoint status", ".[0].Status.header.revision");
        if (!c->keys || !case_restore(c, name, c->snapshot))
                return false;
        CHECK_EQ(c->before.latest, revision);
        return true;
}

/* The checker's words about a database; NULL if it finds it unsound. */
static char *check(const char *path) {
        char *out = NULL;

        if (run(&out, "python3 %s check %s", checker, path) != 0)
                out = mfree(out);
        else
                printf("# %s: %s", path, out);
        return out;
}

/* Puts keys into the source until the right-most leaf of bucket "key" has less room than the
 * bump's entry takes (want_inline: while the bucket is still inline), measured on a snapshot
 * each round: one put as large as the room minus a little; a put that overshoots splits the
 * leaf (or moves the bucket to a page) and the next round fills the new one. */
static char *fill_right_most(const char *prefix, bool want_inline) {
        for (int i = 0; i < 10; i++) {
                _cleanup_free_ char *words = NULL, *value = NULL;
                char probe[300], key[64];
                int64_t room, v;

                (void) snprintf(probe, sizeof(probe), "%s/probe.snapshot", tmp);
                if (run(NULL, "rm -f %s; etcdctl --endpoints=%s snapshot save %s >>%s/etcdctl.log 2>&1", probe,
                        source.endpoint, probe, tmp) != 0)
                        return NULL;
                words = check(probe);
                room = word(words, "key_room");
                if (word(words, "key_inline") != want_inline && want_inline)
                        return NULL;
                if (word(words, "key_inline") == want_inline && room >= 0 && room < BUMP_ITEM_SIZE &&
                    word(words, "last_leaf_overflow") <= 0)
                        return TAKE_PTR(words);

                /* element + 17-byte revision + KeyValue protobuf (key, revisions, version, value) */
                (void) snprintf(key, sizeof(key), "%s%02d", prefix, i);
                v = room - BUMP_ITEM_SIZE - 12 - (int64_t) strlen(key) - 16;
                if (v < 1) {
                        if (want_inline)
                                return NULL;
                        v = 2000;
                }
                value = malloc((size_t) v + 1);
                if (!value)
                        return NULL;
                memset(value, 'x', (size_t) v);
                value[v] = 0;
                if (!put(key, value))
                        return NULL;
        }
        return NULL;
}

static bool log_has(const char *path, const char *what) {
        _cleanup_free_ char *log = NULL;

        return read_full_file(path, DB_MAX, &log, NULL) >= 0 && strstr(log, what);
}

/* Everything a bump by n must have done to the restored data dir of c, as the independent
 * checker and etcd itself see it. */
static void case_verify(Case *c, uint64_t n, char **ret_words) {
        _cleanup_free_ char *words = NULL, *keys = NULL, *out = NULL, *message = NULL, *expect = NULL;
        int64_t bumped = c->before.latest + (int64_t) n;
        BboltRevisions after;
        Etcd e;

        words = check(c->db);
        CHECK(words);
        CHECK_EQ(word(words, "latest"), bumped);
        CHECK_EQ(word(words, "latest_sub"), 0);
        CHECK_EQ(word(words, "scheduled"), bumped);
        CHECK_EQ(word(words, "finished"), c->before.finished_compact);
        CHECK(words && strstr(words, " freelist=none "));
        CHECK(read_revisions(c->db, &after));
        CHECK_EQ(after.latest, bumped);
        CHECK_EQ(after.scheduled_compact, bumped);
        CHECK_EQ(after.finished_compact, c->before.finished_compact);
        if (ret_words)
                *ret_words = strdup(strempty(words));

        /* etcd compacts the database as it starts: the checker's view of the bump ends here. */
        if (!etcd_start(&e, c->name, c->dir, c->peer_port)) {
                CHECK(!"etcd starts on the bumped data dir");
                return;
        }
        CHECK_EQ(json_number(&e, "endpoint status", ".[0].Status.header.revision"), bumped);
        keys = keys_json(&e);
        CHECK(keys && streq(keys, c->keys));
        /* The oldest revision that still held every key is gone. */
        CHECK(run(&out, "etcdctl --endpoints=%s get '' --prefix --rev %" PRIi64 " 2>&1", e.endpoint, c->before.latest) != 0);
        CHECK(out && strstr(out, "required revision has been compacted"));
        /* etcd holds bbolt's lock: the bump refuses to touch a database in use. */
        CHECK_EQ(bump(c->db, n, NULL, &message), -EBUSY);
        CHECK_EQ(json_number(&e, "put bbolt-test-new value", ".header.revision"), bumped + 1);
        for (int i = 0; i < 100 && !log_has(e.log, "finished scheduled compaction"); i++)
                (void) nanosleep(&(struct timespec) { .tv_nsec = 100 * 1000 * 1000 }, NULL);
        CHECK(log_has(e.log, "\"msg\":\"resume scheduled compaction\""));
        CHECK(asprintf(&expect, "\"scheduled-compact-revision\":%" PRIi64 "}", bumped) > 0);
        CHECK(log_has(e.log, expect));
        CHECK(log_has(e.log, "\"msg\":\"finished scheduled compaction\""));
        etcd_stop(&e);
}

/* ret_words: what the checker says of the bumped database, before etcd touched it. */
static void bump_and_verify(Case *c, uint64_t n, char **ret_words) {
        _cleanup_free_ char *message = NULL;
        BboltRevisions before;
        int r;

        r = bump(c->db, n, &before, &message);
        if (r < 0)
                printf("# bump of %s: %s\n", c->db, message ?: strerror(-r));
        CHECK_EQ(r, 0);
        CHECK(memcmp(&before, &c->before, sizeof(before)) == 0);
        if (r >= 0)
                case_verify(c, n, ret_words);
}

TEST(inline_key_bucket_never_compacted) {
        _cleanup_free_ char *words = NULL;
        Case c;

        CHECK(put("foo1", "a") && put("foo2", "b") && put("foo3", "c"));
        CHECK(case_stage(&c, "inline"));
        words = check(c.db);
        CHECK_EQ(word(words, "key_inline"), 1);
        CHECK_EQ(c.before.scheduled_compact, -1);
        CHECK_EQ(c.before.finished_compact, -1);
        bump_and_verify(&c, BUMP_SMALL, NULL);
        case_done(&c);
}

TEST(inline_key_bucket_compacted) {
        _cleanup_free_ char *words = NULL;
        Case c;

        CHECK(run(NULL, "etcdctl --endpoints=%s compact 3 >/dev/null", source.endpoint) == 0);
        CHECK(put("foo4", "d"));
        CHECK(case_stage(&c, "compacted"));
        words = check(c.db);
        CHECK_EQ(word(words, "key_inline"), 1);
        CHECK_EQ(c.before.scheduled_compact, 3);
        CHECK_EQ(c.before.finished_compact, 3);
        bump_and_verify(&c, BUMP_DEFAULT, NULL);
        case_done(&c);
}

TEST(inline_key_bucket_outgrows_inline) {
        _cleanup_free_ char *filled = NULL, *after = NULL;
        Case c;

        filled = fill_right_most("/registry/inline/i", true);
        CHECK(filled);
        CHECK(case_stage(&c, "outgrown"));
        bump_and_verify(&c, BUMP_DEFAULT, &after);
        CHECK_EQ(word(after, "key_inline"), 0);
        CHECK_EQ(word(after, "key_depth"), 1);
        case_done(&c);
}

TEST(single_leaf_root_must_split) {
        _cleanup_free_ char *filled = NULL, *after = NULL;
        Case c;

        filled = fill_right_most("/registry/root/r", false);
        CHECK(filled);
        CHECK_EQ(word(filled, "key_depth"), 1);
        CHECK(case_stage(&c, "root-split"));
        bump_and_verify(&c, BUMP_SMALL, &after);
        CHECK_EQ(word(after, "key_depth"), 2);
        CHECK_EQ(word(after, "key_leaves"), 2);
        case_done(&c);
}

/* Kept from the tree case for the page-size and refusal cases: its snapshot and the restored,
 * unbumped database. */
static Case tree;
static char tree_db[300];

TEST(multi_level_tree) {
        _cleanup_free_ char *words = NULL;

        /* 30000 keys in three transactions, single puts, then tombstones, the last one being
         * the latest revision. */
        for (int b = 0; b < 3; b++)
                CHECK(run(NULL, "{ echo; seq -f 'p%%06.0f' %d %d | sed 's|.*|put /registry/pods/& value-&-of-a-pod|'; echo; echo; } | "
                                "etcdctl --endpoints=%s txn >/dev/null", b * 10000 + 1, b * 10000 + 10000, source.endpoint) == 0);
        for (int i = 0; i < 20; i++) {
                char key[64];
                (void) snprintf(key, sizeof(key), "/registry/leases/l%02d", i);
                CHECK(put(key, "lease"));
        }
        CHECK(run(NULL, "{ echo; seq -f 'del /registry/pods/p%%06.0f' 1 7 5000; echo; echo; } | etcdctl --endpoints=%s txn >/dev/null",
                  source.endpoint) == 0);
        CHECK(run(NULL, "etcdctl --endpoints=%s del /registry/pods/p030000 >/dev/null", source.endpoint) == 0);

        CHECK(case_stage(&tree, "tree"));
        words = check(tree.db);
        CHECK_EQ(word(words, "key_inline"), 0);
        CHECK(word(words, "key_depth") >= 3);
        CHECK(word(words, "key_branches") >= 2);
        CHECK_EQ(word(words, "latest_tombstone"), 1);
        (void) snprintf(tree_db, sizeof(tree_db), "%s/tree.db", tmp);
        CHECK(run(NULL, "cp %s %s", tree.db, tree_db) == 0);
        bump_and_verify(&tree, BUMP_DEFAULT, NULL);
}

/* Kept from the split case for the next one. */
static Case split;

TEST(right_most_leaf_must_split) {
        _cleanup_free_ char *filled = NULL, *before = NULL, *after = NULL;

        filled = fill_right_most("/registry/split/s", false);
        CHECK(filled);
        CHECK(case_stage(&split, "split"));
        before = check(split.db);
        CHECK(word(before, "key_depth") >= 3);
        CHECK(word(before, "key_room") < BUMP_ITEM_SIZE);
        bump_and_verify(&split, BUMP_SMALL, &after);
        CHECK_EQ(word(after, "key_leaves"), word(before, "key_leaves") + 1);
}

/* The same full leaf below a full branch: the checker packs every level from the right, so
 * the branch that gets the new leaf has to split too, and keep two children on each side. */
TEST(right_most_branch_must_split) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        Case c = {};

        CHECK(case_restore(&c, "split-branch", split.snapshot));
        CHECK(run(NULL, "python3 %s repage %s %s.new 4096 --from-right && mv %s.new %s", checker, c.db, c.db, c.db, c.db) == 0);
        before = check(c.db);
        CHECK(word(before, "key_room") < BUMP_ITEM_SIZE);
        CHECK(word(before, "key_branch_room") < BUMP_ITEM_SIZE);
        CHECK(read_revisions(c.db, &c.before));
        c.keys = strdup(strempty(split.keys));
        bump_and_verify(&c, BUMP_SMALL, &after);
        CHECK_EQ(word(after, "key_leaves"), word(before, "key_leaves") + 1);
        CHECK_EQ(word(after, "key_branches"), word(before, "key_branches") + 1);
        case_done(&c);
}

TEST(right_most_leaf_on_overflow_pages) {
        _cleanup_free_ char *words = NULL, *value = NULL;
        Case c;

        value = malloc(20001);
        CHECK(value);
        if (!value)
                return;
        memset(value, 'y', 20000);
        value[20000] = 0;
        CHECK(put("/registry/configmaps/big", value));
        CHECK(case_stage(&c, "overflow"));
        words = check(c.db);
        CHECK(word(words, "last_leaf_overflow") >= 4);
        bump_and_verify(&c, BUMP_SMALL, NULL);
        case_done(&c);
}

/* Other page sizes, and a synced freelist: the tree case rebuilt by the checker, which etcd
 * opens like any other (bbolt reads the page size from the meta page). */
TEST(other_page_sizes) {
        static const struct {
                unsigned page_size;
                const char *options;
        } sizes[] = {
                { 1024, "" },
                { 16384, "--freelist" },
                { 65536, "" },
                /* a root bucket of several pages, a deep tree, bucket "meta" on a page of its own */
                { 1024, "--max-items 4 --no-inline" },
        };

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_free_ char *words = NULL;
                char name[32];
                Case c = {};

                (void) snprintf(name, sizeof(name), "pages-%zu-%u", i, sizes[i].page_size);
                CHECK(case_restore(&c, name, tree.snapshot));
                CHECK(run(NULL, "python3 %s repage %s %s.new %u %s && mv %s.new %s", checker, c.db, c.db, sizes[i].page_size,
                          sizes[i].options, c.db, c.db) == 0);
                words = check(c.db);
                CHECK_EQ(word(words, "page_size"), sizes[i].page_size);
                CHECK(words && strstr(words, strstr(sizes[i].options, "--freelist") ? " freelist=synced " : " freelist=none "));
                if (sizes[i].page_size == 1024)
                        CHECK(word(words, "key_depth") >= 4);
                if (strstr(sizes[i].options, "--no-inline"))
                        CHECK(word(words, "root_depth") >= 2 && word(words, "meta_inline") == 0);
                CHECK(read_revisions(c.db, &c.before));
                c.keys = strdup(tree.keys);
                bump_and_verify(&c, BUMP_DEFAULT, NULL);
                case_done(&c);
        }
}

/* A copy of the tree case's database, damaged by f; the bump and the reader must refuse it
 * with -EBADMSG and a message naming what is wrong, and leave every byte as it was. */
static void refused(const char *what, const char *damage, const char *reason) {
        _cleanup_free_ char *message = NULL, *a = NULL, *b = NULL;
        _cleanup_close_ int fd = -EBADF;
        char path[300];
        BboltRevisions rev;
        size_t na = 0, nb = 0;
        int r;

        (void) snprintf(path, sizeof(path), "%s/damaged.db", tmp);
        CHECK(run(NULL, "cp %s %s && %s", tree_db, path, damage) == 0);
        CHECK(read_full_file(path, DB_MAX, &a, &na) >= 0);

        r = bump(path, BUMP_DEFAULT, NULL, &message);
        printf("# %s: %s\n", what, strna(message));
        CHECK_EQ(r, -EBADMSG);
        CHECK(message && strstr(message, reason));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK_EQ(bbolt_read_revisions(fd, &rev, &message), -EBADMSG);
        CHECK(read_full_file(path, DB_MAX, &b, &nb) >= 0);
        CHECK(na == nb && a && b && memcmp(a, b, na) == 0);
}

TEST(damaged_databases_are_refused_untouched) {
        _cleanup_free_ char *flip0 = NULL, *flip1 = NULL, *magic = NULL, *truncate = NULL;
        const char *corrupt[][2] = {
                { "leaf-type", "type 0x10 where a branch or leaf page belongs" },
                { "cycle", "reached twice" },
                { "past-end", "outside the database" },
                { "order", "keys out of order" },
                { "page-id", "calls itself page" },
        };
        char path[300];

        (void) snprintf(path, sizeof(path), "%s/damaged.db", tmp);
        /* One bit of each meta page's txid, the magic, half the file. */
        CHECK(asprintf(&flip0, "printf '\\x01' | dd of=%s bs=1 seek=%d conv=notrunc status=none", path, 16 + 48 + 1) > 0);
        CHECK(asprintf(&flip1, "printf '\\x01' | dd of=%s bs=1 seek=%d conv=notrunc status=none", path, 4096 + 16 + 48 + 1) > 0);
        CHECK(asprintf(&magic, "printf 'XXXX' | dd of=%s bs=1 seek=16 conv=notrunc status=none", path) > 0);
        CHECK(asprintf(&truncate, "truncate -s $(( $(stat -c %%s %s) / 2 )) %s", path, path) > 0);
        refused("meta 0 checksum", flip0, "Meta page 0 is corrupt: its checksum");
        refused("meta 1 checksum", flip1, "Meta page 1 is corrupt: its checksum");
        refused("magic", magic, "Not a bbolt database");
        refused("truncated", truncate, "high-water mark");

        for (size_t i = 0; i < ELEMENTSOF(corrupt); i++) {
                _cleanup_free_ char *damage = NULL;
                CHECK(asprintf(&damage, "python3 %s corrupt %s %s", checker, path, corrupt[i][0]) > 0);
                refused(corrupt[i][0], damage, corrupt[i][1]);
        }
}

TEST(refusals_leave_the_database_as_it_was) {
        _cleanup_free_ char *message = NULL, *a = NULL, *b = NULL;
        _cleanup_close_ int fd = -EBADF, holder = -EBADF;
        char path[300];
        size_t na = 0, nb = 0;

        (void) snprintf(path, sizeof(path), "%s/kept.db", tmp);
        CHECK(run(NULL, "cp %s %s", tree_db, path) == 0);
        CHECK(read_full_file(path, DB_MAX, &a, &na) >= 0);
        fd = open(path, O_RDWR | O_CLOEXEC);
        CHECK(fd >= 0);

        CHECK_EQ(bbolt_bump_revision(fd, 0, NULL, &message), -EINVAL);
        CHECK_EQ(bbolt_bump_revision(fd, (uint64_t) INT64_MAX - (uint64_t) tree.before.latest + 1, NULL, &message),
                 -EOVERFLOW);
        holder = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(holder >= 0 && flock(holder, LOCK_EX) == 0);
        CHECK_EQ(bbolt_bump_revision(fd, BUMP_SMALL, NULL, &message), -EBUSY);
        CHECK(message && strstr(message, "in use"));
        CHECK(read_full_file(path, DB_MAX, &b, &nb) >= 0);
        CHECK(na == nb && a && b && memcmp(a, b, na) == 0);

        /* Once the lock is free, the same descriptor bumps to the largest revision there is. */
        holder = safe_close(holder);
        CHECK_EQ(bbolt_bump_revision(fd, (uint64_t) INT64_MAX - (uint64_t) tree.before.latest, NULL, &message), 0);
        free(b);
        b = check(path);
        CHECK_EQ(word(b, "latest"), INT64_MAX);
}

TEST(header_of_a_snapshot) {
        _cleanup_free_ char *message = NULL;
        _cleanup_free_ uint8_t *head = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        BboltHeader h;
        uint64_t db_size;
        ssize_t n;

        head = malloc(BBOLT_HEADER_MAX);
        fd = open(tree.snapshot, O_RDONLY | O_CLOEXEC);
        CHECK(head && fd >= 0 && fstat(fd, &st) == 0);
        if (!head || fd < 0)
                return;
        n = pread(fd, head, BBOLT_HEADER_MAX, 0);
        db_size = (uint64_t) st.st_size - 32; /* etcd's SHA-256 trailer */
        CHECK(n > 0);

        CHECK_EQ(bbolt_check_header(head, (size_t) n, db_size, &h, &message), 0);
        CHECK_EQ(h.page_size, 4096);
        CHECK(!h.freelist_synced);
        CHECK_EQ(h.high_water * 4096, db_size); /* tx.WriteTo writes exactly the pages in use */
        CHECK(h.root >= 2 && h.root < h.high_water);

        CHECK_EQ(bbolt_check_header(head, 8191, db_size, &h, &message), -EINVAL);
        CHECK_EQ(bbolt_check_header(head, (size_t) n, 6000, &h, &message), -EBADMSG);
        CHECK_EQ(bbolt_check_header(head, (size_t) n, h.high_water * 4096 - 1, &h, &message), -EBADMSG);
        head[4096 + 16 + 40] ^= 1; /* meta 1's high-water mark */
        CHECK_EQ(bbolt_check_header(head, (size_t) n, db_size, &h, &message), -EBADMSG);
        CHECK(message && strstr(message, "Meta page 1 is corrupt"));
        head[4096 + 16 + 40] ^= 1;
        head[17] ^= 0xff;
        CHECK_EQ(bbolt_check_header(head, (size_t) n, db_size, &h, &message), -EBADMSG);
        CHECK(message && strstr(message, "Not a bbolt database"));
}

int main(int argc, char **argv) {
        char data[300];

        if (argc != 2) {
                printf("Bail out! usage: %s BBOLT-CHECK.PY\n", argv[0]);
                return 1;
        }
        checker = argv[1];
        /* CI installs all of these (tools/packages.txt): a missing one is a failure, not a skip. */
        if (run(NULL, "command -v etcd && command -v etcdctl && command -v jq && command -v python3") != 0) {
                printf("Bail out! etcd, etcdctl, jq and python3 are needed (tools/packages.txt)\n");
                return 1;
        }
        if (!mkdtemp(tmp)) {
                printf("Bail out! mkdtemp: %m\n");
                return 1;
        }
        atexit(cleanup);
        setenv("ETCDCTL_API", "3", 1);
        unsetenv("ETCDCTL_ENDPOINTS");
        (void) snprintf(data, sizeof(data), "%s/source", tmp);
        if (!etcd_start(&source, "source", data, 0)) {
                printf("Bail out! etcd does not start\n");
                return 1;
        }

        RUN(inline_key_bucket_never_compacted);
        RUN(inline_key_bucket_compacted);
        RUN(inline_key_bucket_outgrows_inline);
        RUN(single_leaf_root_must_split);
        RUN(multi_level_tree);
        RUN(right_most_leaf_must_split);
        RUN(right_most_branch_must_split);
        RUN(right_most_leaf_on_overflow_pages);
        RUN(other_page_sizes);
        RUN(damaged_databases_are_refused_untouched);
        RUN(refusals_leave_the_database_as_it_was);
        RUN(header_of_a_snapshot);
        case_done(&tree);
        case_done(&split);
        return tap_finish();
}
