/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Child processes. posix_spawnp() rather than fork(): the agent has threads, and nothing may run
 * between fork and exec. Its attributes undo what the agent set up for itself (signals blocked
 * for the loop's signalfd, ignored ones), which a child would otherwise inherit: with SIGTERM
 * blocked, no timeout or `systemctl stop` could end it. The pipes are non-blocking on our side
 * only and are read while the child runs, so that a child never stalls on a full pipe; what is
 * left in them when it exits is read before the callback. sd-event watches the child (through
 * a pidfd where the kernel has them) and reaps it.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>

#include "spawn-child.h"
#include "string-util.h"

extern char **environ;

/* What one read at the exit may take in, per stream: a child that exited has written all it
 * will, but something it started may still hold the pipe and write on. */
#define SPAWN_DRAIN_MAX (1024U * 1024U)

typedef struct SpawnStream {
        int fd;
        sd_event_source *source;
        size_t head_max, tail_max;
        char *head;
        size_t head_size;
        char *tail; /* a ring of tail_max bytes, once head is full */
        size_t tail_size, tail_pos;
        uint64_t total;
        SpawnOutput result;
} SpawnStream;

struct Spawn {
        pid_t pid;
        sd_event_source *child;
        sd_event_source *timer;
        usec_t kill_grace;
        bool term_sent, exited;
        SpawnStream out, err;
        SpawnResult result;
        spawn_done_t done;
        void *userdata;
};

static void stream_done(SpawnStream *st) {
        st->source = sd_event_source_disable_unref(st->source);
        st->fd = safe_close(st->fd);
        st->head = mfree(st->head);
        st->tail = mfree(st->tail);
        st->result.data = mfree(st->result.data);
}

Spawn *spawn_free(Spawn *s) {
        if (!s)
                return NULL;
        if (s->child && !s->exited)
                /* The group, while its leader is unreaped and its id cannot be anyone else's.
                 * The event source then kills the leader again and reaps it. */
                (void) kill(-s->pid, SIGKILL);
        sd_event_source_disable_unref(s->child);
        sd_event_source_disable_unref(s->timer);
        stream_done(&s->out);
        stream_done(&s->err);
        free(s);
        return NULL;
}

static int stream_append(SpawnStream *st, const char *p, size_t n) {
        st->total += n;
        if (st->head_size < st->head_max) {
                size_t k = MIN(n, st->head_max - st->head_size);
                char *h = realloc(st->head, st->head_size + k);

                if (!h)
                        return -ENOMEM;
                st->head = h;
                memcpy(st->head + st->head_size, p, k);
                st->head_size += k;
                p += k;
                n -= k;
        }
        if (n == 0 || st->tail_max == 0)
                return 0;
        if (!st->tail && !(st->tail = malloc(st->tail_max)))
                return -ENOMEM;
        /* Only the last tail_max bytes of this chunk can survive it. */
        if (n > st->tail_max) {
                p += n - st->tail_max;
                n = st->tail_max;
        }
        while (n > 0) {
                size_t k = MIN(n, st->tail_max - st->tail_pos);

                memcpy(st->tail + st->tail_pos, p, k);
                st->tail_pos = (st->tail_pos + k) % st->tail_max;
                st->tail_size = MIN(st->tail_size + k, st->tail_max);
                p += k;
                n -= k;
        }
        return 0;
}

/* Reads what is there now, up to max: > 0 more may come, 0 end of file, < 0 error. */
static int stream_read(SpawnStream *st, size_t max) {
        char buf[16384];

        for (size_t done = 0; done < max;) {
                ssize_t n = read(st->fd, buf, sizeof(buf));
                int r;

                if (n < 0)
                        return errno == EAGAIN ? 1 : errno == EINTR ? 1 : -errno;
                if (n == 0)
                        return 0;
                r = stream_append(st, buf, (size_t) n);
                if (r < 0)
                        return r;
                done += (size_t) n;
        }
        return 1;
}

static int on_stream(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        SpawnStream *st = userdata;

        /* One pipe's worth per wakeup, so that a chatty child does not starve the loop. At the
         * end of the file (or on an error) the pipe is done: nothing more can be read. */
        if (stream_read(st, 64 * 1024) <= 0) {
                st->source = sd_event_source_disable_unref(st->source);
                st->fd = safe_close(st->fd);
        }
        return 0;
}

static int stream_finish(SpawnStream *st) {
        size_t tail_start = st->tail_size < st->tail_max ? 0 : st->tail_pos;
        char marker[96] = "";
        char *d;

        if (st->fd >= 0)
                (void) stream_read(st, SPAWN_DRAIN_MAX);
        st->source = sd_event_source_disable_unref(st->source);
        st->fd = safe_close(st->fd);

        st->result.total = st->total;
        st->result.truncated = st->total > st->head_size + st->tail_size;
        if (st->result.truncated)
                snprintf(marker, sizeof(marker), "\n[... %" PRIu64 " bytes left out ...]\n",
                         st->total - st->head_size - st->tail_size);
        d = st->result.data = malloc(st->head_size + strlen(marker) + st->tail_size + 1);
        if (!d)
                return -ENOMEM;
        if (st->head_size > 0)
                d = mempcpy(d, st->head, st->head_size);
        d = stpcpy(d, marker);
        /* The ring from its oldest byte. */
        if (st->tail_size > 0) {
                d = mempcpy(d, st->tail + tail_start, st->tail_size - tail_start);
                d = mempcpy(d, st->tail, tail_start);
        }
        *d = 0;
        st->result.size = (size_t) (d - st->result.data);
        st->head = mfree(st->head);
        st->tail = mfree(st->tail);
        return 0;
}

static int on_child(sd_event_source *source, const siginfo_t *si, void *userdata) {
        Spawn *s = userdata;
        static const SpawnOutput none = { .data = (char *) "" };

        s->exited = true;
        s->timer = sd_event_source_disable_unref(s->timer);
        s->result.code = si->si_code;
        s->result.status = si->si_status;
        if (stream_finish(&s->out) < 0 || stream_finish(&s->err) < 0) {
                /* Out of memory for the copy: report the exit at least. */
                s->result.output = none;
                s->result.error = none;
        } else {
                s->result.output = s->out.result;
                s->result.error = s->err.result;
        }
        /* sd-event reaps the child once this returns. */
        s->done(s, &s->result, s->userdata);
        return 0;
}

static int on_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        Spawn *s = userdata;
        int r;

        if (s->term_sent) {
                (void) kill(-s->pid, SIGKILL);
                return 0;
        }
        s->term_sent = s->result.timed_out = true;
        (void) kill(-s->pid, SIGTERM);
        r = sd_event_source_set_time_relative(source, s->kill_grace);
        if (r >= 0)
                r = sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        if (r < 0)
                (void) kill(-s->pid, SIGKILL);
        return 0;
}

