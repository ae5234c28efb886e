/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * etcd-backupctl's restore verbs, the real binary (ETCD_BACKUPCTL), against a fake agent on a
 * private dbus-daemon: how `restore` follows the phases, what it prints and the exit status it
 * returns for each way a restore ends, Ctrl-C (the waiting stops, never the restore), an agent
 * that restarts mid-restore, the options as they reach the agent, cancel-restore,
 * list-restores, restore-status and status. The fake plays a Restore object's phases the way
 * the agent emits them (Phase and Progress in one PropertiesChanged, Finished and the outcome
 * in the next, then RestoreFinished); the real agent is tested end to end in the restore's
 * integration test.
 */

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <systemd/sd-event.h>

#include "bus-names.h"
#include "errors.h"
#include "private-bus.h"
#include "tap.h"
#include "time-util.h"

#define R_ID "9b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"
#define R_PATH RESTORE_OBJECT_PREFIX "/r1"
#define BACKUP "3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9"
#define PREVIOUS "/var/lib/etcd/default/member.before-restore-" R_ID

typedef enum Scenario {
        COMPLETES,     /* verifying is over before the CLI can look; then on to completed */
        ROLLS_BACK,    /* etcd unhealthy after the swap: rolled back */
        ROLLBACK_FAILS,
        FAILS_EARLY,   /* a corrupt backup, found while verifying */
        STAYS_STAGING, /* staging for a minute, unless cancelled */
        AGENT_EXITS,   /* the agent leaves the bus while stopping */
        RESUMED,       /* a new agent, which finished the restore before it took the name */
        LISTED,        /* three restores: one completed, one rolled back, one running */
        _SCENARIO_MAX,
} Scenario;

typedef struct Step {
        unsigned delay_ms; /* after the step before */
        const char *phase; /* NULL: the same; "exit": the agent leaves */
        uint32_t progress;
        const char *error_name;
        const char *error;
} Step;

static const Step steps_completes[] = {
        { 50, NULL, 40 }, { 50, "stopping" }, { 50, "swapping" }, { 50, "starting-etcd" },
        { 50, "starting-control-plane", 50 }, { 50, "completed" }, {},
};
static const Step steps_rolls_back[] = {
        { 50, "stopping" }, { 50, "swapping" }, { 50, "starting-etcd" },
        { 50, NULL, 0, AGENT_ERROR_ETCD_UNHEALTHY, "etcd did not become healthy within 90 s" },
        { 0, "rolling-back" }, { 50, "rolled-back" }, {},
};
static const Step steps_rollback_fails[] = {
        { 50, "stopping" }, { 50, NULL, 0, AGENT_ERROR_UNIT_FAILED, "etcd.service failed to stop" },
        { 0, "rolling-back" },
        { 50, NULL, 0, AGENT_ERROR_ROLLBACK_FAILED, "etcd.service failed to stop; rolling back failed too: etcd.service failed to start" },
        { 0, "failed" }, {},
};
static const Step steps_fails_early[] = {
        { 50, NULL, 0, AGENT_ERROR_BACKUP_CORRUPT, "Backup " BACKUP " is damaged: SHA-256 mismatch" }, { 0, "failed" }, {},
};
static const Step steps_stays_staging[] = { { 50, "staging" }, { 60000, "stopping" }, {} };
static const Step steps_agent_exits[] = { { 50, "stopping" }, { 100, "exit" }, {} };

typedef struct Fake Fake;

typedef struct FakeRestore {
        const char *id, *kind, *backup, *phase, *error, *error_name, *previous_data, *data_dir, *etcd_unit;
        const char *name, *initial_cluster;
        uint32_t progress, cancel_calls;
        uint64_t started, finished, downtime, bump;
        int64_t revision;
        int dry_run, resumed; /* sd-bus reads 'b' as int */
        bool stopped;
        Fake *fake;
} FakeRestore;

struct Fake {
        Scenario scenario;
        sd_bus *bus;
        sd_event *event;
        const char *state, *running_backup, *running_restore, *version, *storage, *endpoint;
        char options[512];
        const char *last_options;
        uint32_t restore_calls;
        const Step *steps;
        sd_event_source *timer;
        FakeRestore r[3];
        const char *paths[3];
        size_t n;
};

static void fake_emit(Fake *f, const char *path, const char *property, ...) {
        va_list ap;
        char *names[8] = {};
        size_t n = 0;

        va_start(ap, property);
        for (const char *p = property; p && n < ELEMENTSOF(names) - 1; p = va_arg(ap, const char *))
                names[n++] = (char *) p;
        va_end(ap);
        (void) sd_bus_emit_properties_changed_strv(f->bus, path, RESTORE_INTERFACE, names);
}

