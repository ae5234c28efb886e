/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's health where operators look, with nothing else happening: a configuration whose
 * timer did not fire becomes overdue in STATUS= (read from a NOTIFY_SOCKET of ours) and in the
 * metrics textfile when it is due to, by a timer on the event loop, not a poll; the restores
 * counter of the metrics never goes down when old restores are pruned.
 */

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "backup-config.h"
#include "manager.h"
#include "metrics.h"
#include "restore.h"
#include "string-util.h"
#include "tap.h"

static char dir[] = "/tmp/test-health.XXXXXX";
static int notify_fd = -EBADF;

static void notify_open(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
        notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        CHECK(notify_fd >= 0);
        CHECK(bind(notify_fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        setenv("NOTIFY_SOCKET", sa.sun_path, 1);
}

/* The last STATUS= the agent sent since the last call; "" for none. */
static char *last_status(void) {
        static char status[1024];
        char buf[4096];
        ssize_t n;

        status[0] = 0;
        while ((n = recv(notify_fd, buf, sizeof(buf) - 1, 0)) > 0) {
                buf[n] = 0;
                const char *s = strstr(buf, "STATUS=");
                if (s)
                        snprintf(status, sizeof(status), "%.*s", (int) strcspn(s + 7, "\n"), s + 7);
        }
        return status;
}

static char *read_text(const char *path) {
        static char text[16384];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

        text[n > 0 ? n : 0] = 0;
        if (fd >= 0)
                close(fd);
        return text;
}

static Manager *fake_manager(void) {
        Manager *m = calloc(1, sizeof(Manager));
        char metrics[256];

        snprintf(metrics, sizeof(metrics), "%s/etcd_backup.prom", dir);
        m->storage_fd = m->restores_fd = -EBADF;
        CHECK(sd_event_new(&m->event) >= 0);
        m->config.storage_directory = strdup("/var/lib/etcd-backup");
        m->config.metrics_textfile = strdup(metrics);
        return m;
}

static BackupConfig *add_config(Manager *m, const char *name, bool enabled) {
        BackupConfigSpec spec = { .schedule = strdup("daily"), .enabled = enabled };
        BackupConfig *c = NULL;

        CHECK(backup_config_new(m, name, &spec, &c) >= 0);
        return c;
}

/* Runs the loop until the status line holds s, at most 5 s; what it said last. */
static bool loop_until_status(Manager *m, const char *s, char *said, size_t size) {
        for (int i = 0; i < 50; i++) {
                const char *st;
                (void) sd_event_run(m->event, 100 * USEC_PER_MSEC);
                st = last_status();
                if (*st)
                        snprintf(said, size, "%s", st);
                if (strstr(said, s))
                        return true;
        }
        return false;
}

TEST(next_overdue) {
        Manager *m = fake_manager();
        usec_t n = 1795573030ULL * USEC_PER_SEC;
        BackupConfig *a = add_config(m, "a", true), *b = add_config(m, "b", true), *off = add_config(m, "off", false);

        CHECK(manager_next_overdue(m, n) == USEC_INFINITY); /* no NextRun known */
        a->next_run = n + USEC_PER_HOUR;
        b->next_run = n + USEC_PER_MINUTE;
        off->next_run = n + 1; /* disabled: never overdue */
        CHECK_EQ(manager_next_overdue(m, n), n + USEC_PER_MINUTE + HEALTH_OVERDUE_USEC + 1);
        CHECK(!backup_config_is_overdue(b, n + USEC_PER_MINUTE + HEALTH_OVERDUE_USEC));
        CHECK(backup_config_is_overdue(b, n + USEC_PER_MINUTE + HEALTH_OVERDUE_USEC + 1));
        CHECK(!backup_config_is_overdue(off, n + USEC_PER_DAY));
        /* Once b is overdue, the next to become so is a. */
        CHECK_EQ(manager_next_overdue(m, n + 2 * HEALTH_OVERDUE_USEC), n + USEC_PER_HOUR + HEALTH_OVERDUE_USEC + 1);
        CHECK(manager_next_overdue(m, n + USEC_PER_DAY) == USEC_INFINITY);
        manager_free(m);
}

/* A timer that does not fire: half a second after the start, its configuration is overdue. */
TEST(overdue_with_nothing_else_happening) {
        Manager *m = fake_manager();
        BackupConfig *c = add_config(m, "nightly", true);
        char said[1024] = "", metrics[256];
        int enabled = -1;
        uint64_t t = 0;

        snprintf(metrics, sizeof(metrics), "%s/etcd_backup.prom", dir);
        (void) last_status();
        backup_config_set_next_run(c, now(CLOCK_REALTIME) - HEALTH_OVERDUE_USEC + 500 * USEC_PER_MSEC);
        CHECK_STREQ(last_status(), "Idle; 0 backups in /var/lib/etcd-backup.");
        (void) sd_event_run(m->event, 0); /* the metrics, written from the loop */
        CHECK(strstr(read_text(metrics), "etcd_backup_overdue{config=\"nightly\"} 0\n"));

        CHECK(loop_until_status(m, "'nightly' overdue since ", said, sizeof(said)));
        CHECK(startswith(said, "Idle; 0 backups in /var/lib/etcd-backup; 'nightly' overdue since 20"));
        (void) sd_event_run(m->event, 100 * USEC_PER_MSEC); /* the metrics, from the loop */
        CHECK(strstr(read_text(metrics), "etcd_backup_overdue{config=\"nightly\"} 1\n"));
        /* Nothing more to wait for: the timer is off, not polling. */
        CHECK(m->overdue_timer && sd_event_source_get_enabled(m->overdue_timer, &enabled) >= 0);
        CHECK_EQ(enabled, SD_EVENT_OFF);

        /* The timer fired and a backup ran: NextRun moves on, the timer with it. */
        usec_t next = now(CLOCK_REALTIME) + USEC_PER_HOUR;
        backup_config_set_next_run(c, next);
        CHECK_STREQ(last_status(), "Idle; 0 backups in /var/lib/etcd-backup.");
        CHECK(sd_event_source_get_enabled(m->overdue_timer, &enabled) >= 0);
        CHECK_EQ(enabled, SD_EVENT_ONESHOT);
        CHECK(sd_event_source_get_time(m->overdue_timer, &t) >= 0);
        CHECK_EQ(t, next + HEALTH_OVERDUE_USEC + 1);
        manager_free(m);
}

static Restore *add_restore(Manager *m, const char *id, RestorePhase phase) {
        Restore *r = calloc(1, sizeof(Restore));

        r->manager = m;
        r->j.id = strdup(id);
        r->j.phase = phase;
        LIST_PREPEND(restores, m->restores, r);
        return r;
}

static void prune(Manager *m, Restore *r) {
        LIST_REMOVE(restores, m->restores, r);
        free(r->j.id);
        free(r);
}

TEST(restores_counter_monotonic) {
        Manager *m = fake_manager();
        Restore *old = add_restore(m, "11111111-1111-4111-8111-111111111111", RESTORE_COMPLETED);
        Restore *failed = add_restore(m, "22222222-2222-4222-8222-222222222222", RESTORE_FAILED);
        Restore *running = add_restore(m, "33333333-3333-4333-8333-333333333333", RESTORE_STAGING);
        MetricsRestores c;

        CHECK(manager_count_restores(m, &c) >= 0);
        CHECK(c.completed == 1 && c.rolled_back == 0 && c.failed == 1);
        CHECK(manager_count_restores(m, &c) >= 0); /* counted once */
        CHECK(c.completed == 1 && c.failed == 1);

        prune(m, old); /* the oldest goes, as past RESTORES_KEEP: the counter stays */
        CHECK(manager_count_restores(m, &c) >= 0);
        CHECK(c.completed == 1 && c.rolled_back == 0 && c.failed == 1);

        running->j.phase = RESTORE_ROLLED_BACK; /* ends */
        prune(m, failed);
        CHECK(manager_count_restores(m, &c) >= 0);
        CHECK(c.completed == 1 && c.rolled_back == 1 && c.failed == 1);
        add_restore(m, "44444444-4444-4444-8444-444444444444", RESTORE_COMPLETED);
        CHECK(manager_count_restores(m, &c) >= 0);
        CHECK(c.completed == 2 && c.rolled_back == 1 && c.failed == 1);

        while (m->restores)
                prune(m, m->restores);
        manager_free(m);
}

int main(void) {
        char path[256];

        CHECK(mkdtemp(dir));
        notify_open();
        setenv("TZ", "UTC", 1);
        RUN(next_overdue);
        RUN(overdue_with_nothing_else_happening);
        RUN(restores_counter_monotonic);
        snprintf(path, sizeof(path), "%s/notify", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/etcd_backup.prom", dir);
        unlink(path);
        rmdir(dir);
        return tap_finish();
}