static int stream_init(SpawnStream *st, size_t max, int *ret_write_fd) {
        int p[2];

        st->head_max = max / 2;
        st->tail_max = max - max / 2;
        /* Non-blocking on our side only: the child's writes must wait for us, not fail. */
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        st->fd = p[0];
        *ret_write_fd = p[1];
        if (fcntl(st->fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

/* environ with each "KEY=VALUE" of extra replacing KEY, or added. */
static char **environment_with(char * const *extra) {
        size_t n = strv_length(environ), m = strv_length(extra), k = 0;
        char **l = calloc(n + m + 1, sizeof(char *));

        if (!l)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                size_t key = strcspn(environ[i], "=");
                bool replaced = false;

                for (size_t j = 0; j < m && !replaced; j++)
                        replaced = strncmp(extra[j], environ[i], key) == 0 && extra[j][key] == '=';
                if (!replaced)
                        l[k++] = environ[i];
        }
        for (size_t j = 0; j < m; j++)
                l[k++] = extra[j];
        return l;
}

static int spawn_child(Spawn *s, const SpawnOptions *o, int out_fd, int err_fd) {
        _cleanup_free_ char **env = NULL;
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int r;

        if (o->env && !(env = environment_with(o->env)))
                return -ENOMEM;

        sigemptyset(&none);
        sigfillset(&all);
        r = posix_spawnattr_init(&attr);
        if (r != 0)
                return -r;
        r = posix_spawn_file_actions_init(&actions);
        if (r != 0) {
                posix_spawnattr_destroy(&attr);
                return -r;
        }
        if ((r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) == 0 &&
            (r = posix_spawnattr_setsigmask(&attr, &none)) == 0 && (r = posix_spawnattr_setsigdefault(&attr, &all)) == 0 &&
            (r = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
            (r = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO)) == 0 &&
            (!o->directory || (r = posix_spawn_file_actions_addchdir_np(&actions, o->directory)) == 0))
                r = posix_spawnp(&s->pid, o->argv[0], &actions, &attr, o->argv, env ?: environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        return -r;
}

int spawn_start(sd_event *e, const SpawnOptions *o, spawn_done_t done, void *userdata, Spawn **ret) {
        _cleanup_(spawn_freep) Spawn *s = NULL;
        _cleanup_close_ int out_w = -EBADF, err_w = -EBADF;
        size_t max = o->output_max ?: SPAWN_OUTPUT_MAX_DEFAULT;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->out.fd = s->err.fd = -EBADF;
        s->done = done;
        s->userdata = userdata;
        s->kill_grace = o->kill_grace ?: SPAWN_KILL_GRACE_DEFAULT;

        r = stream_init(&s->out, max, &out_w);
        if (r >= 0 && o->stderr_separate)
                r = stream_init(&s->err, max, &err_w);
        if (r < 0)
                return r;

        r = spawn_child(s, o, out_w, o->stderr_separate ? err_w : out_w);
        if (r < 0)
                return r;
        /* Ours are closed, so that the pipes end when the child (and what it started) is done. */
        out_w = safe_close(out_w);
        err_w = safe_close(err_w);

        r = sd_event_add_child(e, &s->child, s->pid, WEXITED, on_child, s);
        if (r < 0) {
                (void) kill(-s->pid, SIGKILL);
                (void) waitpid(s->pid, NULL, 0);
                return r;
        }
        /* Freed while the child runs, the source kills and reaps it. */
        r = sd_event_source_set_child_process_own(s->child, true);
        if (r >= 0)
                r = sd_event_add_io(e, &s->out.source, s->out.fd, EPOLLIN, on_stream, &s->out);
        if (r >= 0 && s->err.fd >= 0)
                r = sd_event_add_io(e, &s->err.source, s->err.fd, EPOLLIN, on_stream, &s->err);
        if (r >= 0 && o->timeout > 0)
                r = sd_event_add_time_relative(e, &s->timer, CLOCK_MONOTONIC, o->timeout, 0, on_timeout, s);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

const char *spawn_result_describe(const SpawnResult *r, char *buf, size_t size) {
        if (r->code == CLD_EXITED)
                snprintf(buf, size, "exited with status %i%s", r->status, r->timed_out ? " after the timeout" : "");
        else
                snprintf(buf, size, "was killed by SIG%s%s", strna(sigabbrev_np(r->status)),
                         r->timed_out ? " after the timeout" : "");
        return buf;
}