/* As the agent ends a restore: the phase, then its outcome, then the signal, then the Manager. */
static void fake_finish(Fake *f, FakeRestore *x, const char *phase) {
        x->finished = now(CLOCK_REALTIME);
        x->phase = phase;
        x->progress = 100;
        if (x->stopped && !streq(phase, "failed"))
                x->downtime = 12349999;
        if (streq(phase, "completed"))
                x->previous_data = PREVIOUS;
        fake_emit(f, R_PATH, "Phase", "Progress", NULL);
        fake_emit(f, R_PATH, "Finished", "Error", "ErrorName", "DowntimeUSec", "PreviousData", "RevisionBump", NULL);
        (void) sd_bus_emit_signal(f->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "RestoreFinished", "sos", x->id,
                                  R_PATH, phase);
        f->state = "idle";
        f->running_restore = "/";
        (void) sd_bus_emit_properties_changed(f->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "State", "RunningRestore",
                                              NULL);
}

static int on_step(sd_event_source *s, uint64_t usec, void *userdata);

static void fake_schedule(Fake *f) {
        f->timer = sd_event_source_unref(f->timer);
        if (f->steps && (f->steps->phase || f->steps->progress || f->steps->error))
                (void) sd_event_add_time_relative(f->event, &f->timer, CLOCK_MONOTONIC, f->steps->delay_ms * USEC_PER_MSEC, 0,
                                                  on_step, f);
}

static int on_step(sd_event_source *s, uint64_t usec, void *userdata) {
        Fake *f = userdata;
        FakeRestore *x = &f->r[0];
        const Step *step = f->steps++;

        if (step->phase && streq(step->phase, "exit"))
                return sd_event_exit(f->event, 0);
        if (step->error) {
                x->error = step->error;
                x->error_name = step->error_name;
                fake_emit(f, R_PATH, "Error", "ErrorName", NULL);
        }
        if (step->phase && (streq(step->phase, "completed") || streq(step->phase, "rolled-back") || streq(step->phase, "failed")))
                fake_finish(f, x, step->phase);
        else if (step->phase) {
                x->phase = step->phase;
                x->progress = step->progress;
                x->stopped = x->stopped || streq(x->phase, "stopping");
                fake_emit(f, R_PATH, "Phase", "Progress", NULL);
        } else if (step->progress) {
                x->progress = step->progress;
                fake_emit(f, R_PATH, "Progress", NULL);
        }
        fake_schedule(f);
        return 0;
}

static int on_cancelled(sd_event_source *s, uint64_t usec, void *userdata) {
        Fake *f = userdata;

        f->r[0].error = "Cancelled.";
        f->r[0].error_name = AGENT_ERROR_CANCELLED;
        fake_emit(f, R_PATH, "Error", "ErrorName", NULL);
        fake_finish(f, &f->r[0], "failed");
        return 0;
}

static int fake_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeRestore *x = userdata;
        Fake *f = x->fake;

        x->cancel_calls++;
        if (x->stopped)
                return sd_bus_error_set(error, AGENT_ERROR_NOT_CANCELLABLE, "The control plane was stopped for it.");
        f->steps = NULL;
        f->timer = sd_event_source_unref(f->timer);
        (void) sd_event_add_time_relative(f->event, &f->timer, CLOCK_MONOTONIC, 50 * USEC_PER_MSEC, 0, on_cancelled, f);
        return sd_bus_reply_method_return(m, NULL);
}

static int property_get_units(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_strv(reply, STRV_MAKE("kube-apiserver.service", "kube-scheduler.service"));
}

static const sd_bus_vtable fake_restore_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", NULL, offsetof(FakeRestore, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", NULL, offsetof(FakeRestore, kind), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Backup", "s", NULL, offsetof(FakeRestore, backup), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Phase", "s", NULL, offsetof(FakeRestore, phase), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "u", NULL, offsetof(FakeRestore, progress), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Error", "s", NULL, offsetof(FakeRestore, error), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ErrorName", "s", NULL, offsetof(FakeRestore, error_name), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Started", "t", NULL, offsetof(FakeRestore, started), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Finished", "t", NULL, offsetof(FakeRestore, finished), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DowntimeUSec", "t", NULL, offsetof(FakeRestore, downtime), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PreviousData", "s", NULL, offsetof(FakeRestore, previous_data), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Revision", "x", NULL, offsetof(FakeRestore, revision), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RevisionBump", "t", NULL, offsetof(FakeRestore, bump), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DryRun", "b", NULL, offsetof(FakeRestore, dry_run), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("DataDir", "s", NULL, offsetof(FakeRestore, data_dir), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("EtcdUnit", "s", NULL, offsetof(FakeRestore, etcd_unit), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Units", "as", property_get_units, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(FakeRestore, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("InitialCluster", "s", NULL, offsetof(FakeRestore, initial_cluster), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Resumed", "b", NULL, offsetof(FakeRestore, resumed), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CancelCalls", "u", NULL, offsetof(FakeRestore, cancel_calls), 0),
        SD_BUS_METHOD("Cancel", NULL, NULL, fake_cancel, 0),
        SD_BUS_VTABLE_END,
};

