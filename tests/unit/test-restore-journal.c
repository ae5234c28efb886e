/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The restore journal: every field round-trips, the write replaces atomically, and the reader
 * refuses what the writer never writes (torn, garbage, doubled, foreign) but skips unknown
 * keys. */

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "restore-journal.h"
#include "string-util.h"
#include "tap.h"

#define ID "9b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"
#define ID2 "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3"

static char tmpdir[] = "/tmp/test-restore-journal.XXXXXX";
static int dir_fd = -EBADF;

/* Every field set, the strings holding what must be escaped. */
static void journal_fill(RestoreJournal *j) {
        *j = RESTORE_JOURNAL_INIT;
        j->id = strdup(ID);
        j->kind = strdup("restore");
        j->backup = strdup("11111111-2222-4333-8444-555555555555");
        j->backup_file = strdup("/var/lib/etcd-backup/default-20261125T100000Z-x.db.zst");
        j->phase = RESTORE_ROLLING_BACK;
        j->error = strdup("etcdctl failed:\n\tline two \\ back\\slash \x01\x1f\x7f é = x=y\n");
        j->error_name = strdup("org.etcdbackup.Agent1.Error.RestoreToolFailed");
        j->started = 1764064800000000ULL;
        j->finished = UINT64_MAX;
        j->downtime_start = 1;
        j->downtime_usec = 12345678;
        j->data_dir = strdup("/var/lib/etcd");
        j->etcd_unit = strdup("etcd.service");
        j->units = strv_free(j->units);
        (void) strv_extend(&j->units, "kube-scheduler.service");
        (void) strv_extend(&j->units, "kube-apiserver.service");
        j->name = strdup("node-1");
        j->initial_cluster = strdup("node-1=https://10.0.0.1:2380,node-2=https://10.0.0.2:2380");
        j->initial_advertise_peer_urls = strdup("https://10.0.0.1:2380");
        j->initial_cluster_token = strdup(" spaces  around ");
        j->tool = strdup("/usr/bin/etcdctl");
        j->revision = 4242;
        j->revision_bump = 1000000000;
        j->staged_revision = 1000004242;
        j->member_inode = 987654321;
        j->start_timeout_usec = 90 * USEC_PER_SEC;
        j->dry_run = true;
        j->previous_data = strdup("/var/lib/etcd/member.before-restore-" ID);
        (void) strv_extend(&j->stopped, "kube-apiserver.service");
        (void) strv_extend(&j->stopped, "pod:kube-apiserver");
        j->etcd_static_pod = strdup("etcd");
        (void) strv_extend(&j->static_pods, "kube-apiserver");
        j->manifest_dir = strdup("/etc/kubernetes/manifests");
        (void) strv_extend(&j->hidden, "pod:kube-apiserver");
        (void) strv_extend(&j->hidden, "pod:etcd");
        j->swapped = true;
        j->resumed = true;
        j->failure_phase = RESTORE_STARTING_ETCD;
}

