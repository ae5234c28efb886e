/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * etcd-backup-restore-helper: the steps of a restore that write etcd's data dir. The agent
 * cannot write it (its unit is ProtectSystem=strict with CAP_DAC_READ_SEARCH only), so it runs
 * each step as `etcd-backup-restore-helper STEP ...` in a transient unit with exactly the
 * frozen paths writable (RESTORE-DESIGN.md). Errors go to stderr, that is the unit's journal.
 *
 * S = DIR/.restore-ID, the staging root on the same file system as DIR/member. The marker
 * S/staged ("member-inode=N", "revision=R", "bump=B", "method=tool|bbolt|none") tells a
 * complete stage from a torn one, and its member-inode tells which of DIR/member and
 * S/data/member holds the restored data: a rename keeps a directory's inode.
 *
 * What each step guarantees after a crash (or a kill, or power loss) at any point, and why
 * running it again is always safe:
 *   stage    DIR/member is never touched. Until S/staged exists S is scratch: the next stage
 *            or cleanup removes it. S/staged is written last (temp, fsync, rename, fsync S),
 *            after the tree under S/data/member was chowned and fsynced, so a marker means a
 *            complete, durable, correctly owned member dir. A stage run again restages from
 *            the backup; it refuses while S holds the previous data (swapped).
 *   swap     one renameat2(RENAME_EXCHANGE) of DIR/member and S/data/member (a plain
 *            no-replace rename when there was no DIR/member): before it DIR/member is the
 *            old data, after it the new, never missing or mixed. The inode in S/staged says
 *            which state it is in, so a second run does nothing but the fsyncs.
 *   finish   moves S/data/member (the previous data) to DIR/member.before-restore-ID with a
 *            no-replace rename, then removes S and the previous data of earlier restores
 *            (DIR/member.before-restore-* of other ids: one copy is kept, the newest, or
 *            every restore would leave a whole database behind). Either rename happened or
 *            not; the removals go on where they stopped.
 *   cleanup  removes S, S/staged last: as long as S/data/member exists the marker that says
 *            whether it is the previous data exists too. Refuses while S/data/member is
 *            DIR/member itself or holds the previous data (after swap --to new).
 *   manifest moves a static pod's manifest out of the kubelet's sight (DIR/POD.yaml to
 *            DIR/.POD.yaml.etcd-backup-restore: the kubelet ignores dotfiles, and stops the
 *            pod) or back, with one no-replace rename within DIR, unchanged: a run finding it
 *            already where it was to go does nothing but the fsync; both names present is
 *            refused (someone wrote a new manifest meanwhile: not ours to overwrite).
 *            With --set-flag (a member rejoining a cluster: its etcd must start once with
 *            the cluster's membership), --to visible writes DIR/POD.yaml as the hidden one
 *            with the flags set (temp dotfile, fsync, no-replace rename, fsync DIR) and keeps
 *            the hidden original, so that --to hidden (removing the derived DIR/POD.yaml
 *            again) rolls back to it; --drop-hidden removes the original once the member is
 *            in. Each checks that DIR/POD.yaml is byte for byte the derived manifest before
 *            it removes either, and does nothing when it is already done (manifest_derived()).
 *   aside    of a rejoin (the member joins a restored cluster on an empty data dir: its old WAL
 *            must never meet the new cluster): --to aside moves DIR/member to
 *            DIR/member.before-rejoin-ID with one no-replace rename (with no DIR/member, an
 *            empty DIR/member.before-rejoin-ID says so); --to back, the undo, removes the new
 *            DIR/member while DIR/member.before-rejoin-ID exists, then renames that back (or
 *            removes it when empty). A run finding its work done does nothing but the fsync.
 * Exit codes: 0 ok, 2 usage, 3 backup corrupt, 4 no space, 5 the restore tool failed, 6 the
 * bump failed, 1 anything else.
 */

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include "backup-file.h"
#include "bbolt.h"
#include "fs-util.h"
#include "log.h"
#include "restore-journal.h"
#include "static-pod.h"
#include "string-util.h"

#define EXIT_USAGE 2
#define EXIT_CORRUPT 3
#define EXIT_NOSPACE 4
#define EXIT_TOOL 5
#define EXIT_BUMP 6

#define STAGED_FILE "staged"
#define STAGED_MAX 4096U
/* etcd's own modes for its data (fileutil.PrivateDirMode, PrivateFileMode). */
#define MEMBER_DIR_MODE 0700
#define MEMBER_FILE_MODE 0600
/* etcd writes member/{snap,wal}/...: nothing deeper. */
#define TREE_DEPTH_MAX 8
#define TOOL_OUTPUT_MAX 4096U

extern char **environ;

static const char *arg_data_dir, *arg_id, *arg_backup, *arg_tool, *arg_name, *arg_initial_cluster,
        *arg_peer_urls, *arg_token, *arg_to, *arg_dir, *arg_pod, *arg_container;
static char **arg_set_flags; /* "--NAME=VALUE" */
static size_t arg_n_set_flags;
static bool arg_drop_hidden;
static uint64_t arg_bump;
static bool arg_bump_set;
static char *arg_staging; /* ".restore-ID" */
static bool staging_created; /* by this run of stage: removed again if it fails */

typedef struct Staged {
        uint64_t member_inode;
        uint64_t revision;
        uint64_t bump;
        char method[8];
} Staged;

/* A failure that has been logged, as the exit status it is to end in. */
static int exit_for(int r, int otherwise) {
        return IN_SET(-r, ENOSPC, EDQUOT) ? EXIT_NOSPACE : otherwise;
}

/* An absolute path with no "." or ".." component, no empty one past the root and nothing a
 * unit file or a log line would mangle: the agent passes exactly what it froze. */
static bool path_is_safe(const char *p) {
        if (!p || p[0] != '/' || !p[1] || strlen(p) >= PATH_MAX || !utf8_is_printable(p))
                return false;
        for (const char *c = p + 1;;) {
                const char *e = strchrnul(c, '/');
                size_t n = (size_t) (e - c);

                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (!*e)
                        return true;
                c = e + 1;
        }
}

static bool value_is_safe(const char *s) {
        return !isempty(s) && utf8_is_printable(s) && strlen(s) < 4096;
}

/* ---- the staging dir -------------------------------------------------------------------- */

static int stat_at(int dir_fd, const char *name, struct stat *ret) {
        return fstatat(dir_fd, name, ret, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int open_dir_at(int dir_fd, const char *name) {
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Reads S/staged: -ENOENT when there is none, -EBADMSG when it is not what stage writes. */
static int staged_read(int s_fd, Staged *ret) {
        _cleanup_close_ int fd = -EBADF;
        char buf[STAGED_MAX + 1];
        bool have_inode = false, have_rev = false, have_bump = false;
        size_t size = 0;

        *ret = (Staged) {};
        fd = open_regular_file_at(s_fd, STAGED_FILE, O_NOFOLLOW);
        if (fd < 0)
                return fd;
        for (;;) {
                ssize_t n = read(fd, buf + size, sizeof(buf) - 1 - size);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size >= STAGED_MAX)
                        return -EBADMSG;
        }
        buf[size] = 0;
        if (size == 0 || buf[size - 1] != '\n' || strlen(buf) != size)
                return -EBADMSG;
        for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
                char *v;

                *nl = 0;
                if ((v = startswith(line, "member-inode=")))
                        have_inode = safe_atou64(v, &ret->member_inode) >= 0;
                else if ((v = startswith(line, "revision=")))
                        have_rev = safe_atou64(v, &ret->revision) >= 0;
                else if ((v = startswith(line, "bump=")))
                        have_bump = safe_atou64(v, &ret->bump) >= 0;
                else if ((v = startswith(line, "method=")) && (streq(v, "tool") || streq(v, "bbolt") || streq(v, "none")))
                        strcpy(ret->method, v);
        }
        if (!have_inode || !have_rev || !have_bump || !ret->method[0])
                return -EBADMSG;
        return 0;
}

static int staged_write(int s_fd, const Staged *s) {
        char buf[STAGED_MAX];
        int n = snprintf(buf, sizeof(buf), "member-inode=%" PRIu64 "\nrevision=%" PRIu64 "\nbump=%" PRIu64 "\nmethod=%s\n",
                         s->member_inode, s->revision, s->bump, s->method);
        return write_file_atomic_at(s_fd, STAGED_FILE, buf, (size_t) n, 0600);
}

/* rm -rf of dir_fd/name, never following a symlink. 0 if it was not there. */
static int rm_rf_at(int dir_fd, const char *name, unsigned depth) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        DIR *d;
        int r;

        r = stat_at(dir_fd, name, &st);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        if (depth > TREE_DEPTH_MAX)
                return -ELOOP;
        fd = open_dir_at(dir_fd, name);
        if (fd < 0)
                return fd;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -EBADF; /* the DIR has it now */
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = rm_rf_at(dirfd(d), de->d_name, depth + 1);
                if (r < 0) {
                        closedir(d);
                        return r;
                }
        }
        r = errno > 0 ? -errno : 0;
        closedir(d);
        if (r < 0)
                return r;
        return unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/*
 * Refuses to go on when S/data/member is live data: DIR/member itself (the same inode), or the
 * previous data that a swap --to new put there (DIR/member is the staged inode).
 */
static int staging_check_not_live(int dir_fd, int s_fd) {
        struct stat live, staged_member;
        Staged staged;
        int r;

        r = stat_at(dir_fd, "member", &live);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot stat %s/member: %m", arg_data_dir);
        r = stat_at(s_fd, "data/member", &staged_member);
        if (r == -ENOENT)
                return 0; /* nothing in S that could be live (finish moved the previous data out) */
        if (r < 0)
                return log_error_errno(r, "Cannot stat %s/%s/data/member: %m", arg_data_dir, arg_staging);
        if (staged_member.st_dev == live.st_dev && staged_member.st_ino == live.st_ino)
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY), "%s/%s/data/member is the live member dir %s/member, refusing.",
                                       arg_data_dir, arg_staging, arg_data_dir);
        r = staged_read(s_fd, &staged);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot read %s/%s/" STAGED_FILE ": %m", arg_data_dir, arg_staging);
        if (live.st_ino == staged.member_inode)
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                       "The staged data is in place as %s/member and %s/%s/data/member holds the previous data: "
                                       "run swap --to old or finish first, refusing.",
                                       arg_data_dir, arg_data_dir, arg_staging);
        return 0;
}

