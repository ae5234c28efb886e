/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Child processes on a real sd-event loop, with this process set up as the agent is (SIGTERM,
 * SIGCHLD, SIGUSR1 blocked, SIGTERM ignored as well): children start with nothing blocked or
 * ignored, output beyond a pipe buffer neither stalls them nor grows without bound, a timeout
 * ends them (SIGKILL for one that ignores SIGTERM), and freeing a running one kills and reaps it.
 */

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "spawn-child.h"
#include "string-util.h"
#include "tap.h"
#include "time-util.h"

static sd_event *event;

typedef struct Outcome {
        bool done;
        int code, status;
        bool timed_out;
        char *output, *error;
        uint64_t total;
        bool truncated;
} Outcome;

static void on_done(Spawn *s, const SpawnResult *r, void *userdata) {
        Outcome *o = userdata;

        o->done = true;
        o->code = r->code;
        o->status = r->status;
        o->timed_out = r->timed_out;
        o->output = strdup(r->output.data);
        o->error = strdup(r->error.data);
        o->total = r->output.total;
        o->truncated = r->output.truncated;
}

static void outcome_done(Outcome *o) {
        free(o->output);
        free(o->error);
}

/* Runs the loop until the child is done or limit passed; false on the limit. */
static bool run_until_done(Outcome *o, usec_t limit) {
        usec_t end = now(CLOCK_MONOTONIC) + limit;

        while (!o->done && now(CLOCK_MONOTONIC) < end)
                if (sd_event_run(event, 100 * USEC_PER_MSEC) < 0)
                        return false;
        return o->done;
}

/* Spawns, runs until done (10 s at most), frees. */
static int run(const SpawnOptions *opts, Outcome *o) {
        _cleanup_(spawn_freep) Spawn *s = NULL;
        int r;

        *o = (Outcome) {};
        r = spawn_start(event, opts, on_done, o, &s);
        if (r < 0)
                return r;
        return run_until_done(o, 10 * USEC_PER_SEC) ? 0 : -ETIMEDOUT;
}

TEST(child_starts_clean) {
        char *argv[] = { "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL };
        SpawnOptions opts = { .argv = argv };
        _cleanup_(outcome_done) Outcome o = {};
        unsigned long long ign = 0;
        const char *p;

        CHECK_EQ(run(&opts, &o), 0);
        CHECK_EQ(o.code, CLD_EXITED);
        CHECK_EQ(o.status, 0);
        CHECK(o.output && strstr(o.output, "SigBlk:\t0000000000000000\n"));
        p = o.output ? strstr(o.output, "SigIgn:\t") : NULL;
        CHECK(p && sscanf(p, "SigIgn:\t%llx", &ign) == 1);
        CHECK_EQ(ign & (1ULL << (SIGTERM - 1)), 0);
        if (tap_current_failed)
                printf("#   %s", strna(o.output));
}

/* What `seq 1 N` prints. */
static char *seq_text(unsigned n) {
        char *t = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&t, &size);

        for (unsigned i = 1; i <= n; i++)
                fprintf(f, "%u\n", i);
        fclose(f);
        return t;
}

TEST(large_output_kept_whole) {
        char *argv[] = { "seq", "1", "40000", NULL };
        SpawnOptions opts = { .argv = argv, .output_max = 1024 * 1024 };
        _cleanup_(outcome_done) Outcome o = {};
        _cleanup_free_ char *expected = seq_text(40000);

        /* 229 KB: more than three pipe buffers, read while seq runs. */
        CHECK_EQ(run(&opts, &o), 0);
        CHECK_EQ(o.code, CLD_EXITED);
        CHECK_EQ(o.status, 0);
        CHECK_EQ(o.total, strlen(expected));
        CHECK(!o.truncated);
        CHECK(o.output && streq(o.output, expected));
}

TEST(large_output_truncated) {
        char *argv[] = { "sh", "-c", "seq 1 40000; echo done >&2", NULL };
        SpawnOptions opts = { .argv = argv };
        _cleanup_(outcome_done) Outcome o = {};
        _cleanup_free_ char *expected = seq_text(40000);
        size_t half = SPAWN_OUTPUT_MAX_DEFAULT / 2, n = strlen(expected);

        CHECK_EQ(run(&opts, &o), 0);
        CHECK_EQ(o.status, 0);
        CHECK_EQ(o.total, n + strlen("done\n"));
        CHECK(o.truncated);
        /* The first and the last 32 KiB, and a line saying how much is missing between them. */
        CHECK(o.output && strncmp(o.output, expected, half) == 0);
        CHECK(o.output && endswith(o.output, "39999\n40000\ndone\n"));
        CHECK(o.output && strlen(o.output) > 2 * half && strlen(o.output) < 2 * half + 100);
        CHECK(o.output && strstr(o.output, "bytes left out ...]\n"));
}

TEST(stderr_separate) {
        char *argv[] = { "sh", "-c", "seq 1 40000 >&2; echo out", NULL };
        SpawnOptions opts = { .argv = argv, .stderr_separate = true };
        _cleanup_(outcome_done) Outcome o = {};

        CHECK_EQ(run(&opts, &o), 0);
        CHECK_EQ(o.status, 0);
        CHECK(o.output && streq(o.output, "out\n"));
        CHECK(o.error && startswith(o.error, "1\n2\n3\n") && endswith(o.error, "\n40000\n"));
}

