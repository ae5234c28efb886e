/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The journal of one restore: format, atomic write, strict parse (restore-journal.h). */

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "names.h"
#include "restore-journal.h"
#include "string-util.h"

typedef enum FieldType {
        FIELD_STRING,
        FIELD_U64,
        FIELD_BOOL,
        FIELD_STRV,
        FIELD_PHASE,
} FieldType;

typedef struct Field {
        const char *key;
        FieldType type;
        size_t offset;
        bool required;
} Field;

#define F(k, t, member, req) { #k, t, offsetof(RestoreJournal, member), req }

/* The order the writer writes them in; the reader takes any order. */
static const Field fields[] = {
        F(id, FIELD_STRING, id, true),
        F(kind, FIELD_STRING, kind, true),
        F(backup, FIELD_STRING, backup, false),
        F(backup_file, FIELD_STRING, backup_file, false),
        F(phase, FIELD_PHASE, phase, true),
        F(error, FIELD_STRING, error, false),
        F(error_name, FIELD_STRING, error_name, false),
        F(started, FIELD_U64, started, false),
        F(finished, FIELD_U64, finished, false),
        F(downtime_start, FIELD_U64, downtime_start, false),
        F(downtime_usec, FIELD_U64, downtime_usec, false),
        F(data_dir, FIELD_STRING, data_dir, false),
        F(etcd_unit, FIELD_STRING, etcd_unit, false),
        F(units, FIELD_STRV, units, false),
        F(etcd_static_pod, FIELD_STRING, etcd_static_pod, false),
        F(static_pods, FIELD_STRV, static_pods, false),
        F(manifest_dir, FIELD_STRING, manifest_dir, false),
        F(name, FIELD_STRING, name, false),
        F(initial_cluster, FIELD_STRING, initial_cluster, false),
        F(initial_advertise_peer_urls, FIELD_STRING, initial_advertise_peer_urls, false),
        F(initial_cluster_token, FIELD_STRING, initial_cluster_token, false),
        F(tool, FIELD_STRING, tool, false),
        F(revision, FIELD_U64, revision, false),
        F(revision_bump, FIELD_U64, revision_bump, false),
        F(staged_revision, FIELD_U64, staged_revision, false),
        F(member_inode, FIELD_U64, member_inode, false),
        F(start_timeout_usec, FIELD_U64, start_timeout_usec, false),
        F(dry_run, FIELD_BOOL, dry_run, false),
        F(previous_data, FIELD_STRING, previous_data, false),
        F(stopped, FIELD_STRV, stopped, false),
        F(hidden, FIELD_STRV, hidden, false),
        F(swapped, FIELD_BOOL, swapped, false),
        F(resumed, FIELD_BOOL, resumed, false),
        F(failure_phase, FIELD_PHASE, failure_phase, false),
        F(endpoint, FIELD_STRING, endpoint, false),
        F(cluster_id, FIELD_U64, cluster_id, false),
        F(member_id, FIELD_U64, member_id, false),
        F(held, FIELD_STRV, held, false),
};

#define FIELD_PTR(j, f, type) ((type *) ((char *) (j) + (f)->offset))
#define FIELD_CPTR(j, f, type) ((const type *) ((const char *) (j) + (f)->offset))

void restore_journal_done(RestoreJournal *j) {
        if (!j)
                return;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const Field *f = fields + i;

                if (f->type == FIELD_STRING)
                        free(*FIELD_PTR(j, f, char *));
                else if (f->type == FIELD_STRV)
                        strv_free(*FIELD_PTR(j, f, char **));
        }
        *j = RESTORE_JOURNAL_INIT;
}

bool restore_id_is_valid(const char *s) {
        char canonical[BACKUP_ID_STRING_MAX];

        /* Canonical only: the id names files and units, and "ABC..." next to "abc..." would be
         * two names for one restore. */
        return backup_id_normalize(s, canonical) >= 0 && streq(canonical, s);
}

static bool byte_needs_escape(unsigned char c) {
        return c < 0x20 || c == 0x7f || c == '\\';
}