static FakeRestore fake_restore_new(const char *id, const char *phase) {
        return (FakeRestore) {
                .id = id, .kind = "restore", .backup = BACKUP, .phase = phase, .error = "", .error_name = "",
                .previous_data = "", .data_dir = "/var/lib/etcd/default", .etcd_unit = "etcd.service", .name = "node1",
                .initial_cluster = "node1=http://10.0.0.1:2380", .started = now(CLOCK_REALTIME), .revision = 12345,
                .bump = 1000000000,
        };
}

static int fake_add_restore(Fake *f, const char *path, FakeRestore x) {
        f->r[f->n] = x;
        f->r[f->n].fake = f;
        f->paths[f->n] = path;
        return sd_bus_add_object_vtable(f->bus, NULL, path, RESTORE_INTERFACE, fake_restore_vtable, &f->r[f->n++]);
}

/* Options as they came, "Key=type:value;" each, for the test to compare. */
static int read_options(sd_bus_message *m, char *buf, size_t size) {
        const char *key, *contents;
        size_t l = 0;
        char type;
        int r;

        buf[0] = 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                char value[128] = "?";
                r = sd_bus_message_read(m, "s", &key);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, &type, &contents);
                if (r >= 0 && streq(contents, "s")) {
                        const char *v;
                        r = sd_bus_message_read(m, "v", "s", &v);
                        snprintf(value, sizeof(value), "%s", v);
                } else if (r >= 0 && streq(contents, "t")) {
                        uint64_t v;
                        r = sd_bus_message_read(m, "v", "t", &v);
                        snprintf(value, sizeof(value), "%" PRIu64, v);
                } else if (r >= 0 && streq(contents, "u")) {
                        uint32_t v;
                        r = sd_bus_message_read(m, "v", "u", &v);
                        snprintf(value, sizeof(value), "%" PRIu32, v);
                } else if (r >= 0 && streq(contents, "b")) {
                        int v;
                        r = sd_bus_message_read(m, "v", "b", &v);
                        snprintf(value, sizeof(value), "%s", v ? "true" : "false");
                } else if (r >= 0)
                        r = sd_bus_message_skip(m, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        l += snprintf(buf + l, size - MIN(l, size), "%s=%s:%s;", key, strna(contents), value);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        return r;
}

static int fake_restore_method(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *backup;
        int r;

        f->restore_calls++;
        r = sd_bus_message_read(m, "s", &backup);
        if (r >= 0)
                r = read_options(m, f->options, sizeof(f->options));
        if (r < 0)
                return r;
        f->last_options = f->options;
        if (!streq(backup, BACKUP))
                return sd_bus_error_setf(error, AGENT_ERROR_NO_SUCH_BACKUP, "No backup %s.", backup);
        if (f->n > 0)
                return sd_bus_error_set(error, AGENT_ERROR_BUSY, "A restore is running.");

        /* A backup verified faster than the CLI can look: it first sees staging. */
        r = fake_add_restore(f, R_PATH, fake_restore_new(R_ID, f->scenario == FAILS_EARLY ? "verifying" : "staging"));
        if (r < 0)
                return r;
        f->r[0].dry_run = strstr(f->options, "DryRun=b:true") != NULL;
        f->state = "restoring";
        f->running_restore = R_PATH;
        fake_schedule(f);
        return sd_bus_reply_method_return(m, "o", R_PATH);
}

static int fake_get_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        for (size_t i = 0; i < f->n; i++)
                if (streq(f->r[i].id, id))
                        return sd_bus_reply_method_return(m, "o", f->paths[i]);
        return sd_bus_error_setf(error, AGENT_ERROR_NO_SUCH_RESTORE, "No restore %s.", id);
}

static const sd_bus_vtable fake_manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", NULL, offsetof(Fake, state), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Version", "s", NULL, offsetof(Fake, version), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StorageDirectory", "s", NULL, offsetof(Fake, storage), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Endpoint", "s", NULL, offsetof(Fake, endpoint), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("RunningBackup", "o", NULL, offsetof(Fake, running_backup), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RunningRestore", "o", NULL, offsetof(Fake, running_restore), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastOptions", "s", NULL, offsetof(Fake, last_options), 0),
        SD_BUS_PROPERTY("RestoreCalls", "u", NULL, offsetof(Fake, restore_calls), 0),
        SD_BUS_METHOD("Restore", "sa{sv}", "o", fake_restore_method, 0),
        SD_BUS_METHOD("GetRestore", "s", "o", fake_get_restore, 0),
        SD_BUS_SIGNAL("RestoreFinished", "sos", 0),
        SD_BUS_VTABLE_END,
};

/* The fake agent, in a child: says on ready_fd when it has the name, runs until SIGTERM (or
 * its scenario makes it leave). */