/* Removes S: everything, then the marker, then S itself, each durably. */
static int staging_remove(int dir_fd) {
        _cleanup_close_ int s_fd = -EBADF;
        DIR *d;
        int r;

        s_fd = open_dir_at(dir_fd, arg_staging);
        if (s_fd == -ENOENT)
                return 0;
        if (s_fd < 0)
                return log_error_errno(s_fd, "Cannot open %s/%s: %m", arg_data_dir, arg_staging);
        r = staging_check_not_live(dir_fd, s_fd);
        if (r < 0)
                return r;

        d = fdopendir(fcntl(s_fd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return log_error_errno(errno, "Cannot read %s/%s: %m", arg_data_dir, arg_staging);
        r = 0;
        for (struct dirent *de; r >= 0 && (errno = 0, de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && !streq(de->d_name, STAGED_FILE))
                        r = rm_rf_at(s_fd, de->d_name, 0);
        if (r >= 0 && errno > 0)
                r = -errno;
        closedir(d);
        if (r >= 0)
                r = fsync_dir(s_fd);
        if (r >= 0 && unlinkat(s_fd, STAGED_FILE, 0) < 0 && errno != ENOENT)
                r = -errno;
        if (r >= 0 && unlinkat(dir_fd, arg_staging, AT_REMOVEDIR) < 0 && errno != ENOENT)
                r = -errno;
        if (r >= 0)
                r = fsync_dir(dir_fd);
        if (r < 0)
                return log_error_errno(r, "Cannot remove %s/%s: %m", arg_data_dir, arg_staging);
        return 0;
}

/* Owner, group and etcd's modes on the tree at fd, every file and dir fsynced. */
static int tree_fix(int fd, const char *path, uid_t uid, gid_t gid, unsigned depth) {
        DIR *d;
        int r = 0;

        if (depth > TREE_DEPTH_MAX)
                return log_error_errno(SYNTHETIC_ERRNO(ELOOP), "%s: too deep for etcd's data, refusing.", path);
        if (fchown(fd, uid, gid) < 0 || fchmod(fd, MEMBER_DIR_MODE) < 0)
                return log_error_errno(errno, "Cannot give %s its owner and mode: %m", path);
        d = fdopendir(fcntl(fd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return log_error_errno(errno, "Cannot read %s: %m", path);
        for (struct dirent *de; r >= 0 && (errno = 0, de = readdir(d));) {
                _cleanup_free_ char *sub = NULL;
                _cleanup_close_ int cfd = -EBADF;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (asprintf(&sub, "%s/%s", path, de->d_name) < 0) {
                        r = log_oom();
                        break;
                }
                r = stat_at(dirfd(d), de->d_name, &st);
                if (r < 0) {
                        log_error_errno(r, "Cannot stat %s: %m", sub);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        cfd = open_dir_at(dirfd(d), de->d_name);
                        r = cfd < 0 ? log_error_errno(cfd, "Cannot open %s: %m", sub) : tree_fix(cfd, sub, uid, gid, depth + 1);
                } else if (S_ISREG(st.st_mode)) {
                        cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
                        if (cfd < 0 || fchown(cfd, uid, gid) < 0 || fchmod(cfd, MEMBER_FILE_MODE) < 0 || fsync(cfd) < 0)
                                r = log_error_errno(errno, "Cannot give %s its owner and mode: %m", sub);
                } else
                        r = log_error_errno(SYNTHETIC_ERRNO(EBADFD), "%s is neither a file nor a dir, refusing.", sub);
        }
        if (r >= 0 && errno > 0)
                r = log_error_errno(errno, "Cannot read %s: %m", path);
        closedir(d);
        if (r >= 0 && fsync(fd) < 0)
                r = log_error_errno(errno, "Cannot fsync %s: %m", path);
        return r;
}

/* ---- the restore tool ------------------------------------------------------------------- */

/* Runs argv with stdin from /dev/null and stdout where it is asked (our stderr when out is
 * NULL, that is the unit's journal), stderr to ours. Returns the exit status, or -errno when it
 * could not run (-ENOENT) or was killed (-EINTR). */
static int tool_run(char **argv, char *out, size_t out_size) {
        posix_spawn_file_actions_t fa;
        int pipe_fd[2] = { -EBADF, -EBADF }, status, r;
        size_t got = 0;
        pid_t pid;

        if (out && pipe2(pipe_fd, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out ? pipe_fd[1] : STDERR_FILENO, STDOUT_FILENO);
        r = -posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        safe_close(pipe_fd[1]);
        if (r < 0) {
                safe_close(pipe_fd[0]);
                return r;
        }
        if (out) {
                /* Read to the end, keeping the first out_size - 1 bytes. */
                for (;;) {
                        char skip[512];
                        bool full = got + 1 >= out_size;
                        ssize_t n = read(pipe_fd[0], full ? skip : out + got, full ? sizeof(skip) : out_size - 1 - got);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                break;
                        if (!full)
                                got += (size_t) n;
                }
                out[got] = 0;
                safe_close(pipe_fd[0]);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFSIGNALED(status)) {
                log_error("%s was killed by signal %d.", argv[0], WTERMSIG(status));
                return -EINTR;
        }
        return WEXITSTATUS(status);
}

/* Whether the tool has --bump-revision and --mark-compacted: etcdctl/etcdutl 3.4.27+ and
 * 3.5.10+ (and every later release), learned from the first line of `TOOL version`,
 * "etcdctl version: 3.4.23". */
static int tool_has_bump(bool *ret) {
        char out[TOOL_OUTPUT_MAX], *v, *nl;
        unsigned major, minor, patch;
        int r;

        r = tool_run(STRV_MAKE(arg_tool, "version"), out, sizeof(out));
        if (r < 0)
                return log_error_errno(r, "Cannot run %s version: %m", arg_tool);
        if (r > 0)
                return log_error_errno(SYNTHETIC_ERRNO(EIO), "%s version exited with status %d.", arg_tool, r);
        v = strstr(out, " version: ");
        nl = strchr(out, '\n');
        if (nl)
                *nl = 0; /* the first line only */
        if (!v || (nl && nl < v) || sscanf(v, " version: %u.%u.%u", &major, &minor, &patch) != 3)
                return log_error_errno(SYNTHETIC_ERRNO(EBADMSG), "Cannot tell the version of %s from \"%s\".", arg_tool,
                                       strstrip(out));
        *ret = major > 3 || (major == 3 && (minor >= 6 || (minor == 5 && patch >= 10) || (minor == 4 && patch >= 27)));
        log_info("%s is release %u.%u.%u: the revision bump is %s.", arg_tool, major, minor, patch,
                 *ret ? "the tool's" : "done by the helper (bbolt)");
        return 0;
}

/* ---- the steps -------------------------------------------------------------------------- */

static int step_stage(int dir_fd) {
        _cleanup_free_ char *s_path = NULL, *snapshot = NULL, *data = NULL, *o_name = NULL, *o_cluster = NULL,
                            *o_urls = NULL, *o_token = NULL, *o_bump = NULL, *msg = NULL;
        _cleanup_close_ int s_fd = -EBADF, in_fd = -EBADF, out_fd = -EBADF, db_fd = -EBADF, member_fd = -EBADF;
        BackupMeta meta;
        BboltRevisions before = {}, after = {};
        Staged staged = {};
        struct stat owner, st;
        bool tool_bump = false;
        int r;

        /* A stale S first (a crashed stage, a stage before this one), unless it is live data. */
        r = staging_remove(dir_fd);
        if (r < 0)
                return 1;
        if (mkdirat(dir_fd, arg_staging, 0700) < 0)
                return exit_for(log_error_errno(errno, "Cannot create %s/%s: %m", arg_data_dir, arg_staging), 1);
        staging_created = true;
        s_fd = open_dir_at(dir_fd, arg_staging);
        if (s_fd < 0 || fchmod(s_fd, 0700) < 0)
                return log_error_errno(s_fd < 0 ? s_fd : errno, "Cannot open %s/%s: %m", arg_data_dir, arg_staging), 1;
        if (asprintf(&s_path, "%s/%s", arg_data_dir, arg_staging) < 0 || asprintf(&snapshot, "%s/snapshot.db", s_path) < 0 ||
            asprintf(&data, "%s/data", s_path) < 0)
                return log_oom(), 1;

        /* The tool first: a missing one is found before minutes of decompression. */
        if (arg_bump > 0) {
                r = tool_has_bump(&tool_bump);
                if (r < 0)
                        return EXIT_TOOL;
        } else if (access(arg_tool, X_OK) < 0)
                return log_error_errno(errno, "Cannot run %s: %m", arg_tool), EXIT_TOOL;

        /* The backup, decompressed and checked end to end as it is written out. */
        in_fd = open_regular_file_at(AT_FDCWD, arg_backup, O_NOFOLLOW);
        if (in_fd < 0)
                return log_error_errno(in_fd, "Cannot open %s: %m", arg_backup), 1;
        out_fd = openat(s_fd, "snapshot.db", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (out_fd < 0)
                return exit_for(log_error_errno(errno, "Cannot create %s: %m", snapshot), 1);
        r = backup_file_extract(in_fd, out_fd, NULL, NULL, &meta, &msg);
        if (r == -EBADMSG)
                return log_error("%s is corrupt: %s", arg_backup, strna(msg)), EXIT_CORRUPT;
        if (r < 0)
                return exit_for(log_error_errno(r, "Cannot extract %s to %s: %s", arg_backup, snapshot, msg ?: strerror(-r)), 1);
        out_fd = safe_close(out_fd);
        in_fd = safe_close(in_fd);
        log_info("Backup %s (revision %" PRIi64 ") verified and extracted to %s.", meta.id, meta.revision, snapshot);

        /* The member dir, built by the tool. */
        if (asprintf(&o_name, "--name=%s", arg_name) < 0 || asprintf(&o_cluster, "--initial-cluster=%s", arg_initial_cluster) < 0 ||
            asprintf(&o_urls, "--initial-advertise-peer-urls=%s", arg_peer_urls) < 0 ||
            asprintf(&o_token, "--initial-cluster-token=%s", arg_token) < 0 ||
            asprintf(&o_bump, "--bump-revision=%" PRIu64, arg_bump) < 0)
                return log_oom(), 1;
        {
                char *argv[] = { (char *) arg_tool, (char *) "snapshot", (char *) "restore", snapshot, (char *) "--data-dir", data,
                                 o_name, o_cluster, o_urls, o_token,
                                 tool_bump ? o_bump : NULL, (char *) "--mark-compacted", NULL };

                r = tool_run(argv, NULL, 0);
        }
        if (r != 0) {
                struct statvfs sv;

                if (r < 0)
                        log_error_errno(r, "Cannot run %s snapshot restore: %m", arg_tool);
                else
                        log_error("%s snapshot restore exited with status %d.", arg_tool, r);
                /* The tool's "no space left" is only in its output: judge by what is left. */
                if (fstatvfs(s_fd, &sv) >= 0 &&
                    (uint64_t) sv.f_bavail * sv.f_frsize < 2 * meta.snapshot_size + 64U * 1024U * 1024U)
                        return log_error("Too little space left in %s.", arg_data_dir), EXIT_NOSPACE;
                return EXIT_TOOL;
        }

        /* The bump, where the tool could not. */
        db_fd = openat(s_fd, "data/member/snap/db", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (db_fd < 0)
                return log_error_errno(errno, "%s/member/snap/db: %m (did %s snapshot restore write it?)", data, arg_tool), EXIT_TOOL;
        if (arg_bump > 0 && !tool_bump) {
                r = bbolt_bump_revision(db_fd, arg_bump, &before, &msg);
                if (r < 0)
                        return exit_for(log_error_errno(r, "The revision bump of %s/member/snap/db failed: %s", data,
                                                        msg ?: strerror(-r)),
                                        EXIT_BUMP);
        }
        msg = mfree(msg);
        r = bbolt_read_revisions(db_fd, &after, &msg);
        if (r < 0)
                return log_error_errno(r, "Cannot read the revisions of %s/member/snap/db: %s", data, msg ?: strerror(-r)),
                       arg_bump > 0 && !tool_bump ? EXIT_BUMP : EXIT_TOOL;
        if (arg_bump > 0 && (after.scheduled_compact != after.latest || after.latest < 0 ||
                             (!tool_bump && (uint64_t) after.latest != (uint64_t) before.latest + arg_bump)))
                return log_error("The revision bump did not take: latest revision %" PRIi64 ", compaction at %" PRIi64 ".",
                                 after.latest, after.scheduled_compact),
                       tool_bump ? EXIT_TOOL : EXIT_BUMP;
        db_fd = safe_close(db_fd);

        if (unlinkat(s_fd, "snapshot.db", 0) < 0)
                return log_error_errno(errno, "Cannot remove %s: %m", snapshot), 1;

        /* etcd's owner and modes, durably: a root-owned restored dir is the most reported failure. */
        r = stat_at(dir_fd, "member", &owner);
        if (r == -ENOENT)
                r = fstat(dir_fd, &owner) < 0 ? -errno : 0;
        if (r < 0)
                return log_error_errno(r, "Cannot stat %s/member: %m", arg_data_dir), 1;
        member_fd = openat(s_fd, "data/member", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (member_fd < 0)
                return log_error_errno(errno, "Cannot open %s/member: %m", data), EXIT_TOOL;
        {
                _cleanup_free_ char *member_path = NULL;
                if (asprintf(&member_path, "%s/member", data) < 0)
                        return log_oom(), 1;
                r = tree_fix(member_fd, member_path, owner.st_uid, owner.st_gid, 0);
                if (r < 0)
                        return exit_for(r, 1);
        }
        if (fstat(member_fd, &st) < 0)
                return log_error_errno(errno, "Cannot stat %s/member: %m", data), 1;
        {
                _cleanup_close_ int data_fd = open_dir_at(s_fd, "data");
                if (data_fd < 0 || fsync(data_fd) < 0 || fsync(s_fd) < 0)
                        return exit_for(log_error_errno(data_fd < 0 ? data_fd : errno, "Cannot fsync %s: %m", data), 1);
        }

        /* Last: the marker that says all of the above is complete. */
        staged = (Staged) { .member_inode = st.st_ino, .revision = (uint64_t) after.latest, .bump = arg_bump };
        strcpy(staged.method, arg_bump == 0 ? "none" : tool_bump ? "tool" : "bbolt");
        r = staged_write(s_fd, &staged);
        if (r < 0)
                return exit_for(log_error_errno(r, "Cannot write %s/" STAGED_FILE ": %m", s_path), 1);
        log_info("Staged %s/member (inode %" PRIu64 ", owner %u:%u): revision %" PRIu64 ", bump %" PRIu64 " (%s).", data,
                 staged.member_inode, (unsigned) owner.st_uid, (unsigned) owner.st_gid, staged.revision, staged.bump,
                 staged.method);
        return 0;
}

static int rename_exchange_or_move(int from_fd, const char *from, int to_fd, const char *to, bool exchange) {
        if (exchange)
                return renameat2(from_fd, from, to_fd, to, RENAME_EXCHANGE) < 0 ? -errno : 0;
        return rename_noreplace(from_fd, from, to_fd, to);
}

static int step_swap(int dir_fd) {
        _cleanup_close_ int s_fd = -EBADF, data_fd = -EBADF;
        struct stat live, staged_member;
        bool to_new = streq(arg_to, "new"), have_live, have_staged;
        Staged staged;
        int r;

        s_fd = open_dir_at(dir_fd, arg_staging);
        if (s_fd == -ENOENT)
                return log_error("Nothing staged: there is no %s/%s.", arg_data_dir, arg_staging), 1;
        if (s_fd >= 0)
                data_fd = open_dir_at(s_fd, "data");
        if (s_fd < 0 || data_fd < 0)
                return log_error_errno(s_fd < 0 ? s_fd : data_fd, "Cannot open %s/%s/data: %m", arg_data_dir, arg_staging), 1;
        r = staged_read(s_fd, &staged);
        if (r < 0)
                return log_error_errno(r, "Nothing staged in %s/%s (" STAGED_FILE ": %m).", arg_data_dir, arg_staging), 1;

        r = stat_at(dir_fd, "member", &live);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Cannot stat %s/member: %m", arg_data_dir), 1;
        have_live = r >= 0 && S_ISDIR(live.st_mode);
        if (r >= 0 && !have_live)
                return log_error("%s/member is not a directory, refusing.", arg_data_dir), 1;
        r = stat_at(data_fd, "member", &staged_member);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Cannot stat %s/%s/data/member: %m", arg_data_dir, arg_staging), 1;
        have_staged = r >= 0;

        if (to_new && have_live && live.st_ino == staged.member_inode)
                log_info("%s/member is the staged data already.", arg_data_dir);
        else if (to_new) {
                if (!have_staged || staged_member.st_ino != staged.member_inode)
                        return log_error("%s/%s/data/member is not the staged member dir (inode %" PRIu64 "), refusing.",
                                         arg_data_dir, arg_staging, staged.member_inode), 1;
                r = rename_exchange_or_move(data_fd, "member", dir_fd, "member", have_live);
                if (r < 0)
                        return log_error_errno(r, "Cannot swap %s/member with the staged data: %m", arg_data_dir), 1;
                log_info("%s/member is the staged data now; the previous data is %s/%s/data/member.", arg_data_dir,
                         arg_data_dir, arg_staging);
        } else if (!have_live || live.st_ino != staged.member_inode)
                log_info("%s/member is not the staged data: nothing to swap back.", arg_data_dir);
        else {
                /* With no previous data beside it the swap back leaves DIR/member missing, as it
                 * was before: only right if finish has not moved that data elsewhere. */
                char previous[64 + BACKUP_ID_STRING_MAX];
                snprintf(previous, sizeof(previous), "member.before-restore-%s", arg_id);
                if (!have_staged && faccessat(dir_fd, previous, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                        return log_error("The previous data was moved to %s/%s by finish: not swapping back, refusing.",
                                         arg_data_dir, previous), 1;
                r = rename_exchange_or_move(dir_fd, "member", data_fd, "member", have_staged);
                if (r < 0)
                        return log_error_errno(r, "Cannot swap the previous data back into %s/member: %m", arg_data_dir), 1;
                log_info("%s/member is the previous data again.", arg_data_dir);
        }

        /* Also when nothing was to do: a run that crashed after the rename made it durable. */
        if (fsync_dir(dir_fd) < 0 || fsync_dir(data_fd) < 0)
                return log_error_errno(errno, "Cannot fsync %s: %m", arg_data_dir), 1;
        return 0;
}

/* Removes DIR/member.before-restore-* but keep (this restore's): each is a whole database and
 * its WAL, and the newest previous data is the one an operator may still want. */
static int previous_remove_older(int dir_fd, const char *keep) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        int r = 0;

        fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return log_error_errno(errno, "Cannot read %s: %m", arg_data_dir);
        d = fdopendir(fd);
        if (!d)
                return log_error_errno(errno, "Cannot read %s: %m", arg_data_dir);
        TAKE_FD(fd);
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                if (!startswith(de->d_name, "member.before-restore-") || streq(de->d_name, keep))
                        continue;
                int k = rm_rf_at(dirfd(d), de->d_name, 0);
                if (k < 0)
                        r = log_error_errno(k, "Cannot remove the previous data of an earlier restore, %s/%s: %m",
                                            arg_data_dir, de->d_name);
                else
                        log_info("Removed the previous data of an earlier restore, %s/%s.", arg_data_dir, de->d_name);
        }
        if (errno > 0 && r >= 0)
                r = log_error_errno(errno, "Cannot read %s: %m", arg_data_dir);
        closedir(d);
        if (r >= 0 && fsync_dir(dir_fd) < 0)
                r = log_error_errno(errno, "Cannot fsync %s: %m", arg_data_dir);
        return r;
}

static int step_finish(int dir_fd) {
        _cleanup_close_ int s_fd = -EBADF, data_fd = -EBADF;
        char previous[64 + BACKUP_ID_STRING_MAX];
        struct stat live, st;
        Staged staged;
        int r;

        snprintf(previous, sizeof(previous), "member.before-restore-%s", arg_id);
        s_fd = open_dir_at(dir_fd, arg_staging);
        if (s_fd == -ENOENT) {
                log_info("Nothing left to finish in %s%s%s.", arg_data_dir,
                         faccessat(dir_fd, previous, F_OK, AT_SYMLINK_NOFOLLOW) >= 0 ? "; the previous data is " : "",
                         faccessat(dir_fd, previous, F_OK, AT_SYMLINK_NOFOLLOW) >= 0 ? previous : "");
                return 0;
        }
        if (s_fd < 0)
                return log_error_errno(s_fd, "Cannot open %s/%s: %m", arg_data_dir, arg_staging), 1;
        data_fd = open_dir_at(s_fd, "data");
        if (data_fd < 0 && data_fd != -ENOENT)
                return log_error_errno(data_fd, "Cannot open %s/%s/data: %m", arg_data_dir, arg_staging), 1;

        if (data_fd >= 0 && stat_at(data_fd, "member", &st) >= 0) {
                r = staged_read(s_fd, &staged);
                if (r < 0)
                        return log_error_errno(r, "Cannot read %s/%s/" STAGED_FILE ": %m", arg_data_dir, arg_staging), 1;
                if (stat_at(dir_fd, "member", &live) < 0 || live.st_ino != staged.member_inode)
                        return log_error("%s/member is not the staged data: nothing to finish (swap --to new first, or "
                                         "cleanup), refusing.", arg_data_dir), 1;
                r = rename_noreplace(data_fd, "member", dir_fd, previous);
                if (r < 0)
                        return log_error_errno(r, "Cannot move the previous data to %s/%s: %m", arg_data_dir, previous), 1;
                if (fsync_dir(dir_fd) < 0 || fsync_dir(data_fd) < 0)
                        return log_error_errno(errno, "Cannot fsync %s: %m", arg_data_dir), 1;
                log_info("The previous data is %s/%s.", arg_data_dir, previous);
        }
        data_fd = safe_close(data_fd);
        s_fd = safe_close(s_fd);
        if (staging_remove(dir_fd) < 0)
                return 1;
        return previous_remove_older(dir_fd, previous) < 0 ? 1 : 0;
}

static int step_cleanup(int dir_fd) {
        return staging_remove(dir_fd) < 0 ? 1 : 0;
}

static int step_aside(int dir_fd) {
        char aside[64 + BACKUP_ID_STRING_MAX];
        struct stat st;
        int r;

        snprintf(aside, sizeof(aside), "member.before-rejoin-%s", arg_id);
        if (streq(arg_to, "aside")) {
                if (stat_at(dir_fd, aside, &st) >= 0)
                        log_info("%s/member is set aside already, as %s.", arg_data_dir, aside);
                else if (stat_at(dir_fd, "member", &st) >= 0) {
                        r = rename_noreplace(dir_fd, "member", dir_fd, aside);
                        if (r < 0)
                                return log_error_errno(r, "Cannot rename %s/member to %s: %m", arg_data_dir, aside), 1;
                        log_info("Set %s/member aside as %s.", arg_data_dir, aside);
                } else if (mkdirat(dir_fd, aside, MEMBER_DIR_MODE) < 0)
                        return log_error_errno(errno, "Cannot create %s/%s: %m", arg_data_dir, aside), 1;
                else
                        log_info("%s/member does not exist: nothing to set aside (%s is empty).", arg_data_dir, aside);
        } else if (stat_at(dir_fd, aside, &st) >= 0) {
                /* What is in DIR/member now is the removed learner's: worthless, and harmful
                 * once it is no member (etcd would refuse to start on it). */
                if (stat_at(dir_fd, "member", &st) >= 0) {
                        r = rm_rf_at(dir_fd, "member", 0);
                        if (r < 0)
                                return log_error_errno(r, "Cannot remove %s/member: %m", arg_data_dir), 1;
                }
                if (unlinkat(dir_fd, aside, AT_REMOVEDIR) >= 0)
                        log_info("%s/member was not there before the rejoin and is gone again.", arg_data_dir);
                else if (errno != ENOTEMPTY && errno != EEXIST)
                        return log_error_errno(errno, "Cannot remove %s/%s: %m", arg_data_dir, aside), 1;
                else {
                        r = rename_noreplace(dir_fd, aside, dir_fd, "member");
                        if (r < 0)
                                return log_error_errno(r, "Cannot rename %s/%s back to member: %m", arg_data_dir, aside), 1;
                        log_info("%s/member is the data it had before the rejoin again.", arg_data_dir);
                }
        } else
                log_info("Nothing set aside in %s for rejoin %s: nothing to put back.", arg_data_dir, arg_id);
        if (fsync_dir(dir_fd) < 0)
                return log_error_errno(errno, "Cannot fsync %s: %m", arg_data_dir), 1;
        return 0;
}

/* Where the derived manifest is written before it is renamed to DIR/POD.yaml: a dotfile, which
 * the kubelet does not read, of a fixed name, so that a run after a crash replaces what an
 * earlier one left. */
#define MANIFEST_TEMP_FORMAT ".%s.yaml.etcd-backup-new"
#define SET_FLAGS_MAX 64U

/* Reads dir_fd/name, never through a symlink: -ENOENT when it is not there, -EBADFD when it is
 * not a regular file. */
static int manifest_read(int dir_fd, const char *name, char **ret_text, size_t *ret_size, struct stat *ret_st) {
        _cleanup_close_ int fd = -EBADF;

        fd = open_regular_file_at(dir_fd, name, O_NOFOLLOW);
        if (fd == -ELOOP)
                fd = -EBADFD; /* a symlink */
        if (fd < 0)
                return fd;
        if (ret_st && fstat(fd, ret_st) < 0)
                return -errno;
        return static_pod_read_fd(fd, ret_text, ret_size, /* ret_error= */ NULL);
}

/* The manifest with the --set-flag flags set: the hidden original's text in, the derived one out. */
static int manifest_derive(const char *from, const char *text, size_t size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = static_pod_set_flags(text, size, arg_container, arg_set_flags, ret, ret_size, &error);
        if (r < 0)
                return log_error_errno(r, "Cannot set the flags in %s/%s: %s", arg_dir, from, error ?: strerror(-r));
        return r;
}

/* Whether dir_fd/name is exactly text: a regular file, not a symlink, byte for byte. */
static int manifest_is(int dir_fd, const char *name, const char *text, size_t size) {
        _cleanup_free_ char *have = NULL;
        size_t n;
        int r;

        r = manifest_read(dir_fd, name, &have, &n, NULL);
        if (IN_SET(r, -EBADFD, -EFBIG))
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot read %s/%s: %m", arg_dir, name);
        return n == size && memcmp(have, text, size) == 0;
}

/* Writes dir_fd/name, which must not exist, with text and the owner and mode of st: a temp file
 * in DIR, fsynced, renamed without replacing anything, DIR fsynced. */
static int manifest_write(int dir_fd, const char *name, const char *temp, const char *text, size_t size, const struct stat *st) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (unlinkat(dir_fd, temp, 0) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Cannot remove %s/%s: %m", arg_dir, temp);
        fd = openat(dir_fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return log_error_errno(errno, "Cannot create %s/%s: %m", arg_dir, temp);
        r = write_all(fd, text, size);
        /* fchown only where it changes something: the unit may not have CAP_CHOWN. */
        if (r >= 0 && (st->st_uid != geteuid() || st->st_gid != getegid()) && fchown(fd, st->st_uid, st->st_gid) < 0)
                r = -errno;
        if (r >= 0 && fchmod(fd, st->st_mode & 07777) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0)
                r = rename_noreplace(dir_fd, temp, dir_fd, name);
        if (r < 0) {
                (void) unlinkat(dir_fd, temp, 0);
                if (r == -EEXIST)
                        return log_error_errno(r, "%s/%s appeared meanwhile: not ours to overwrite, refusing.", arg_dir, name);
                return log_error_errno(r, "Cannot write %s/%s: %m", arg_dir, name);
        }
        if (fsync_dir(dir_fd) < 0)
                return log_error_errno(errno, "Cannot fsync %s: %m", arg_dir);
        return 0;
}

/*
 * With --set-flag: the visible manifest is derived from the hidden original, which stays. The
 * states, by which of DIR/POD.yaml (V) and DIR/.POD.yaml.etcd-backup-restore (H) are there, and
 * D, H with the flags set:
 *   --to visible   H: writes V = D. H and V = D: nothing to do. V alone with the flags set
 *                  (after --drop-hidden): nothing to do. H and any other V: refused.
 *   --to hidden    H and V = D: removes V. H alone: nothing to do. V alone: renamed to H, as
 *                  without --set-flag. H and any other V: refused.
 *   --drop-hidden  H and V = D: removes H; V stays the pod's manifest (writing it once more
 *                  would restart the member, so the flags stay there). V alone with the flags
 *                  set: nothing to do. H alone, or another V: refused.
 * Each ends with an fsync of DIR, also when there was nothing to do (a run that crashed after
 * the change made it durable).
 */
static int manifest_derived(int dir_fd, const char *visible, const char *hidden) {
        _cleanup_free_ char *temp = NULL, *original = NULL, *derived = NULL, *current = NULL, *again = NULL;
        size_t original_size = 0, derived_size = 0, current_size = 0, again_size = 0;
        bool have_hidden, have_visible;
        struct stat st;
        int r;

        if (asprintf(&temp, MANIFEST_TEMP_FORMAT, arg_pod) < 0)
                return log_oom();
        r = manifest_read(dir_fd, hidden, &original, &original_size, &st);
        if (r == -EBADFD)
                return log_error_errno(r, "%s/%s is not a regular file (a symlink?): not ours, refusing.", arg_dir, hidden);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Cannot read %s/%s: %m", arg_dir, hidden);
        have_hidden = r >= 0;
        have_visible = faccessat(dir_fd, visible, F_OK, AT_SYMLINK_NOFOLLOW) >= 0;
        if (!have_visible && errno != ENOENT)
                return log_error_errno(errno, "Cannot look at %s/%s: %m", arg_dir, visible);

        if (!have_hidden && !have_visible)
                return log_error_errno(SYNTHETIC_ERRNO(ENOENT), "Neither %s/%s nor %s/%s is there.", arg_dir, hidden, arg_dir,
                                       visible);

        if (!have_hidden) {
                if (streq_ptr(arg_to, "hidden")) {
                        r = rename_noreplace(dir_fd, visible, dir_fd, hidden);
                        if (r < 0)
                                return log_error_errno(r, "Cannot rename %s/%s to %s: %m", arg_dir, visible, hidden);
                        log_info("Renamed %s/%s to %s.", arg_dir, visible, hidden);
                } else {
                        /* No original to derive from: V must be the derived one already. */
                        r = manifest_read(dir_fd, visible, &current, &current_size, NULL);
                        if (r < 0 && !IN_SET(r, -EBADFD, -EFBIG))
                                return log_error_errno(r, "Cannot read %s/%s: %m", arg_dir, visible);
                        if (r >= 0) {
                                r = manifest_derive(visible, current, current_size, &again, &again_size);
                                if (r < 0)
                                        return r;
                        }
                        if (r != 0) /* not a regular file, or the flags would change it */
                                return log_error_errno(SYNTHETIC_ERRNO(EEXIST),
                                                       "%s/%s does not have the flags, and there is no %s/%s to derive them "
                                                       "from: not ours, refusing.", arg_dir, visible, arg_dir, hidden);
                        log_info("%s/%s has the flags already%s.", arg_dir, visible,
                                 arg_drop_hidden ? ", and the hidden original is gone" : "");
                }
                goto done;
        }

        r = manifest_derive(hidden, original, original_size, &derived, &derived_size);
        if (r < 0)
                return r;
        if (!have_visible) {
                if (streq_ptr(arg_to, "visible")) {
                        r = manifest_write(dir_fd, visible, temp, derived, derived_size, &st);
                        if (r < 0)
                                return r;
                        log_info("Wrote %s/%s: %s with the flags set (which is kept).", arg_dir, visible, hidden);
                } else if (streq_ptr(arg_to, "hidden"))
                        log_info("%s/%s is in place already.", arg_dir, hidden);
                else
                        return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                               "%s/%s is not there: %s/%s is the only manifest of the pod, refusing to remove it.",
                                               arg_dir, visible, arg_dir, hidden);
                goto done;
        }

        r = manifest_is(dir_fd, visible, derived, derived_size);
        if (r < 0)
                return r;
        if (r == 0)
                return log_error_errno(SYNTHETIC_ERRNO(EEXIST),
                                       "%s/%s is not %s/%s with the flags set (someone wrote it meanwhile): not ours, refusing.",
                                       arg_dir, visible, arg_dir, hidden);
        if (streq_ptr(arg_to, "visible"))
                log_info("%s/%s is in place already (%s kept).", arg_dir, visible, hidden);
        else if (streq_ptr(arg_to, "hidden")) {
                if (unlinkat(dir_fd, visible, 0) < 0)
                        return log_error_errno(errno, "Cannot remove %s/%s: %m", arg_dir, visible);
                log_info("Removed %s/%s (derived from %s, which stays).", arg_dir, visible, hidden);
        } else {
                if (unlinkat(dir_fd, hidden, 0) < 0)
                        return log_error_errno(errno, "Cannot remove %s/%s: %m", arg_dir, hidden);
                log_info("Removed %s/%s: %s is the pod's manifest now.", arg_dir, hidden, visible);
        }
done:
        if (unlinkat(dir_fd, temp, 0) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Cannot remove %s/%s, ignoring: %m", arg_dir, temp);
        if (fsync_dir(dir_fd) < 0)
                return log_error_errno(errno, "Cannot fsync %s: %m", arg_dir);
        return 0;
}

static int step_manifest(void) {
        _cleanup_free_ char *visible = NULL, *hidden = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        bool to_hidden = streq_ptr(arg_to, "hidden");
        const char *from, *to;
        int r;

        if (asprintf(&visible, "%s.yaml", arg_pod) < 0 || asprintf(&hidden, "." STATIC_POD_HIDDEN_FORMAT, arg_pod) < 0)
                return log_oom(), 1;
        dir_fd = open(arg_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", arg_dir), 1;
        if (arg_set_flags)
                return manifest_derived(dir_fd, visible, hidden) < 0 ? 1 : 0;
        from = to_hidden ? visible : hidden;
        to = to_hidden ? hidden : visible;
        if (faccessat(dir_fd, from, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return log_error_errno(errno, "Cannot look at %s/%s: %m", arg_dir, from), 1;
                if (faccessat(dir_fd, to, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                        return log_error_errno(errno, "Neither %s/%s nor %s/%s is there: %m", arg_dir, from, arg_dir, to), 1;
                log_info("%s/%s is in place already.", arg_dir, to);
        } else {
                r = rename_noreplace(dir_fd, from, dir_fd, to);
                if (r < 0)
                        return log_error_errno(r, "Cannot rename %s/%s to %s: %m", arg_dir, from, to), 1;
                log_info("Renamed %s/%s to %s.", arg_dir, from, to);
        }
        if (fsync_dir(dir_fd) < 0)
                return log_error_errno(errno, "Cannot fsync %s: %m", arg_dir), 1;
        return 0;
}

/* ---- the command line ------------------------------------------------------------------- */

static void help(FILE *f) {
        fprintf(f,
                "Usage: %1$s stage --data-dir DIR --id ID --backup FILE --tool PATH --name N\n"
                "           --initial-cluster C --initial-advertise-peer-urls U --initial-cluster-token T --bump B\n"
                "       %1$s swap --data-dir DIR --id ID --to new|old\n"
                "       %1$s finish --data-dir DIR --id ID\n"
                "       %1$s cleanup --data-dir DIR --id ID\n"
                "       %1$s manifest --dir DIR --pod NAME --to hidden|visible [--set-flag NAME=VALUE...] [--container C]\n"
                "       %1$s manifest --dir DIR --pod NAME --drop-hidden --set-flag NAME=VALUE... [--container C]\n"
                "       %1$s aside --data-dir DIR --id ID --to aside|back\n"
                "The steps of a restore that write etcd's data dir or a static pod's manifest, run by etcd-backupd in transient units.\n"
                "manifest --set-flag: --to visible writes DIR/NAME.yaml as the hidden manifest with each --NAME=VALUE set in\n"
                "the command line of container C (default: the pod's only one), keeping the hidden one; --to hidden removes that\n"
                "derived manifest again; --drop-hidden removes the hidden original, leaving the derived one in place. Both\n"
                "refuse a DIR/NAME.yaml that is not the derived one, and take the same --set-flag options as --to visible.\n"
                "Exit status: 0 ok, 2 usage, 3 backup corrupt, 4 no space, 5 the restore tool failed,\n"
                "6 the revision bump failed, 1 anything else.\n",
                program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[], const char **ret_step) {
        enum { ARG_DATA_DIR = 0x100, ARG_ID, ARG_BACKUP, ARG_TOOL, ARG_NAME, ARG_CLUSTER, ARG_URLS, ARG_TOKEN, ARG_BUMP, ARG_TO, ARG_DIR, ARG_POD,
               ARG_CONTAINER, ARG_SET_FLAG, ARG_DROP_HIDDEN };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "data-dir", required_argument, NULL, ARG_DATA_DIR },
                { "id", required_argument, NULL, ARG_ID },
                { "backup", required_argument, NULL, ARG_BACKUP },
                { "tool", required_argument, NULL, ARG_TOOL },
                { "name", required_argument, NULL, ARG_NAME },
                { "initial-cluster", required_argument, NULL, ARG_CLUSTER },
                { "initial-advertise-peer-urls", required_argument, NULL, ARG_URLS },
                { "initial-cluster-token", required_argument, NULL, ARG_TOKEN },
                { "bump", required_argument, NULL, ARG_BUMP },
                { "to", required_argument, NULL, ARG_TO },
                { "dir", required_argument, NULL, ARG_DIR },
                { "pod", required_argument, NULL, ARG_POD },
                { "container", required_argument, NULL, ARG_CONTAINER },
                { "set-flag", required_argument, NULL, ARG_SET_FLAG },
                { "drop-hidden", no_argument, NULL, ARG_DROP_HIDDEN },
                {},
        };
        const char *step;
        bool stage, manifest;
        int c;

        if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                help(stdout);
                return 0;
        }
        if (argc < 2 || argv[1][0] == '-')
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "A step is needed: stage, swap, finish, cleanup, manifest or aside.");
        step = argv[1];
        if (!streq(step, "stage") && !streq(step, "swap") && !streq(step, "finish") && !streq(step, "cleanup") &&
            !streq(step, "manifest") && !streq(step, "aside"))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unknown step \"%s\".", step);
        stage = streq(step, "stage");
        manifest = streq(step, "manifest");

        /* Options after the step; getopt must not permute a stray argument out of sight. */
        optind = 2;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                const char **slot = NULL;

                switch (c) {
                case 'h':
                        help(stdout);
                        return 0;
                case ARG_DATA_DIR: slot = manifest ? NULL : &arg_data_dir; break;
                case ARG_ID:       slot = manifest ? NULL : &arg_id; break;
                case ARG_DIR:      slot = manifest ? &arg_dir : NULL; break;
                case ARG_POD:      slot = manifest ? &arg_pod : NULL; break;
                case ARG_CONTAINER: slot = manifest ? &arg_container : NULL; break;
                case ARG_SET_FLAG: {
                        _cleanup_free_ char *flag = NULL;
                        const char *eq = strchr(optarg, '=');

                        if (!manifest)
                                break;
                        /* NAME as a flag's name is spelled; the value printable (it goes to the log). */
                        if (!eq || eq == optarg || optarg[0] == '-' || strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789-_.") !=
                            (size_t) (eq - optarg) || !value_is_safe(optarg))
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Invalid --set-flag \"%s\": NAME=VALUE is needed.", optarg);
                        if (arg_n_set_flags >= SET_FLAGS_MAX)
                                return log_error_errno(SYNTHETIC_ERRNO(E2BIG), "More than %u --set-flag.", SET_FLAGS_MAX);
                        flag = strdup_printf("--%s", optarg);
                        if (!flag || strv_extend_counted(&arg_set_flags, &arg_n_set_flags, flag) < 0)
                                return log_oom();
                        continue;
                }
                case ARG_DROP_HIDDEN:
                        if (!manifest)
                                break;
                        arg_drop_hidden = true;
                        continue;
                case ARG_BACKUP:   slot = stage ? &arg_backup : NULL; break;
                case ARG_TOOL:     slot = stage ? &arg_tool : NULL; break;
                case ARG_NAME:     slot = stage ? &arg_name : NULL; break;
                case ARG_CLUSTER:  slot = stage ? &arg_initial_cluster : NULL; break;
                case ARG_URLS:     slot = stage ? &arg_peer_urls : NULL; break;
                case ARG_TOKEN:    slot = stage ? &arg_token : NULL; break;
                case ARG_TO:       slot = streq(step, "swap") || streq(step, "aside") || manifest ? &arg_to : NULL; break;
                case ARG_BUMP:
                        if (!stage)
                                break;
                        if (arg_bump_set || !isdigit((unsigned char) optarg[0]) || safe_atou64(optarg, &arg_bump) < 0 ||
                            arg_bump > INT64_MAX)
                                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Invalid --bump \"%s\".", optarg);
                        arg_bump_set = true;
                        continue;
                default:
                        return -EINVAL;
                }
                if (!slot)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s does not take --%s.", step, options[c - ARG_DATA_DIR + 1].name);
                if (*slot)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--%s given twice.", options[c - ARG_DATA_DIR + 1].name);
                *slot = optarg;
        }
        if (optind < argc)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unexpected argument \"%s\".", argv[optind]);

        if (manifest) {
                if (!arg_dir || !arg_pod || !!arg_to == arg_drop_hidden ||
                    (arg_to && !streq(arg_to, "hidden") && !streq(arg_to, "visible")))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "manifest needs --dir, --pod and --to hidden, --to visible or --drop-hidden.");
                if (arg_drop_hidden && !arg_set_flags)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "--drop-hidden needs the --set-flag options the manifest was made visible with.");
                if (arg_container && !arg_set_flags)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--container goes with --set-flag.");
                if (arg_container && !static_pod_name_is_valid(arg_container))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--container must be a container's name.");
                if (!path_is_safe(arg_dir))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--dir must be an absolute path without . or .. (not the root).");
                if (!static_pod_name_is_valid(arg_pod))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--pod must be a static pod's name.");
                *ret_step = step;
                return 1;
        }
        if (!arg_data_dir || !arg_id)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--data-dir and --id are needed.");
        if (!path_is_safe(arg_data_dir))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--data-dir must be an absolute path without . or .. (not the root).");
        if (!restore_id_is_valid(arg_id))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--id must be a restore id (a lower-case UUID).");
        if (stage) {
                if (!arg_backup || !arg_tool || !arg_name || !arg_initial_cluster || !arg_peer_urls || !arg_token || !arg_bump_set)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                               "stage needs --backup, --tool, --name, --initial-cluster, "
                                               "--initial-advertise-peer-urls, --initial-cluster-token and --bump.");
                if (!path_is_safe(arg_backup) || !path_is_safe(arg_tool))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--backup and --tool must be absolute paths without . or .. in them.");
                if (!value_is_safe(arg_name) || !value_is_safe(arg_initial_cluster) || !value_is_safe(arg_peer_urls) ||
                    !value_is_safe(arg_token))
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "The membership values must be non-empty printable text.");
        }
        if (streq(step, "swap") && (!arg_to || (!streq(arg_to, "new") && !streq(arg_to, "old"))))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "swap needs --to new or --to old.");
        if (streq(step, "aside") && (!arg_to || (!streq(arg_to, "aside") && !streq(arg_to, "back"))))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "aside needs --to aside or --to back.");
        *ret_step = step;
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_close_ int dir_fd = -EBADF;
        const char *step = NULL;
        int r;

        r = parse_argv(argc, argv, &step);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : 0;
        if (streq(step, "manifest"))
                return step_manifest();
        if (asprintf(&arg_staging, ".restore-%s", arg_id) < 0)
                return log_oom(), 1;
        /* etcdctl 3.4 speaks v2 unless told; the unit sets it too, a manual run may not. */
        if (setenv("ETCDCTL_API", "3", 1) < 0)
                return log_oom(), 1;
        umask(0077);

        /* DIR itself may be a symlink (/var/lib/etcd -> /srv/etcd); nothing below it may. */
        dir_fd = open(arg_data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "Cannot open %s: %m", arg_data_dir), 1;

        if (streq(step, "stage")) {
                r = step_stage(dir_fd);
                /* A failed stage leaves no half-built copy of the cluster's data behind (it
                 * may be gigabytes); were this removal to fail too, cleanup or the next stage
                 * removes it. */
                if (r != 0 && staging_created)
                        (void) staging_remove(dir_fd);
        }
        else if (streq(step, "swap"))
                r = step_swap(dir_fd);
        else if (streq(step, "finish"))
                r = step_finish(dir_fd);
        else if (streq(step, "aside"))
                r = step_aside(dir_fd);
        else
                r = step_cleanup(dir_fd);
        free(arg_staging);
        return r;
}
