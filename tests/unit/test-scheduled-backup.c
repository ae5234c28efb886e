/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How `etcd-backupctl backup --scheduled` waits for its turn (backup_start()), against a fake
 * agent on a private dbus-daemon: the real agent cannot answer Busy without a backup running
 * until restores exist. The fake serves the Manager (State, RunningBackup, StartBackup, the
 * BackupFinished signal, and StartBackupCalls, which counts the calls for the test) and two
 * Backup objects, and plays one scenario per run.
 *
 * Once restores exist, the restore's integration test should start etcd-backup@NAME.service
 * while a restore runs and assert that the service stays active, waiting; that the agent sees
 * a handful of StartBackup calls, not a loop of them (count them on a bus monitor); that no
 * backup is taken while State is "restoring"; and that one is, and completes, within a few
 * seconds of RestoreFinished (the Manager's PropertiesChanged, not the backoff, starts it).
 */

#include <signal.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-names.h"
#include "errors.h"
#include "objects.h"
#include "private-bus.h"
#include "tap.h"
#include "time-util.h"
#include "verbs.h"

#define OTHER_PATH BACKUP_OBJECT_PREFIX "/other"
#define OURS_PATH BACKUP_OBJECT_PREFIX "/ours"

typedef enum Scenario {
        RESTORING,      /* Busy, no backup running, for good */
        RESTORE_ENDS,   /* the same, until State goes idle after 300 ms */
        OTHER_CONFIG,   /* a backup of another configuration runs, and ends after 300 ms */
        SAME_CONFIG,    /* a backup of the configuration asked for runs */
} Scenario;

typedef struct FakeBackup {
        const char *id;
        const char *config;
        const char *state;
        const char *path;
} FakeBackup;

typedef struct Fake {
        Scenario scenario;
        sd_bus *bus;
        sd_event *event;
        const char *state;
        const char *running;
        uint32_t calls;
        bool busy;
        FakeBackup other, ours;
} Fake;

static void fake_finish(Fake *f, FakeBackup *b) {
        b->state = "completed";
        (void) sd_bus_emit_properties_changed(f->bus, b->path, BACKUP_INTERFACE, "State", NULL);
        (void) sd_bus_emit_signal(f->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "BackupFinished", "sos", b->id,
                                  b->path, b->state);
        f->state = "idle";
        f->running = "/";
        f->busy = false;
        (void) sd_bus_emit_properties_changed(f->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "State",
                                              "RunningBackup", NULL);
}

static int on_restore_end(sd_event_source *s, uint64_t usec, void *userdata) {
        Fake *f = userdata;

        f->state = "idle";
        f->busy = false;
        return sd_bus_emit_properties_changed(f->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "State", NULL);
}

static int on_other_end(sd_event_source *s, uint64_t usec, void *userdata) {
        Fake *f = userdata;

        fake_finish(f, &f->other);
        return 0;
}

static int on_ours_end(sd_event_source *s, uint64_t usec, void *userdata) {
        Fake *f = userdata;

        fake_finish(f, &f->ours);
        return 0;
}

static int fake_start_backup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *config;
        int r;

        r = sd_bus_message_read(m, "s", &config);
        if (r < 0)
                return r;
        if (++f->calls == 1 && f->scenario == RESTORE_ENDS)
                (void) sd_event_add_time_relative(f->event, NULL, CLOCK_MONOTONIC, 300 * USEC_PER_MSEC, 0, on_restore_end, f);
        if (f->calls == 1 && f->scenario == OTHER_CONFIG)
                (void) sd_event_add_time_relative(f->event, NULL, CLOCK_MONOTONIC, 300 * USEC_PER_MSEC, 0, on_other_end, f);
        if (f->busy)
                return sd_bus_error_set(error, AGENT_ERROR_BUSY, "The agent is busy.");

        f->ours.config = "nightly";
        f->state = "backing-up";
        f->running = f->ours.path;
        f->busy = true;
        (void) sd_event_add_time_relative(f->event, NULL, CLOCK_MONOTONIC, 200 * USEC_PER_MSEC, 0, on_ours_end, f);
        return sd_bus_reply_method_return(m, "o", f->ours.path);
}

static const sd_bus_vtable fake_manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", NULL, offsetof(Fake, state), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RunningBackup", "o", NULL, offsetof(Fake, running), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StartBackupCalls", "u", NULL, offsetof(Fake, calls), 0),
        SD_BUS_METHOD("StartBackup", "s", "o", fake_start_backup, 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable fake_backup_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", NULL, offsetof(FakeBackup, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Config", "s", NULL, offsetof(FakeBackup, config), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", NULL, offsetof(FakeBackup, state), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

/* The fake agent, in a child: says on ready_fd when it has the name, runs until SIGTERM. */
_noreturn_ static void fake_run(int scenario, int ready_fd) {
        Fake f = {
                .scenario = scenario,
                .state = scenario == OTHER_CONFIG || scenario == SAME_CONFIG ? "backing-up" : "restoring",
                .running = scenario == OTHER_CONFIG || scenario == SAME_CONFIG ? OTHER_PATH : "/",
                .busy = true,
                .other = { "other", scenario == SAME_CONFIG ? "nightly" : "other", "running", OTHER_PATH },
                .ours = { "ours", "", "running", OURS_PATH },
        };
        sigset_t ss;

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0 || sd_event_new(&f.event) < 0 ||
            sd_event_add_signal(f.event, NULL, SIGTERM, NULL, NULL) < 0 || bus_connect(&f.bus) < 0 ||
            sd_bus_attach_event(f.bus, f.event, 0) < 0 ||
            sd_bus_add_object_vtable(f.bus, NULL, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, fake_manager_vtable, &f) < 0 ||
            sd_bus_add_object_vtable(f.bus, NULL, OTHER_PATH, BACKUP_INTERFACE, fake_backup_vtable, &f.other) < 0 ||
            sd_bus_add_object_vtable(f.bus, NULL, OURS_PATH, BACKUP_INTERFACE, fake_backup_vtable, &f.ours) < 0 ||
            sd_bus_request_name(f.bus, AGENT_BUS_NAME, 0) < 0 || write(ready_fd, "R", 1) != 1)
                _exit(EXIT_FAILURE);
        (void) sd_event_loop(f.event);
        sd_bus_flush_close_unref(f.bus);
        sd_event_unref(f.event);
        _exit(EXIT_SUCCESS);
}