_noreturn_ static void fake_run(int scenario, int ready_fd) {
        static const Step *const steps[_SCENARIO_MAX] = {
                [COMPLETES] = steps_completes, [ROLLS_BACK] = steps_rolls_back, [ROLLBACK_FAILS] = steps_rollback_fails,
                [FAILS_EARLY] = steps_fails_early, [STAYS_STAGING] = steps_stays_staging, [AGENT_EXITS] = steps_agent_exits,
        };
        Fake f = {
                .scenario = scenario, .state = "idle", .running_backup = "/", .running_restore = "/", .version = "0-test",
                .storage = "/var/lib/etcd-backup", .endpoint = "http://127.0.0.1:2379", .last_options = "",
                .steps = steps[scenario],
        };
        sigset_t ss;
        int r;

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        r = sigprocmask(SIG_BLOCK, &ss, NULL) < 0 ? -errno : 0;
        if (r >= 0)
                r = sd_event_new(&f.event);
        if (r >= 0)
                r = sd_event_add_signal(f.event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = bus_connect(&f.bus);
        if (r >= 0)
                r = sd_bus_attach_event(f.bus, f.event, 0);
        if (r >= 0)
                r = sd_bus_add_object_vtable(f.bus, NULL, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, fake_manager_vtable, &f);
        if (r >= 0)
                r = sd_bus_add_object_manager(f.bus, NULL, AGENT_OBJECT_PATH);
        if (r >= 0 && scenario == RESUMED) {
                FakeRestore x = fake_restore_new(R_ID, "completed");
                x.finished = x.started + 41 * USEC_PER_SEC;
                x.downtime = 12349999;
                x.previous_data = PREVIOUS;
                x.resumed = true;
                r = fake_add_restore(&f, R_PATH, x);
        }
        if (r >= 0 && scenario == LISTED) {
                FakeRestore a = fake_restore_new("11111111-1111-4111-8111-111111111111", "completed"),
                            b = fake_restore_new("22222222-2222-4222-8222-222222222222", "rolled-back"),
                            c = fake_restore_new("33333333-3333-4333-8333-333333333333", "staging");
                a.started = UINT64_C(1795600800) * USEC_PER_SEC;
                a.finished = a.started + 41 * USEC_PER_SEC;
                a.downtime = 12349999;
                b.started = a.started + USEC_PER_HOUR;
                b.finished = b.started + 30 * USEC_PER_SEC;
                b.downtime = 20 * USEC_PER_SEC;
                b.error = "etcd did not become healthy within 90 s";
                b.error_name = AGENT_ERROR_ETCD_UNHEALTHY;
                c.started = b.started + USEC_PER_HOUR;
                c.progress = 40;
                /* Registered oldest last: the CLI sorts. */
                r = fake_add_restore(&f, RESTORE_OBJECT_PREFIX "/r2", b);
                if (r >= 0)
                        r = fake_add_restore(&f, RESTORE_OBJECT_PREFIX "/r3", c);
                if (r >= 0)
                        r = fake_add_restore(&f, RESTORE_OBJECT_PREFIX "/r1", a);
                f.state = "restoring";
                f.running_restore = RESTORE_OBJECT_PREFIX "/r3";
        }
        if (r >= 0)
                r = sd_bus_request_name(f.bus, AGENT_BUS_NAME, 0);
        if (r < 0 || write(ready_fd, "R", 1) != 1)
                _exit(EXIT_FAILURE);
        (void) sd_event_loop(f.event);
        f.timer = sd_event_source_unref(f.timer);
        sd_bus_flush_close_unref(f.bus);
        sd_event_unref(f.event);
        _exit(EXIT_SUCCESS);
}

/* ---- the CLI ---------------------------------------------------------------------------------- */

typedef struct Cli {
        pid_t pid;
        int out, err;
        int status; /* the exit status; -1: killed after the test's deadline, or by a signal */
        char *stdout_text, *stderr_text;
} Cli;

static void cli_start(Cli *c, char **args) {
        const char *binary = getenv("ETCD_BACKUPCTL");
        char *argv[16] = { (char *) "etcd-backupctl", (char *) "--no-ask-password" };
        size_t n = 2;

        *c = (Cli) { .pid = -1, .status = -1 };
        c->out = memfd_create("stdout", MFD_CLOEXEC);
        c->err = memfd_create("stderr", MFD_CLOEXEC);
        STRV_FOREACH(a, args)
                if (n < ELEMENTSOF(argv) - 1)
                        argv[n++] = *a;
        CHECK(binary && c->out >= 0 && c->err >= 0);
        if (!binary || c->out < 0 || c->err < 0)
                return;
        c->pid = fork();
        if (c->pid == 0) {
                if (dup2(c->out, STDOUT_FILENO) < 0 || dup2(c->err, STDERR_FILENO) < 0 ||
                    setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_address, 1) < 0)
                        _exit(99);
                execv(binary, argv);
                _exit(98);
        }
}

static char *fd_text(int fd) {
        struct stat st;
        char *s;

        if (fd < 0 || fstat(fd, &st) < 0 || !(s = calloc(1, st.st_size + 1)))
                return strdup("");
        if (pread(fd, s, st.st_size, 0) < 0)
                s[0] = 0;
        return s;
}

/* Waits up to 10 s for what the CLI writes to contain s. */
static bool cli_wait_output(Cli *c, const char *s) {
        for (int i = 0; i < 1000; i++) {
                _cleanup_free_ char *t = fd_text(c->out);
                if (strstr(t, s))
                        return true;
                (void) poll(NULL, 0, 10);
        }
        return false;
}