static bool strv_equal(char **a, char **b) {
        if (strv_length(a) != strv_length(b))
                return false;
        for (size_t i = 0; i < strv_length(a); i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

static bool journal_equal(const RestoreJournal *a, const RestoreJournal *b) {
        return streq_ptr(a->id, b->id) && streq_ptr(a->kind, b->kind) && streq_ptr(a->backup, b->backup) &&
               streq_ptr(a->backup_file, b->backup_file) && a->phase == b->phase && streq_ptr(a->error, b->error) &&
               streq_ptr(a->error_name, b->error_name) && a->started == b->started && a->finished == b->finished &&
               a->downtime_start == b->downtime_start && a->downtime_usec == b->downtime_usec &&
               streq_ptr(a->data_dir, b->data_dir) && streq_ptr(a->etcd_unit, b->etcd_unit) &&
               strv_equal(a->units, b->units) && streq_ptr(a->name, b->name) &&
               streq_ptr(a->initial_cluster, b->initial_cluster) &&
               streq_ptr(a->initial_advertise_peer_urls, b->initial_advertise_peer_urls) &&
               streq_ptr(a->initial_cluster_token, b->initial_cluster_token) && streq_ptr(a->tool, b->tool) &&
               a->revision == b->revision && a->revision_bump == b->revision_bump &&
               a->staged_revision == b->staged_revision && a->member_inode == b->member_inode &&
               a->start_timeout_usec == b->start_timeout_usec && a->dry_run == b->dry_run &&
               streq_ptr(a->previous_data, b->previous_data) && strv_equal(a->stopped, b->stopped) &&
               streq_ptr(a->etcd_static_pod, b->etcd_static_pod) && strv_equal(a->static_pods, b->static_pods) &&
               streq_ptr(a->manifest_dir, b->manifest_dir) && strv_equal(a->hidden, b->hidden) &&
               a->swapped == b->swapped && a->resumed == b->resumed && a->failure_phase == b->failure_phase;
}

static int parse_str(const char *text, RestoreJournal *ret) {
        return restore_journal_parse(text, strlen(text), ret);
}

#define MINIMAL RESTORE_JOURNAL_SIGNATURE "id=" ID "\nkind=restore\nphase=staging\n"

TEST(round_trip_every_field) {
        _cleanup_(restore_journal_done) RestoreJournal j, back = RESTORE_JOURNAL_INIT;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;

        journal_fill(&j);
        CHECK_EQ(restore_journal_format(&j, &text, &size), 0);
        CHECK_EQ(size, strlen(text));
        /* One line per field, nothing raw that would break one. */
        CHECK(strstr(text, "error=etcdctl failed:\\n\\tline two \\\\ back\\\\slash \\x01\\x1f\\x7f é = x=y\\n\n"));
        CHECK(strstr(text, "units=kube-scheduler.service kube-apiserver.service\n"));
        CHECK(strstr(text, "phase=rolling-back\n"));
        CHECK(strstr(text, "finished=18446744073709551615\n"));
        CHECK_EQ(restore_journal_parse(text, size, &back), 0);
        CHECK(journal_equal(&j, &back));
}

TEST(round_trip_defaults_left_out) {
        _cleanup_(restore_journal_done) RestoreJournal j = RESTORE_JOURNAL_INIT, back = RESTORE_JOURNAL_INIT;
        _cleanup_free_ char *text = NULL;
        size_t size;

        j.id = strdup(ID);
        j.kind = strdup("restore");
        j.phase = RESTORE_VERIFYING;
        j.error = strdup(""); /* set but empty is not the same as unset */
        CHECK_EQ(restore_journal_format(&j, &text, &size), 0);
        CHECK_STREQ(text, RESTORE_JOURNAL_SIGNATURE "id=" ID "\nkind=restore\nphase=verifying\nerror=\n");
        CHECK_EQ(restore_journal_parse(text, size, &back), 0);
        CHECK(journal_equal(&j, &back));
        CHECK(back.error && back.error[0] == 0);
        CHECK(!back.units && !back.stopped && !back.backup);
        CHECK_EQ(back.failure_phase, _RESTORE_PHASE_INVALID);
        CHECK(!back.swapped);
}

TEST(format_refuses_what_cannot_be_read_back) {
        _cleanup_(restore_journal_done) RestoreJournal j = RESTORE_JOURNAL_INIT;
        _cleanup_free_ char *text = NULL;
        size_t size;

        j.kind = strdup("restore");
        j.phase = RESTORE_STAGING;
        CHECK_EQ(restore_journal_format(&j, &text, &size), -EINVAL); /* no id */
        j.id = strdup("9B1C2D3E-4F50-4A6B-8C7D-8E9FA0B1C2D3");
        CHECK_EQ(restore_journal_format(&j, &text, &size), -EINVAL); /* not canonical */
        free(j.id);
        j.id = strdup(ID);
        j.phase = _RESTORE_PHASE_INVALID;
        CHECK_EQ(restore_journal_format(&j, &text, &size), -EINVAL); /* no phase */
        j.phase = RESTORE_STAGING;
        (void) strv_extend(&j.units, "a.service");
        (void) strv_extend(&j.units, "two words.service");
        CHECK_EQ(restore_journal_format(&j, &text, &size), -EINVAL);
        j.units = strv_free(j.units);
        (void) strv_extend(&j.units, "");
        CHECK_EQ(restore_journal_format(&j, &text, &size), -EINVAL);
        j.units = strv_free(j.units);
        (void) strv_extend(&j.units, "new\nline.service");
        CHECK_EQ(restore_journal_format(&j, &text, &size), -EINVAL);
        j.units = strv_free(j.units);
        CHECK(!text);

        /* Too big for the reader: the writer says so instead of writing it. */
        j.error = malloc(RESTORE_JOURNAL_SIZE_MAX + 1);
        memset(j.error, 'x', RESTORE_JOURNAL_SIZE_MAX);
        j.error[RESTORE_JOURNAL_SIZE_MAX] = 0;
        CHECK_EQ(restore_journal_format(&j, &text, &size), -EFBIG);
        CHECK_EQ(restore_journal_write(dir_fd, &j), -EFBIG);
        CHECK(faccessat(dir_fd, ID ".restore", F_OK, 0) < 0);
}

TEST(unknown_keys_ignored) {
        _cleanup_(restore_journal_done) RestoreJournal j = RESTORE_JOURNAL_INIT;

        CHECK_EQ(parse_str(MINIMAL "future_key=some value\\n\nrevision=7\nx2=\n", &j), 0);
        CHECK_STREQ(j.id, ID);
        CHECK_EQ(j.phase, RESTORE_STAGING);
        CHECK_EQ(j.revision, 7);
        restore_journal_done(&j);
        /* ...in any order, the known keys still checked. */
        CHECK_EQ(parse_str(RESTORE_JOURNAL_SIGNATURE "phase=failed\nnewer=1\nkind=stop\nid=" ID "\n", &j), 0);
        CHECK_STREQ(j.kind, "stop");
        CHECK_EQ(j.phase, RESTORE_FAILED);
}

TEST(refuses_what_the_writer_never_writes) {
        static const char *const bad[] = {
                "",
                "id=" ID "\nkind=restore\nphase=staging\n",                    /* no signature */
                "# etcd-backup restore journal 2\nid=" ID "\nkind=restore\nphase=staging\n",
                MINIMAL "\n",                                                  /* empty line */
                MINIMAL "# a comment\n",
                MINIMAL "novalue\n",
                MINIMAL "=value\n",
                MINIMAL "Upper=1\n",                                           /* not a key the writer makes */
                MINIMAL "phase=staging\n",                                     /* twice */
                MINIMAL "revision=-1\n",
                MINIMAL "revision=+1\n",
                MINIMAL "revision= 1\n",
                MINIMAL "revision=01\n",
                MINIMAL "revision=18446744073709551616\n",                     /* past uint64 */
                MINIMAL "revision=1x\n",
                MINIMAL "revision=\n",
                MINIMAL "swapped=2\n",
                MINIMAL "swapped=yes\n",
                MINIMAL "failure_phase=nonsense\n",
                MINIMAL "units=\n",
                MINIMAL "units=a.service  b.service\n",
                MINIMAL "units= a.service\n",
                MINIMAL "units=a.service \n",
                MINIMAL "error=raw\ttab\n",
                MINIMAL "error=raw\rcr\n",
                MINIMAL "error=trailing backslash\\\n",
                MINIMAL "error=bad \\q escape\n",
                MINIMAL "error=bad \\x4 escape\n",
                MINIMAL "error=bad \\x4\n",
                MINIMAL "error=bad \\xzz escape\n",
                MINIMAL "error=printable \\x41 escaped\n",
                MINIMAL "error=nul \\x00 escaped\n",
                MINIMAL "error=newline \\x0a as hex\n",
                MINIMAL "error=upper \\X01\n",
                MINIMAL "error=upper hex \\x1F\n",
                MINIMAL "unknown=raw\x01\n",                                   /* an unknown key's value too */
                RESTORE_JOURNAL_SIGNATURE "kind=restore\nphase=staging\n",     /* no id */
                RESTORE_JOURNAL_SIGNATURE "id=" ID "\nphase=staging\n",        /* no kind */
                RESTORE_JOURNAL_SIGNATURE "id=" ID "\nkind=restore\n",         /* no phase */
                RESTORE_JOURNAL_SIGNATURE "id=" ID "\nkind=\nphase=staging\n", /* empty kind */
                RESTORE_JOURNAL_SIGNATURE "id=not-a-uuid\nkind=restore\nphase=staging\n",
                RESTORE_JOURNAL_SIGNATURE "id=9B1C2D3E-4F50-4A6B-8C7D-8E9FA0B1C2D3\nkind=restore\nphase=staging\n",
                RESTORE_JOURNAL_SIGNATURE "id=" ID "\nkind=restore\nphase=staging", /* torn: no newline */
                RESTORE_JOURNAL_SIGNATURE "id=" ID "\nkind=restore\nphase=stag\n",  /* torn mid-value */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                RestoreJournal j;
                int r = parse_str(bad[i], &j);

                if (r != -EBADMSG)
                        printf("#   case %zu: %d\n", i, r);
                CHECK_EQ(r, -EBADMSG);
                CHECK(!j.id && !j.kind && j.phase == _RESTORE_PHASE_INVALID);
        }

        /* An embedded NUL (strlen() would stop at it). */
        {
                static const char nul[] = MINIMAL "error=a\0b\n";
                RestoreJournal j;
                CHECK_EQ(restore_journal_parse(nul, sizeof(nul) - 1, &j), -EBADMSG);
        }
}

TEST(every_truncation_refused) {
        _cleanup_(restore_journal_done) RestoreJournal j;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        unsigned accepted = 0;

        journal_fill(&j);
        CHECK_EQ(restore_journal_format(&j, &text, &size), 0);
        /* A prefix that ends at a line end and still holds id, kind and phase is a valid
         * journal; every other one is refused. None is ever taken for something else. */
        for (size_t n = 0; n < size; n++) {
                RestoreJournal back;
                int r = restore_journal_parse(text, n, &back);

                if (r == 0) {
                        CHECK(n > 0 && text[n - 1] == '\n');
                        CHECK_STREQ(back.id, ID);
                        accepted++;
                        restore_journal_done(&back);
                } else
                        CHECK_EQ(r, -EBADMSG);
        }
        CHECK(accepted > 0);
}

TEST(write_read_replace) {
        _cleanup_(restore_journal_done) RestoreJournal j, back = RESTORE_JOURNAL_INIT;
        struct stat st;

        journal_fill(&j);
        CHECK_EQ(restore_journal_read(dir_fd, ID, &back), -ENOENT);
        CHECK_EQ(restore_journal_write(dir_fd, &j), 0);
        CHECK_EQ(fstatat(dir_fd, ID ".restore", &st, 0), 0);
        CHECK_EQ(st.st_mode & 07777, 0600);
        CHECK_EQ(restore_journal_read(dir_fd, ID, &back), 0);
        CHECK(journal_equal(&j, &back));
        restore_journal_done(&back);

        /* The write replaces the file by another (a rename, not an edit in place): a reader
         * holding the old one still sees it whole. */
        {
                _cleanup_close_ int old = openat(dir_fd, ID ".restore", O_RDONLY | O_CLOEXEC);
                struct stat st_old, st_new;
                char buf[64];

                j.phase = RESTORE_ROLLED_BACK;
                free(j.error);
                j.error = strdup("short");
                CHECK_EQ(restore_journal_write(dir_fd, &j), 0);
                CHECK_EQ(fstat(old, &st_old), 0);
                CHECK_EQ(fstatat(dir_fd, ID ".restore", &st_new, 0), 0);
                CHECK(st_old.st_ino != st_new.st_ino);
                CHECK(pread(old, buf, sizeof(buf), 0) > 0);
                CHECK(memcmp(buf, RESTORE_JOURNAL_SIGNATURE, strlen(RESTORE_JOURNAL_SIGNATURE)) == 0);
        }
        CHECK_EQ(restore_journal_read(dir_fd, ID, &back), 0);
        CHECK_EQ(back.phase, RESTORE_ROLLED_BACK);
        CHECK_STREQ(back.error, "short");
        restore_journal_done(&back);

        /* No temp file left behind. */
        {
                _cleanup_strv_free_ char **ids = NULL;
                CHECK_EQ(restore_journal_list(dir_fd, &ids), 0);
                CHECK_EQ(strv_length(ids), 1);
                CHECK(ids && streq(ids[0], ID));
        }
}

TEST(read_refuses_garbage_and_foreign_files) {
        _cleanup_(restore_journal_done) RestoreJournal j = RESTORE_JOURNAL_INIT;
        _cleanup_free_ char *big = NULL;

        /* garbage */
        CHECK_EQ(write_file_atomic_at(dir_fd, ID2 ".restore", "\x89PNG\r\n\x1a\n", 8, 0600), 0);
        CHECK_EQ(restore_journal_read(dir_fd, ID2, &j), -EBADMSG);
        /* a valid journal under another restore's name */
        CHECK_EQ(write_file_atomic_at(dir_fd, ID2 ".restore", MINIMAL, strlen(MINIMAL), 0600), 0);
        CHECK_EQ(restore_journal_read(dir_fd, ID2, &j), -EBADMSG);
        /* truncated */
        CHECK_EQ(write_file_atomic_at(dir_fd, ID2 ".restore", MINIMAL, strlen(MINIMAL) - 3, 0600), 0);
        CHECK_EQ(restore_journal_read(dir_fd, ID2, &j), -EBADMSG);
        /* too big: refused before it is parsed */
        big = malloc(RESTORE_JOURNAL_SIZE_MAX + 2);
        memset(big, '#', RESTORE_JOURNAL_SIZE_MAX + 1);
        CHECK_EQ(write_file_atomic_at(dir_fd, ID2 ".restore", big, RESTORE_JOURNAL_SIZE_MAX + 1, 0600), 0);
        CHECK_EQ(restore_journal_read(dir_fd, ID2, &j), -EFBIG);
        /* a symlink, a directory, a FIFO (which must not block the read) */
        CHECK_EQ(unlinkat(dir_fd, ID2 ".restore", 0), 0);
        CHECK_EQ(symlinkat("/etc/passwd", dir_fd, ID2 ".restore"), 0);
        CHECK_EQ(restore_journal_read(dir_fd, ID2, &j), -EBADFD);
        CHECK_EQ(unlinkat(dir_fd, ID2 ".restore", 0), 0);
        CHECK_EQ(mkdirat(dir_fd, ID2 ".restore", 0700), 0);
        CHECK_EQ(restore_journal_read(dir_fd, ID2, &j), -EBADFD);
        CHECK_EQ(unlinkat(dir_fd, ID2 ".restore", AT_REMOVEDIR), 0);
        CHECK_EQ(mkfifoat(dir_fd, ID2 ".restore", 0600), 0);
        tap_deadline(10);
        CHECK_EQ(restore_journal_read(dir_fd, ID2, &j), -EBADFD);
        tap_deadline(0);
        CHECK_EQ(unlinkat(dir_fd, ID2 ".restore", 0), 0);
        /* ids that could name something else */
        CHECK_EQ(restore_journal_read(dir_fd, "../" ID, &j), -EINVAL);
        CHECK_EQ(restore_journal_read(dir_fd, "", &j), -EINVAL);
        CHECK(!j.id);
}

TEST(list_and_remove) {
        _cleanup_(restore_journal_done) RestoreJournal j = RESTORE_JOURNAL_INIT;
        _cleanup_strv_free_ char **ids = NULL;

        /* Only <valid id>.restore files count. */
        CHECK_EQ(write_file_atomic_at(dir_fd, ID2 ".restore", "x", 1, 0600), 0);
        CHECK_EQ(write_file_atomic_at(dir_fd, ".#" ID2 ".restore.0123456789abcdef", "x", 1, 0600), 0);
        CHECK_EQ(write_file_atomic_at(dir_fd, "9B1C2D3E-4F50-4A6B-8C7D-8E9FA0B1C2D3.restore", "x", 1, 0600), 0);
        CHECK_EQ(write_file_atomic_at(dir_fd, ID ".restore.old", "x", 1, 0600), 0);
        CHECK_EQ(write_file_atomic_at(dir_fd, "notes.restore", "x", 1, 0600), 0);
        CHECK_EQ(restore_journal_list(dir_fd, &ids), 0);
        CHECK_EQ(strv_length(ids), 2);
        CHECK(ids && streq(ids[0], ID2) && streq(ids[1], ID)); /* sorted */

        CHECK_EQ(restore_journal_remove(dir_fd, ID2), 0);
        CHECK_EQ(restore_journal_remove(dir_fd, ID2), 0); /* gone already: fine */
        CHECK(faccessat(dir_fd, ID2 ".restore", F_OK, 0) < 0);
        CHECK_EQ(restore_journal_remove(dir_fd, "../x"), -EINVAL);
        CHECK_EQ(restore_journal_read(dir_fd, ID, &j), 0); /* the other one is untouched */
        CHECK_EQ(restore_journal_remove(dir_fd, ID), 0);
        ids = strv_free(ids);
        CHECK_EQ(restore_journal_list(dir_fd, &ids), 0);
        CHECK(!ids);
}

TEST(restore_id_is_valid) {
        CHECK(restore_id_is_valid(ID));
        CHECK(!restore_id_is_valid(NULL));
        CHECK(!restore_id_is_valid(""));
        CHECK(!restore_id_is_valid("9B1C2D3E-4F50-4A6B-8C7D-8E9FA0B1C2D3"));
        CHECK(!restore_id_is_valid(ID "x"));
        CHECK(!restore_id_is_valid("../../../../../../../../../../etc/x"));
}

int main(void) {
        if (!mkdtemp(tmpdir))
                return 99;
        dir_fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return 99;

        RUN(round_trip_every_field);
        RUN(round_trip_defaults_left_out);
        RUN(format_refuses_what_cannot_be_read_back);
        RUN(unknown_keys_ignored);
        RUN(refuses_what_the_writer_never_writes);
        RUN(every_truncation_refused);
        RUN(write_read_replace);
        RUN(read_refuses_garbage_and_foreign_files);
        RUN(list_and_remove);
        RUN(restore_id_is_valid);

        {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
                (void) !system(cmd);
        }
        return tap_finish();
}