TEST(exit_status_and_signal) {
        char *exit3[] = { "sh", "-c", "exit 3", NULL };
        char *usr1[] = { "sh", "-c", "kill -USR1 $$; sleep 5", NULL };
        SpawnOptions opts = { .argv = exit3 };
        _cleanup_(outcome_done) Outcome o = {};
        _cleanup_(outcome_done) Outcome k = {};
        char buf[64];
        SpawnResult sr = { .code = CLD_KILLED, .status = SIGKILL, .timed_out = true };

        CHECK_EQ(run(&opts, &o), 0);
        CHECK_EQ(o.code, CLD_EXITED);
        CHECK_EQ(o.status, 3);
        CHECK(!o.timed_out);

        /* SIGUSR1 is blocked here; the child gets it all the same. */
        opts.argv = usr1;
        CHECK_EQ(run(&opts, &k), 0);
        CHECK_EQ(k.code, CLD_KILLED);
        CHECK_EQ(k.status, SIGUSR1);

        CHECK_STREQ(spawn_result_describe(&sr, buf, sizeof(buf)), "was killed by SIGKILL after the timeout");
}

TEST(timeout_sigterm) {
        char *argv[] = { "sleep", "100", NULL };
        SpawnOptions opts = { .argv = argv, .timeout = 200 * USEC_PER_MSEC, .kill_grace = 5 * USEC_PER_SEC };
        _cleanup_(outcome_done) Outcome o = {};
        usec_t start = now(CLOCK_MONOTONIC);

        /* SIGTERM is blocked and ignored in this process: the child must not inherit either. */
        CHECK_EQ(run(&opts, &o), 0);
        CHECK_EQ(o.code, CLD_KILLED);
        CHECK_EQ(o.status, SIGTERM);
        CHECK(o.timed_out);
        CHECK(now(CLOCK_MONOTONIC) - start < 4 * USEC_PER_SEC);
}

TEST(timeout_sigkill_after_grace) {
        char *argv[] = { "sh", "-c", "trap '' TERM; sleep 100", NULL };
        SpawnOptions opts = { .argv = argv, .timeout = 200 * USEC_PER_MSEC, .kill_grace = 300 * USEC_PER_MSEC };
        _cleanup_(outcome_done) Outcome o = {};
        usec_t start = now(CLOCK_MONOTONIC), took;

        CHECK_EQ(run(&opts, &o), 0);
        took = now(CLOCK_MONOTONIC) - start;
        CHECK_EQ(o.code, CLD_KILLED);
        CHECK_EQ(o.status, SIGKILL);
        CHECK(o.timed_out);
        CHECK(took >= 500 * USEC_PER_MSEC && took < 4 * USEC_PER_SEC);
}

TEST(environment_and_directory) {
        char *argv[] = { "sh", "-c", "echo \"$FOO $BAR $PWD $(env | grep -c ^FOO=)\"", NULL };
        char *env[] = { "FOO=new", "BAR=added", NULL };
        SpawnOptions opts = { .argv = argv, .env = env, .directory = "/usr" };
        _cleanup_(outcome_done) Outcome o = {};

        setenv("FOO", "old", 1);
        CHECK_EQ(run(&opts, &o), 0);
        CHECK_STREQ(o.output, "new added /usr 1\n");
        unsetenv("FOO");
}

TEST(no_such_program) {
        char *argv[] = { "etcd-backup-no-such-program", NULL };
        SpawnOptions opts = { .argv = argv };
        Outcome o = {};
        Spawn *s = NULL;

        CHECK_EQ(spawn_start(event, &opts, on_done, &o, &s), -ENOENT);
        CHECK(!s);
}

TEST(free_kills_and_reaps) {
        char path[] = "/tmp/test-spawn-child.XXXXXX";
        _cleanup_free_ char *script = NULL;
        char *argv[] = { "sh", "-c", NULL, NULL };
        SpawnOptions opts = { .argv = argv };
        Outcome o = {};
        Spawn *s = NULL;
        usec_t end;
        FILE *f;
        int fd, pid = 0, grandchild = 0;

        fd = mkstemp(path);
        CHECK(fd >= 0);
        close(fd);
        /* A grandchild too: the whole process group goes. */
        CHECK(asprintf(&script, "sleep 100 & echo $$ $! >%s.tmp && mv %s.tmp %s; wait", path, path, path) > 0);
        argv[2] = script;
        unlink(path);
        CHECK_EQ(spawn_start(event, &opts, on_done, &o, &s), 0);
        for (end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC; access(path, F_OK) < 0 && now(CLOCK_MONOTONIC) < end;)
                (void) sd_event_run(event, 50 * USEC_PER_MSEC);
        f = fopen(path, "re");
        CHECK(f && fscanf(f, "%d %d", &pid, &grandchild) == 2);
        if (f)
                fclose(f);
        unlink(path);

        s = spawn_free(s);
        CHECK(!o.done);
        /* Reaped: not even a zombie is left. */
        CHECK(pid > 0 && kill(pid, 0) < 0 && errno == ESRCH);
        for (end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC; grandchild > 0 && kill(grandchild, 0) == 0 && now(CLOCK_MONOTONIC) < end;)
                usleep(10000);
        CHECK(grandchild > 0 && kill(grandchild, 0) < 0);
}

int main(void) {
        sigset_t ss;

        /* As etcd-backupd has it, and more. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGUSR1);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        signal(SIGTERM, SIG_IGN);
        if (sd_event_new(&event) < 0)
                return 1;

        RUN(child_starts_clean);
        RUN(large_output_kept_whole);
        RUN(large_output_truncated);
        RUN(stderr_separate);
        RUN(exit_status_and_signal);
        RUN(timeout_sigterm);
        RUN(timeout_sigkill_after_grace);
        RUN(environment_and_directory);
        RUN(no_such_program);
        RUN(free_kills_and_reaps);

        sd_event_unref(event);
        return tap_finish();
}