/* Waits for the CLI's end, at most 10 s (then it is killed: a CLI that hangs fails the test). */
static void cli_end(Cli *c) {
        int st;

        for (int i = 0; c->pid > 0 && i < 1000; i++) {
                pid_t p = waitpid(c->pid, &st, WNOHANG);
                if (p == c->pid) {
                        c->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                        c->pid = -1;
                        break;
                }
                (void) poll(NULL, 0, 10);
        }
        if (c->pid > 0) {
                printf("#   the CLI did not end within 10 s; killed\n");
                (void) kill(c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
        }
        c->stdout_text = fd_text(c->out);
        c->stderr_text = fd_text(c->err);
        c->out = safe_close(c->out);
        c->err = safe_close(c->err);
}

static void cli_run(Cli *c, char **args) {
        cli_start(c, args);
        cli_end(c);
}

/* The CLI with its stdout on a new pseudo-terminal, $COLUMNS set to columns (NULL: unset) and
 * no colors; stdout_text is what reached the terminal, without the terminal's \r. */
static void cli_run_on_pty(Cli *c, char **args, const char *columns) {
        const char *binary = getenv("ETCD_BACKUPCTL");
        char *argv[16] = { (char *) "etcd-backupctl", (char *) "--no-ask-password", (char *) "--no-pager" };
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK), slave = -1;
        size_t n = 3;
        char buf[8192];
        ssize_t l = 0;

        *c = (Cli) { .pid = -1, .status = -1, .out = -1 };
        STRV_FOREACH(a, args)
                if (n < ELEMENTSOF(argv) - 1)
                        argv[n++] = *a;
        CHECK(binary && master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
        /* Ours kept open: what the CLI wrote stays readable after it exits. */
        slave = master >= 0 ? open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
        c->err = memfd_create("stderr", MFD_CLOEXEC);
        CHECK(slave >= 0 && c->err >= 0);
        if (!binary || slave < 0 || c->err < 0) {
                safe_close(master);
                return;
        }
        c->pid = fork();
        if (c->pid == 0) {
                if (dup2(slave, STDOUT_FILENO) < 0 || dup2(c->err, STDERR_FILENO) < 0 ||
                    setenv("DBUS_SYSTEM_BUS_ADDRESS", bus_address, 1) < 0 || setenv("NO_COLOR", "1", 1) < 0 ||
                    (columns ? setenv("COLUMNS", columns, 1) : unsetenv("COLUMNS")) < 0)
                        _exit(99);
                execv(binary, argv);
                _exit(98);
        }
        cli_end(c);
        free(c->stdout_text);
        l = read(master, buf, sizeof(buf) - 1);
        buf[MAX(l, (ssize_t) 0)] = 0;
        c->stdout_text = strdup(buf);
        if (c->stdout_text) {
                char *q = c->stdout_text;
                for (const char *p = c->stdout_text; *p; p++)
                        if (*p != '\r')
                                *q++ = *p;
                *q = 0;
        }
        safe_close(slave);
        safe_close(master);
}

/* Each line as a TAP comment. */
static void print_commented(const char *what, const char *text) {
        printf("#   %s:\n", what);
        for (const char *p = text; p && *p;) {
                size_t n = strcspn(p, "\n");
                printf("#     %.*s\n", (int) n, p);
                p += n + (p[n] == '\n');
        }
}

/* What the CLI said, if the test failed. */
static void cli_done(Cli *c) {
        if (tap_current_failed || getenv("TEST_VERBOSE")) {
                printf("#   exit status %i\n", c->status);
                print_commented("stdout", c->stdout_text);
                print_commented("stderr", c->stderr_text);
        }
        free(c->stdout_text);
        free(c->stderr_text);
}

/* Lines appear in this order in s. */
static bool in_order(const char *s, char **lines) {
        STRV_FOREACH(l, lines) {
                s = strstr(s, *l);
                if (!s)
                        return false;
                s += strlen(*l);
        }
        return true;
}

static uint32_t fake_get_u(const char *path, const char *interface, const char *property) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        uint32_t v = UINT32_MAX;

        if (bus_connect(&bus) >= 0)
                (void) sd_bus_get_property_trivial(bus, AGENT_BUS_NAME, path, interface, property, NULL, 'u', &v);
        return v;
}

static char *fake_get_s(const char *path, const char *interface, const char *property) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char *v = NULL;

        if (bus_connect(&bus) >= 0)
                (void) sd_bus_get_property_string(bus, AGENT_BUS_NAME, path, interface, property, NULL, &v);
        return v;
}

/* ---- the tests -------------------------------------------------------------------------------- */