static bool strv_element_is_valid(const char *s) {
        if (isempty(s))
                return false;
        for (const char *p = s; *p; p++)
                if (*p == ' ' || byte_needs_escape((unsigned char) *p))
                        return false;
        return true;
}

static int put_escaped(FILE *f, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '\\')
                        fputs("\\\\", f);
                else if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '\t')
                        fputs("\\t", f);
                else if (byte_needs_escape(*p))
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
        return 0;
}

int restore_journal_format(const RestoreJournal *j, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        if (!j || !ret)
                return -EINVAL;
        if (!restore_id_is_valid(j->id) || isempty(j->kind) || !restore_phase_to_string(j->phase))
                return -EINVAL;
        if (j->failure_phase != _RESTORE_PHASE_INVALID && !restore_phase_to_string(j->failure_phase))
                return -EINVAL;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs(RESTORE_JOURNAL_SIGNATURE, f);
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const Field *fl = fields + i;

                switch (fl->type) {
                case FIELD_STRING: {
                        const char *v = *FIELD_CPTR(j, fl, char *);
                        if (!v)
                                continue;
                        fprintf(f, "%s=", fl->key);
                        put_escaped(f, v);
                        fputc('\n', f);
                        break;
                }
                case FIELD_U64: {
                        uint64_t v = *FIELD_CPTR(j, fl, uint64_t);
                        if (v != 0)
                                fprintf(f, "%s=%llu\n", fl->key, (unsigned long long) v);
                        break;
                }
                case FIELD_BOOL:
                        if (*FIELD_CPTR(j, fl, bool))
                                fprintf(f, "%s=1\n", fl->key);
                        break;
                case FIELD_STRV: {
                        char **l = *(char ** const *) ((const char *) j + fl->offset);
                        if (strv_length(l) == 0)
                                continue;
                        fprintf(f, "%s=", fl->key);
                        STRV_FOREACH(s, l) {
                                if (!strv_element_is_valid(*s)) {
                                        fclose(f);
                                        return -EINVAL;
                                }
                                fprintf(f, "%s%s", s == l ? "" : " ", *s);
                        }
                        fputc('\n', f);
                        break;
                }
                case FIELD_PHASE: {
                        RestorePhase p = *FIELD_CPTR(j, fl, RestorePhase);
                        if (p != _RESTORE_PHASE_INVALID)
                                fprintf(f, "%s=%s\n", fl->key, restore_phase_to_string(p));
                        break;
                }
                }
        }
        if (fclose(f) != 0 || !buf)
                return -ENOMEM;
        if (size > RESTORE_JOURNAL_SIZE_MAX)
                return -EFBIG;
        if (ret_size)
                *ret_size = size;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int unhex_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* The reverse of put_escaped(), for exactly the escapes it writes: "\x41" for an "A" that it
 * would have written as is, or "\X0a", is not something it writes. */
static int unescape(const char *s, size_t n, char **ret) {
        _cleanup_free_ char *out = malloc(n + 1);
        size_t k = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c != '\\') {
                        if (byte_needs_escape(c))
                                return -EBADMSG;
                        out[k++] = (char) c;
                        continue;
                }
                if (++i >= n)
                        return -EBADMSG;
                if (s[i] == '\\')
                        out[k++] = '\\';
                else if (s[i] == 'n')
                        out[k++] = '\n';
                else if (s[i] == 't')
                        out[k++] = '\t';
                else if (s[i] == 'x' && i + 2 < n) {
                        int hi = unhex_digit(s[i + 1]), lo = unhex_digit(s[i + 2]);
                        unsigned char v;

                        if (hi < 0 || lo < 0)
                                return -EBADMSG;
                        v = (unsigned char) (hi << 4 | lo);
                        /* NUL cannot be in a C string; \n, \t and \\ have their own escape. */
                        if (v == 0 || !byte_needs_escape(v) || IN_SET(v, '\n', '\t', '\\'))
                                return -EBADMSG;
                        out[k++] = (char) v;
                        i += 2;
                } else
                        return -EBADMSG;
        }
        out[k] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static int parse_u64_strict(const char *s, uint64_t *ret) {
        /* The writer writes 1..UINT64_MAX without leading zeros (and leaves 0 out, but a 0 is
         * harmless to take). */
        if (s[0] == '0' && s[1] != 0)
                return -EBADMSG;
        return safe_atou64(s, ret) < 0 ? -EBADMSG : 0;
}