typedef struct Run {
        int r;
        char *path;
        uint32_t calls;
        usec_t elapsed;
        BackupInfo followed; /* ours, followed to its end after backup_start(), if it returned it */
} Run;

/* backup_start() of "nightly" against the fake playing scenario. */
static void run(Scenario scenario, const BusyBackoff *busy, Run *ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Waiter w = {};
        pid_t fake;
        usec_t start;

        *ret = (Run) { .r = -EIO };
        fake = fake_start(fake_run, scenario);
        CHECK(fake > 0);
        CHECK(bus_connect(&bus) >= 0);
        if (fake <= 0 || !bus) {
                child_stop(fake);
                return;
        }
        CHECK(waiter_init(&w, bus, &backup_wait_kind, false) >= 0);

        start = now(CLOCK_MONOTONIC);
        ret->r = backup_start(&w, "nightly", busy, &ret->path);
        ret->elapsed = now(CLOCK_MONOTONIC) - start;
        if (ret->r >= 0 && streq(ret->path, OURS_PATH))
                CHECK(waiter_follow(&w, ret->path, &ret->followed, now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC) == 0);
        CHECK(sd_bus_get_property_trivial(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE,
                                          "StartBackupCalls", &error, 'u', &ret->calls) >= 0);
        waiter_done(&w);
        child_stop(fake);
}

static void run_done(Run *r) {
        free(r->path);
        backup_info_done(&r->followed);
}

/* The defect: with no backup to follow, Busy was asked again at once, thousands of times a
 * second, for as long as the restore ran. */
TEST(busy_without_backup_backs_off_and_gives_up) {
        const BusyBackoff busy = { 20 * USEC_PER_MSEC, 100 * USEC_PER_MSEC, 600 * USEC_PER_MSEC };
        Run r;

        run(RESTORING, &busy, &r);
        CHECK_EQ(r.r, -ETIME);
        CHECK(r.elapsed >= 600 * USEC_PER_MSEC);
        CHECK(r.elapsed < 3 * USEC_PER_SEC);
        /* Waits of 20, 40, 80, 100, 100, ... ms: about 9 calls, not thousands. */
        printf("#   %" PRIu32 " StartBackup calls in %" PRIu64 " ms\n", r.calls, r.elapsed / USEC_PER_MSEC);
        CHECK(r.calls >= 4);
        CHECK(r.calls <= 15);
        run_done(&r);
}

/* A backoff far longer than the restore: only the Manager's PropertiesChanged can start the
 * backup this soon. */
TEST(busy_without_backup_retries_when_manager_changes) {
        const BusyBackoff busy = { 10 * USEC_PER_SEC, 10 * USEC_PER_SEC, USEC_PER_MINUTE };
        Run r;

        run(RESTORE_ENDS, &busy, &r);
        CHECK_EQ(r.r, 0);
        CHECK_STREQ(r.path, OURS_PATH);
        CHECK_EQ(r.calls, 2);
        CHECK(r.elapsed >= 300 * USEC_PER_MSEC);
        CHECK(r.elapsed < 5 * USEC_PER_SEC);
        CHECK_STREQ(r.followed.state, "completed");
        run_done(&r);
}

/* Waits for the other configuration's backup, then starts and follows its own: the event loop
 * runs twice. */
TEST(backup_of_other_config_is_waited_for) {
        const BusyBackoff busy = { 10 * USEC_PER_SEC, 10 * USEC_PER_SEC, USEC_PER_MINUTE };
        Run r;

        run(OTHER_CONFIG, &busy, &r);
        CHECK_EQ(r.r, 0);
        CHECK_STREQ(r.path, OURS_PATH);
        CHECK_EQ(r.calls, 2);
        CHECK(r.elapsed < 5 * USEC_PER_SEC);
        CHECK_STREQ(r.followed.id, "ours");
        CHECK_STREQ(r.followed.state, "completed");
        run_done(&r);
}

TEST(backup_of_same_config_is_joined) {
        Run r;

        run(SAME_CONFIG, &scheduled_busy_backoff, &r);
        CHECK_EQ(r.r, 0);
        CHECK_STREQ(r.path, OTHER_PATH);
        CHECK_EQ(r.calls, 1);
        run_done(&r);
}

TEST(busy_is_an_error_unless_scheduled) {
        Run r;

        run(RESTORING, NULL, &r);
        CHECK_EQ(r.r, -EBUSY);
        CHECK_EQ(r.calls, 1);
        run_done(&r);
}

int main(void) {
        pid_t bus;

        if (agent_errors_register() < 0 || (bus = bus_start()) < 0) {
                printf("Bail out! Cannot start a private dbus-daemon\n");
                return EXIT_FAILURE;
        }
        RUN(busy_without_backup_backs_off_and_gives_up);
        RUN(busy_without_backup_retries_when_manager_changes);
        RUN(backup_of_other_config_is_waited_for);
        RUN(backup_of_same_config_is_joined);
        RUN(busy_is_an_error_unless_scheduled);
        child_stop(bus);
        return tap_finish();
}