TEST(restore_completes) {
        pid_t fake = fake_start(fake_run, COMPLETES);
        Cli c;

        cli_run(&c, STRV_MAKE("restore", BACKUP));
        CHECK_EQ(c.status, 0);
        /* Every phase, verifying included though it was over before the CLI looked. */
        CHECK(in_order(c.stdout_text, STRV_MAKE("Restore " R_ID " of backup " BACKUP ":", "\nverifying ",
                                                "\nstaging ", "\nstopping               stopping kube-apiserver.service, kube-scheduler.service, then etcd.service",
                                                "\nswapping ", "\nstarting-etcd ", "\nstarting-control-plane starting kube-scheduler.service, kube-apiserver.service",
                                                "\ncompleted ",
                                                "\n          Phase: completed\n", "       Downtime: 12.3 s\n",
                                                "  Revision bump: 1000000000 ", "  Previous data: " PREVIOUS "\n",
                                                "kube-controller-manager, kube-scheduler and the kubelet")));
        /* Once each. */
        CHECK(!strstr(strstr(c.stdout_text, "\nstaging ") + 1, "\nstaging "));
        CHECK(!strstr(c.stdout_text, "rolling-back"));
        cli_done(&c);
        child_stop(fake);
}

TEST(restore_json) {
        pid_t fake = fake_start(fake_run, COMPLETES);
        Cli c;

        cli_run(&c, STRV_MAKE("--json", "restore", BACKUP));
        CHECK_EQ(c.status, 0);
        /* One document on stdout, the phases on stderr. */
        CHECK(c.stdout_text[0] == '{');
        CHECK(strchr(c.stdout_text, '\n') == c.stdout_text + strlen(c.stdout_text) - 1);
        CHECK(strstr(c.stdout_text, "\"id\":\"" R_ID "\""));
        CHECK(strstr(c.stdout_text, "\"phase\":\"completed\""));
        CHECK(strstr(c.stdout_text, "\"downtime_usec\":12349999"));
        CHECK(strstr(c.stdout_text, "\"previous_data\":\"" PREVIOUS "\""));
        CHECK(strstr(c.stdout_text, "\"finished\":\"20"));
        CHECK(strstr(c.stderr_text, "\nstarting-etcd "));
        cli_done(&c);
        child_stop(fake);
}

TEST(restore_rolls_back) {
        pid_t fake = fake_start(fake_run, ROLLS_BACK);
        Cli c;

        cli_run(&c, STRV_MAKE("restore", BACKUP));
        CHECK_EQ(c.status, 3);
        CHECK(in_order(c.stdout_text, STRV_MAKE("\nstarting-etcd ", "\nrolling-back           putting the previous data back, because: etcd did not become healthy within 90 s",
                                                "\nrolled-back ", "          Error: etcd did not become healthy within 90 s\n",
                                                "     Error name: EtcdUnhealthy\n", "The restore was rolled back: ",
                                                "journalctl RESTORE_ID=" R_ID "\n")));
        CHECK(!strstr(c.stdout_text, "\ncompleted "));
        cli_done(&c);
        child_stop(fake);
}

TEST(restore_rollback_fails) {
        pid_t fake = fake_start(fake_run, ROLLBACK_FAILS);
        Cli c;

        cli_run(&c, STRV_MAKE("restore", BACKUP));
        CHECK_EQ(c.status, 4);
        CHECK(in_order(c.stdout_text, STRV_MAKE("\nstopping ", "\nrolling-back ", "\nfailed                 the control plane may be down: ",
                                                "     Error name: RollbackFailed\n", "ROLLING BACK FAILED",
                                                "journalctl RESTORE_ID=" R_ID "\n")));
        cli_done(&c);
        child_stop(fake);
}

TEST(restore_fails_early) {
        pid_t fake = fake_start(fake_run, FAILS_EARLY);
        Cli c;

        cli_run(&c, STRV_MAKE("restore", BACKUP));
        CHECK_EQ(c.status, 2);
        CHECK(in_order(c.stdout_text, STRV_MAKE("\nverifying ", "\nfailed                 nothing was stopped: Backup " BACKUP " is damaged",
                                                "     Error name: BackupCorrupt\n", "Nothing was stopped")));
        cli_done(&c);
        child_stop(fake);
}

/* Ctrl-C ends the waiting, says the restore goes on and how to cancel it, and never cancels it. */
TEST(ctrl_c_stops_waiting_not_the_restore) {
        pid_t fake = fake_start(fake_run, STAYS_STAGING);
        _cleanup_free_ char *phase = NULL;
        Cli c;

        cli_start(&c, STRV_MAKE("restore", BACKUP));
        CHECK(cli_wait_output(&c, "\nstaging "));
        if (c.pid > 0)
                (void) kill(c.pid, SIGINT);
        cli_end(&c);
        CHECK_EQ(c.status, 5);
        CHECK(strstr(c.stderr_text, "Stopped waiting: restore " R_ID " goes on in the agent (now staging).\n"));
        CHECK(strstr(c.stderr_text, "etcd-backupctl cancel-restore " R_ID "\n"));
        CHECK_EQ(fake_get_u(R_PATH, RESTORE_INTERFACE, "CancelCalls"), 0);
        phase = fake_get_s(R_PATH, RESTORE_INTERFACE, "Phase");
        CHECK_STREQ(phase, "staging");
        cli_done(&c);

        /* Then cancel-restore does, and waits for the end. */
        cli_run(&c, STRV_MAKE("cancel-restore", R_ID));
        CHECK_EQ(c.status, 0);
        CHECK_EQ(fake_get_u(R_PATH, RESTORE_INTERFACE, "CancelCalls"), 1);
        CHECK(strstr(c.stdout_text, "\nfailed                 nothing was stopped: Cancelled.\n"));
        CHECK(strstr(c.stdout_text, "The restore was cancelled"));
        cli_done(&c);
        child_stop(fake);
}