static int parse_strv(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        if (!*s)
                return -EBADMSG; /* the writer leaves an empty list out */
        for (const char *p = s;;) {
                const char *e = strchrnul(p, ' ');
                _cleanup_free_ char *w = strndup(p, (size_t) (e - p));

                if (!w)
                        return -ENOMEM;
                if (!strv_element_is_valid(w))
                        return -EBADMSG;
                r = strv_extend(&l, w);
                if (r < 0)
                        return r;
                if (!*e)
                        break;
                p = e + 1;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int parse_field(RestoreJournal *j, const Field *f, const char *raw, size_t n) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = unescape(raw, n, &v);
        if (r < 0)
                return r;
        switch (f->type) {
        case FIELD_STRING:
                *FIELD_PTR(j, f, char *) = TAKE_PTR(v);
                return 0;
        case FIELD_U64:
                return parse_u64_strict(v, FIELD_PTR(j, f, uint64_t));
        case FIELD_BOOL:
                if (!streq(v, "0") && !streq(v, "1"))
                        return -EBADMSG;
                *FIELD_PTR(j, f, bool) = streq(v, "1");
                return 0;
        case FIELD_STRV:
                return parse_strv(v, FIELD_PTR(j, f, char **));
        case FIELD_PHASE: {
                RestorePhase p = restore_phase_from_string(v);
                if (p < 0)
                        return -EBADMSG;
                *FIELD_PTR(j, f, RestorePhase) = p;
                return 0;
        }
        }
        return -EINVAL;
}

int restore_journal_parse(const char *text, size_t size, RestoreJournal *ret) {
        _cleanup_(restore_journal_done) RestoreJournal j = RESTORE_JOURNAL_INIT;
        bool seen[ELEMENTSOF(fields)] = {};
        size_t sig = strlen(RESTORE_JOURNAL_SIGNATURE);
        int r;

        if (!text || !ret)
                return -EINVAL;
        *ret = RESTORE_JOURNAL_INIT;
        if (size > RESTORE_JOURNAL_SIZE_MAX)
                return -EFBIG;
        if (size < sig || memcmp(text, RESTORE_JOURNAL_SIGNATURE, sig) != 0)
                return -EBADMSG;
        if (memchr(text, 0, size))
                return -EBADMSG;

        for (size_t pos = sig; pos < size;) {
                const char *line = text + pos, *nl, *eq;
                size_t len;
                const Field *f = NULL;

                nl = memchr(line, '\n', size - pos);
                if (!nl)
                        return -EBADMSG; /* a last line without its newline: torn */
                len = (size_t) (nl - line);
                pos += len + 1;
                eq = memchr(line, '=', len);
                if (!eq || eq == line)
                        return -EBADMSG;
                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        if (strlen(fields[i].key) == (size_t) (eq - line) &&
                            memcmp(fields[i].key, line, (size_t) (eq - line)) == 0) {
                                if (seen[i])
                                        return -EBADMSG;
                                seen[i] = true;
                                f = fields + i;
                                break;
                        }
                if (!f) {
                        /* Unknown: a newer agent's. It must still look like a key the writer
                         * would write, and its value like a value. */
                        _cleanup_free_ char *ignored = NULL;

                        for (const char *k = line; k < eq; k++)
                                if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_'))
                                        return -EBADMSG;
                        r = unescape(eq + 1, (size_t) (nl - eq - 1), &ignored);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = parse_field(&j, f, eq + 1, (size_t) (nl - eq - 1));
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (fields[i].required && !seen[i])
                        return -EBADMSG;
        if (!restore_id_is_valid(j.id) || isempty(j.kind))
                return -EBADMSG;

        *ret = j;
        j = RESTORE_JOURNAL_INIT;
        return 0;
}

static int journal_file_name(const char *id, char buf[static BACKUP_ID_STRING_MAX + sizeof(RESTORE_JOURNAL_SUFFIX)]) {
        if (!restore_id_is_valid(id))
                return -EINVAL;
        snprintf(buf, BACKUP_ID_STRING_MAX + sizeof(RESTORE_JOURNAL_SUFFIX), "%s%s", id, RESTORE_JOURNAL_SUFFIX);
        return 0;
}

int restore_journal_write(int dir_fd, const RestoreJournal *j) {
        char name[BACKUP_ID_STRING_MAX + sizeof(RESTORE_JOURNAL_SUFFIX)];
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        if (!j)
                return -EINVAL;
        r = journal_file_name(j->id, name);
        if (r < 0)
                return r;
        r = restore_journal_format(j, &text, &size);
        if (r < 0)
                return r;
        return write_file_atomic_at(dir_fd, name, text, size, 0600);
}

int restore_journal_read(int dir_fd, const char *id, RestoreJournal *ret) {
        char name[BACKUP_ID_STRING_MAX + sizeof(RESTORE_JOURNAL_SUFFIX)];
        _cleanup_(restore_journal_done) RestoreJournal j = RESTORE_JOURNAL_INIT;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0;
        struct stat st;
        int r;

        if (!ret)
                return -EINVAL;
        *ret = RESTORE_JOURNAL_INIT;
        r = journal_file_name(id, name);
        if (r < 0)
                return r;
        fd = open_regular_file_at(dir_fd, name, O_NOFOLLOW);
        if (fd < 0)
                return fd == -ELOOP ? -EBADFD : fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size > (off_t) RESTORE_JOURNAL_SIZE_MAX)
                return -EFBIG;

        /* Read to the end, whatever fstat() said: one byte past the bound says too big. */
        buf = malloc(RESTORE_JOURNAL_SIZE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (size <= RESTORE_JOURNAL_SIZE_MAX) {
                ssize_t n = read(fd, buf + size, RESTORE_JOURNAL_SIZE_MAX + 1 - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size > RESTORE_JOURNAL_SIZE_MAX)
                return -EFBIG;

        r = restore_journal_parse(buf, size, &j);
        if (r < 0)
                return r;
        if (!streq(j.id, id))
                return -EBADMSG;
        *ret = j;
        j = RESTORE_JOURNAL_INIT;
        return 0;
}

int restore_journal_remove(int dir_fd, const char *id) {
        char name[BACKUP_ID_STRING_MAX + sizeof(RESTORE_JOURNAL_SUFFIX)];
        int r;

        r = journal_file_name(id, name);
        if (r < 0)
                return r;
        if (unlinkat(dir_fd, name, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        return fsync_dir(dir_fd);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

int restore_journal_list(int dir_fd, char ***ret_ids) {
        _cleanup_strv_free_ char **ids = NULL;
        size_t n = 0;
        DIR *d;
        int fd, r = 0;

        if (!ret_ids)
                return -EINVAL;
        /* fdopendir() takes the fd it is given; dir_fd stays the caller's. */
        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        for (;;) {
                struct dirent *de;
                char id[BACKUP_ID_STRING_MAX];
                size_t len;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno > 0)
                                r = -errno;
                        break;
                }
                len = strlen(de->d_name);
                if (len != BACKUP_ID_STRING_MAX - 1 + strlen(RESTORE_JOURNAL_SUFFIX) ||
                    !endswith(de->d_name, RESTORE_JOURNAL_SUFFIX))
                        continue;
                memcpy(id, de->d_name, BACKUP_ID_STRING_MAX - 1);
                id[BACKUP_ID_STRING_MAX - 1] = 0;
                if (!restore_id_is_valid(id))
                        continue;
                r = strv_extend_counted(&ids, &n, id);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;
        if (n > 0)
                qsort(ids, n, sizeof(char *), cmp_str);
        *ret_ids = TAKE_PTR(ids);
        return 0;
}