/* The defect: an agent that went away mid-restore left the CLI waiting forever, for signals the
 * new agent sends before it owns the name, to no one. */
TEST(agent_restart_mid_restore) {
        pid_t fake = fake_start(fake_run, AGENT_EXITS), resumed = -1;
        Cli c;

        cli_start(&c, STRV_MAKE("restore", BACKUP));
        CHECK(cli_wait_output(&c, "\nstopping "));
        if (fake > 0)
                (void) waitpid(fake, NULL, 0); /* it leaves by itself */
        (void) poll(NULL, 0, 200);
        resumed = fake_start(fake_run, RESUMED);
        cli_end(&c);
        CHECK_EQ(c.status, 0);
        CHECK(strstr(c.stderr_text, "The agent stopped; waiting for it to start again.\n"));
        CHECK(in_order(c.stdout_text, STRV_MAKE("\nstopping ", "\nswapping ", "\ncompleted ",
                                                "        Resumed: yes, by an agent started after the restore began\n")));
        cli_done(&c);
        child_stop(resumed);
}

TEST(options_reach_the_agent) {
        pid_t fake = fake_start(fake_run, STAYS_STAGING);
        _cleanup_free_ char *options = NULL;
        Cli c;

        cli_run(&c, STRV_MAKE("restore", BACKUP, "--no-wait", "--dry-run", "--name=node2",
                              "--initial-cluster=node2=http://10.0.0.2:2380", "--initial-advertise-peer-urls=http://10.0.0.2:2380",
                              "--initial-cluster-token=tok", "--revision-bump=0", "--start-timeout=90"));
        CHECK_EQ(c.status, 0);
        CHECK_STREQ(c.stdout_text, R_ID "\n");
        options = fake_get_s(AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "LastOptions");
        CHECK_STREQ(options, "Name=s:node2;InitialCluster=s:node2=http://10.0.0.2:2380;"
                             "InitialAdvertisePeerURLs=s:http://10.0.0.2:2380;InitialClusterToken=s:tok;"
                             "RevisionBump=t:0;StartTimeoutSec=u:90;DryRun=b:true;");
        cli_done(&c);
        child_stop(fake);

        /* None given: none sent, the agent's defaults apply. */
        fake = fake_start(fake_run, STAYS_STAGING);
        cli_run(&c, STRV_MAKE("restore", BACKUP, "--no-wait"));
        CHECK_EQ(c.status, 0);
        free(options);
        options = fake_get_s(AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "LastOptions");
        CHECK_STREQ(options, "");
        cli_done(&c);

        /* Refused before the agent is asked: exit status 1, no call. */
        cli_run(&c, STRV_MAKE("restore", BACKUP, "--revision-bump=lots"));
        CHECK_EQ(c.status, 1);
        CHECK(strstr(c.stderr_text, "Invalid --revision-bump=lots"));
        cli_done(&c);
        cli_run(&c, STRV_MAKE("restore", BACKUP, "--start-timeout=0"));
        CHECK_EQ(c.status, 1);
        cli_done(&c);
        CHECK_EQ(fake_get_u(AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "RestoreCalls"), 1);

        /* Refused by the agent: 1, with its message and a hint. */
        cli_run(&c, STRV_MAKE("restore", BACKUP));
        CHECK_EQ(c.status, 1);
        CHECK(strstr(c.stderr_text, "Failed to start the restore: A restore is running.\nSee: etcd-backupctl status\n"));
        cli_done(&c);
        cli_run(&c, STRV_MAKE("restore", "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"));
        CHECK_EQ(c.status, 1);
        CHECK(strstr(c.stderr_text, "See: etcd-backupctl list-backups\n"));
        cli_done(&c);
        child_stop(fake);
}

TEST(list_and_status) {
        pid_t fake = fake_start(fake_run, LISTED);
        Cli c;

        cli_run(&c, STRV_MAKE("list-restores"));
        CHECK_EQ(c.status, 0);
        /* Newest first. */
        CHECK(in_order(c.stdout_text, STRV_MAKE("ID ", " KIND ", " PHASE ", "\n33333333-", " staging ",
                                                "\n22222222-", " rolled-back ", "20.0 s EtcdUnhealthy",
                                                "\n11111111-", " completed ", "12.3 s -\n", "\n3 restores listed.\n")));
        /* Local times (TZ=UTC here) and how long ago, as systemctl list-timers. */
        CHECK(in_order(c.stdout_text, STRV_MAKE("\n22222222-", " Wed 2026-11-25 11:00:00 UTC ", " ago rolled-back ")));
        cli_done(&c);

        /* On a terminal too narrow for it, the error is shortened (by 5, to 8 columns); not on
         * a pipe (above), nor with --full. The width of the rows depends on today's date ("7 days
         * ago"): measured first, whole. */
        char columns[16];
        const char *row;
        cli_run_on_pty(&c, STRV_MAKE("-l", "list-restores"), "20");
        row = strstr(c.stdout_text, "\n22222222-");
        CHECK(row && in_order(row, STRV_MAKE(" rolled-back ", "20.0 s EtcdUnhealthy\n")));
        snprintf(columns, sizeof(columns), "%zu", row ? strcspn(row + 1, "\n") - 5 : 0);
        cli_done(&c);
        cli_run_on_pty(&c, STRV_MAKE("list-restores"), columns);
        CHECK_EQ(c.status, 0);
        CHECK(in_order(c.stdout_text, STRV_MAKE("\n22222222-", " rolled-back ", "20.0 s EtcdUnh\xe2\x80\xa6\n",
                                                "11111111-", "12.3 s -\n")));
        CHECK(!strstr(c.stdout_text, "EtcdUnhealthy"));
        cli_done(&c);
        cli_run_on_pty(&c, STRV_MAKE("list-restores"), "1000");
        CHECK(in_order(c.stdout_text, STRV_MAKE("\n22222222-", "20.0 s EtcdUnhealthy\n")));
        cli_done(&c);

        cli_run(&c, STRV_MAKE("--json", "list-restores"));
        CHECK_EQ(c.status, 0);
        CHECK(in_order(c.stdout_text, STRV_MAKE("[{\"id\":\"33333333-", "{\"id\":\"22222222-",
                                                "\"error_name\":\"org.etcdbackup.Agent1.Error.EtcdUnhealthy\"",
                                                "\"started\":\"2026-11-25T11:00:00Z\",\"started_usec\":1795604400000000,",
                                                "\"finished\":\"2026-11-25T11:00:30Z\",\"finished_usec\":1795604430000000,",
                                                "\"downtime_usec\":20000000",
                                                "\"units\":[\"kube-apiserver.service\",\"kube-scheduler.service\"]",
                                                "{\"id\":\"11111111-", "}]\n")));
        cli_done(&c);

        cli_run(&c, STRV_MAKE("restore-status", "22222222-2222-4222-8222-222222222222"));
        CHECK_EQ(c.status, 0);
        CHECK(in_order(c.stdout_text, STRV_MAKE("             Id: 22222222-2222-4222-8222-222222222222\n",
                                                "          Phase: rolled-back\n", "       Downtime: 20.0 s\n",
                                                "  Control plane: kube-apiserver.service, kube-scheduler.service\n",
                                                "          Error: etcd did not become healthy within 90 s\n",
                                                "The restore was rolled back")));
        cli_done(&c);

        cli_run(&c, STRV_MAKE("restore-status", "44444444-4444-4444-8444-444444444444"));
        CHECK_EQ(c.status, 1);
        CHECK(strstr(c.stderr_text, "See: etcd-backupctl list-restores\n"));
        cli_done(&c);

        cli_run(&c, STRV_MAKE("status"));
        CHECK_EQ(c.status, 0);
        CHECK(strstr(c.stdout_text, "       State: restoring\n"));
        CHECK(strstr(c.stdout_text, "     Restore: 33333333-3333-4333-8333-333333333333 of backup " BACKUP ", running: staging, 40%\n"));
        CHECK(strstr(c.stdout_text, "Last restore: 22222222-2222-4222-8222-222222222222 of backup " BACKUP
                                    ": rolled-back at 2026-11-25T11:00:30Z: etcd did not become healthy within 90 s\n"));
        cli_done(&c);

        cli_run(&c, STRV_MAKE("--json", "status"));
        CHECK_EQ(c.status, 0);
        CHECK(in_order(c.stdout_text, STRV_MAKE("\"running_restore\":{\"id\":\"33333333-", "\"last_restore\":{\"id\":\"22222222-")));
        cli_done(&c);
        child_stop(fake);
}

int main(void) {
        pid_t bus;

        if (!getenv("ETCD_BACKUPCTL")) {
                printf("Bail out! ETCD_BACKUPCTL is not set\n");
                return EXIT_FAILURE;
        }
        setenv("TZ", "UTC", 1); /* for the CLI's local times */
        if (agent_errors_register() < 0 || (bus = bus_start()) < 0) {
                printf("Bail out! Cannot start a private dbus-daemon\n");
                return EXIT_FAILURE;
        }
        RUN(restore_completes);
        RUN(restore_json);
        RUN(restore_rolls_back);
        RUN(restore_rollback_fails);
        RUN(restore_fails_early);
        RUN(ctrl_c_stops_waiting_not_the_restore);
        RUN(agent_restart_mid_restore);
        RUN(options_reach_the_agent);
        RUN(list_and_status);
        child_stop(bus);
        return tap_finish();
}
