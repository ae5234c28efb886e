/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the CLI prints about a restore, and the exit status it returns for one: the JSON of a
 * RestoreInfo, the phase lines (with the phases it could only infer), the status, the hints,
 * the table of list-restores.
 */

#include <stdlib.h>

#include "errors.h"
#include "output.h"
#include "restore-report.h"
#include "tap.h"
#include "time-util.h"

#define ID "9b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"
#define BACKUP "3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9"

/* 2026-11-25T10:00:00Z and 41 s later. */
#define STARTED (UINT64_C(1795600800) * USEC_PER_SEC)

static char **units(void) {
        static char *u[] = { (char *) "kube-apiserver.service", (char *) "kube-scheduler.service", NULL };
        return u;
}

/* A restore as the agent shows it; the strings are not owned (never passed to _done()). */
static RestoreInfo restore(const char *phase) {
        return (RestoreInfo) {
                .id = (char *) ID,
                .kind = (char *) "restore",
                .backup = (char *) BACKUP,
                .phase = (char *) phase,
                .data_dir = (char *) "/var/lib/etcd/default",
                .etcd_unit = (char *) "etcd.service",
                .units = units(),
                .name = (char *) "node1",
                .initial_cluster = (char *) "node1=http://10.0.0.1:2380",
                .started = STARTED,
                .revision = 12345,
                .revision_bump = 1000000000,
        };
}

static RestoreInfo completed(void) {
        RestoreInfo r = restore("completed");

        r.finished = STARTED + 41 * USEC_PER_SEC;
        r.downtime_usec = 12349999;
        r.previous_data = (char *) "/var/lib/etcd/default/member.before-restore-" ID;
        r.progress = 100;
        return r;
}

static RestoreInfo failing(const char *phase, const char *error_name, const char *error) {
        RestoreInfo r = restore(phase);

        r.error_name = (char *) error_name;
        r.error = (char *) error;
        return r;
}

typedef struct Capture {
        char *buf;
        size_t size;
        FILE *f;
} Capture;

static FILE *capture_begin(Capture *c) {
        *c = (Capture) {};
        c->f = open_memstream(&c->buf, &c->size);
        return c->f;
}

static char *capture_end(Capture *c) {
        fclose(c->f);
        return c->buf;
}

static char *json_of(const RestoreInfo *r) {
        Capture c;
        JsonWriter w = { .f = capture_begin(&c) };

        json_restore(&w, r);
        json_finish(&w);
        return capture_end(&c);
}

TEST(json_of_a_completed_restore) {
        RestoreInfo r = completed();
        char *s = json_of(&r);

        CHECK_STREQ(s, "{\"id\":\"" ID "\",\"kind\":\"restore\",\"backup\":\"" BACKUP "\",\"phase\":\"completed\","
                       "\"progress\":100,\"error\":null,\"error_name\":null,\"started\":\"2026-11-25T10:00:00Z\","
                       "\"started_usec\":1795600800000000,\"finished\":\"2026-11-25T10:00:41Z\",\"finished_usec\":1795600841000000,"
                       "\"downtime_usec\":12349999,\"revision\":12345,"
                       "\"revision_bump\":1000000000,\"previous_data\":\"/var/lib/etcd/default/member.before-restore-" ID "\","
                       "\"dry_run\":false,\"data_dir\":\"/var/lib/etcd/default\",\"etcd_unit\":\"etcd.service\","
                       "\"units\":[\"kube-apiserver.service\",\"kube-scheduler.service\"],\"name\":\"node1\","
                       "\"initial_cluster\":\"node1=http://10.0.0.1:2380\",\"resumed\":false,\"endpoint\":null,"
                       "\"cluster_id\":null,\"member_id\":null}\n");
        free(s);
}

/* A rejoin's ids in hex, as etcdctl prints them and takes them; its hint is the next step. */
TEST(json_and_hint_of_a_rejoin) {
        RestoreInfo r = { .id = (char *) ID, .kind = (char *) "rejoin", .phase = (char *) "completed",
                          .endpoint = (char *) "https://10.0.0.1:2379", .cluster_id = UINT64_C(0xcdf818194e3a8c32),
                          .member_id = UINT64_C(0x8e9e05c52164694d), .previous_data = (char *) "/var/lib/etcd/member.before-rejoin-" ID };
        char *s = json_of(&r);
        Capture c;

        CHECK(strstr(s, "\"endpoint\":\"https://10.0.0.1:2379\",\"cluster_id\":\"cdf818194e3a8c32\","
                        "\"member_id\":\"8e9e05c52164694d\"}"));
        free(s);
        restore_print_hint(&r, capture_begin(&c));
        s = capture_end(&c);
        CHECK(strstr(s, "member 8e9e05c52164694d of cluster cdf818194e3a8c32"));
        CHECK(strstr(s, "Rejoin the next node now"));
        free(s);

        r.kind = (char *) "stop";
        restore_print_hint(&r, capture_begin(&c));
        s = capture_end(&c);
        CHECK(strstr(s, "etcd-backupctl rejoin --endpoint="));
        free(s);

        r.kind = (char *) "rejoin";
        r.phase = (char *) "rolled-back";
        r.error = (char *) "etcd did not start";
        restore_print_hint(&r, capture_begin(&c));
        s = capture_end(&c);
        CHECK(strstr(s, "The rejoin was rolled back: etcd did not start"));
        CHECK(strstr(s, "kept stopped"));
        free(s);
}

/* Empty strings and times not yet reached are null; no units is an empty array. */
TEST(json_of_a_restore_under_way) {
        RestoreInfo r = { .id = (char *) ID, .kind = (char *) "restore", .phase = (char *) "verifying", .error = (char *) "",
                          .error_name = (char *) "", .previous_data = (char *) "", .started = STARTED, .dry_run = true,
                          .resumed = true };
        char *s = json_of(&r);

        CHECK_STREQ(s, "{\"id\":\"" ID "\",\"kind\":\"restore\",\"backup\":null,\"phase\":\"verifying\",\"progress\":0,"
                       "\"error\":null,\"error_name\":null,\"started\":\"2026-11-25T10:00:00Z\","
                       "\"started_usec\":1795600800000000,\"finished\":null,\"finished_usec\":null,"
                       "\"downtime_usec\":0,\"revision\":0,\"revision_bump\":0,\"previous_data\":null,\"dry_run\":true,"
                       "\"data_dir\":null,\"etcd_unit\":null,\"units\":[],\"name\":null,\"initial_cluster\":null,"
                       "\"resumed\":true,\"endpoint\":null,\"cluster_id\":null,\"member_id\":null}\n");
        free(s);
}

TEST(exit_status_by_phase) {
        RestoreInfo r;

        r = completed();
        CHECK_EQ(restore_exit_status(&r), RESTORE_EXIT_COMPLETED);
        r = failing("rolled-back", AGENT_ERROR_ETCD_UNHEALTHY, "etcd did not become healthy");
        CHECK_EQ(restore_exit_status(&r), RESTORE_EXIT_ROLLED_BACK);
        r = failing("failed", AGENT_ERROR_BACKUP_CORRUPT, "bad hash");
        CHECK_EQ(restore_exit_status(&r), RESTORE_EXIT_FAILED);
        r = failing("failed", AGENT_ERROR_CANCELLED, "cancelled");
        CHECK_EQ(restore_exit_status(&r), RESTORE_EXIT_FAILED);
        r = failing("failed", AGENT_ERROR_ROLLBACK_FAILED, "x; rolling back failed too: y");
        CHECK_EQ(restore_exit_status(&r), RESTORE_EXIT_ROLLBACK_FAILED);
        /* Not over: the waiting stopped first. */
        const char *running[] = { "verifying", "staging", "stopping", "swapping", "starting-etcd",
                                  "starting-control-plane", "rolling-back", "some-phase-of-a-newer-agent" };
        for (size_t i = 0; i < ELEMENTSOF(running); i++) {
                r = restore(running[i]);
                CHECK_EQ(restore_exit_status(&r), RESTORE_EXIT_UNKNOWN);
        }
        /* The numbers are the man page's. */
        CHECK_EQ(RESTORE_EXIT_NOT_STARTED, EXIT_FAILURE);
        CHECK_EQ(RESTORE_EXIT_FAILED, 2);
        CHECK_EQ(RESTORE_EXIT_ROLLED_BACK, 3);
        CHECK_EQ(RESTORE_EXIT_ROLLBACK_FAILED, 4);
        CHECK_EQ(RESTORE_EXIT_UNKNOWN, 5);
}

static char *stage_lines(const RestoreInfo *r, int shown) {
        Capture c;

        restore_stage_lines(r, shown, capture_begin(&c));
        return capture_end(&c);
}

#define HEADER "Restore " ID " of backup " BACKUP ":\n"
#define L_VERIFYING "verifying              checking the backup end to end, the free space and the restore tool\n"
#define L_STAGING "staging                building the restored member directory beside the live one; nothing is stopped yet\n"
#define L_STOPPING "stopping               stopping kube-apiserver.service, kube-scheduler.service, then etcd.service: the downtime starts\n"
#define L_SWAPPING "swapping               exchanging the live member directory for the restored one\n"
#define L_STARTING_ETCD "starting-etcd          starting etcd.service and waiting until etcd is healthy at revision 1000012345 or later\n"
#define L_STARTING_CP "starting-control-plane starting kube-scheduler.service, kube-apiserver.service\n"
#define L_COMPLETED "completed              etcd and the control plane run on the restored data\n"
#define L_ROLLING_BACK "rolling-back           putting the previous data back, because: etcd did not become healthy\n"
#define L_ROLLED_BACK "rolled-back            etcd and the control plane run on the previous data again\n"

#define CHECK_LINES(r, shown, expected)                 \
        do {                                            \
                char *_s = stage_lines(r, shown);       \
                CHECK_STREQ(_s, expected);              \
                free(_s);                               \
        } while (0)

TEST(phase_lines_one_at_a_time) {
        RestoreInfo r;

        r = restore("verifying");
        CHECK_LINES(&r, -1, HEADER L_VERIFYING);
        r = restore("staging");
        CHECK_LINES(&r, RESTORE_VERIFYING, L_STAGING);
        r = restore("stopping");
        CHECK_LINES(&r, RESTORE_STAGING, L_STOPPING);
        r = restore("swapping");
        CHECK_LINES(&r, RESTORE_STOPPING, L_SWAPPING);
        r = restore("starting-etcd");
        CHECK_LINES(&r, RESTORE_SWAPPING, L_STARTING_ETCD);
        r = restore("starting-control-plane");
        CHECK_LINES(&r, RESTORE_STARTING_ETCD, L_STARTING_CP);
        r = completed();
        CHECK_LINES(&r, RESTORE_STARTING_CONTROL_PLANE, L_COMPLETED);
}

/* The first phase may be over before the CLI first reads the restore; a phase that came late
 * (a PropertiesChanged older than what GetAll said) prints nothing. */
TEST(phase_lines_fill_in_the_way_forward) {
        RestoreInfo r;

        r = restore("staging");
        CHECK_LINES(&r, -1, HEADER L_VERIFYING L_STAGING);
        r = restore("swapping");
        CHECK_LINES(&r, RESTORE_STAGING, L_STOPPING L_SWAPPING);
        r = completed();
        CHECK_LINES(&r, RESTORE_STOPPING, L_SWAPPING L_STARTING_ETCD L_STARTING_CP L_COMPLETED);

        r = completed();
        r.dry_run = true;
        CHECK_LINES(&r, -1, "Restore " ID " of backup " BACKUP " (dry run):\n" L_VERIFYING
                    "staging                building the restored member directory beside the live one (a dry run stops nothing)\n"
                    "completed              dry run: the backup was verified and staged; nothing was stopped, the staged data is removed\n");
}

/* After a failure only what must have happened is told: where it struck is not known. */
TEST(phase_lines_of_failures) {
        RestoreInfo r;

        r = failing("rolled-back", AGENT_ERROR_ETCD_UNHEALTHY, "etcd did not become healthy");
        CHECK_LINES(&r, RESTORE_STARTING_ETCD, L_ROLLING_BACK L_ROLLED_BACK);
        CHECK_LINES(&r, RESTORE_ROLLING_BACK, L_ROLLED_BACK);

        r = failing("failed", AGENT_ERROR_ROLLBACK_FAILED, "etcd did not become healthy; rolling back failed too: swap-back failed");
        CHECK_LINES(&r, RESTORE_STARTING_ETCD,
                    "rolling-back           putting the previous data back, because: etcd did not become healthy; rolling back failed too: swap-back failed\n"
                    "failed                 the control plane may be down: etcd did not become healthy; rolling back failed too: swap-back failed\n");

        r = failing("failed", AGENT_ERROR_BACKUP_CORRUPT, "Backup is damaged: bad SHA-256");
        CHECK_LINES(&r, -1, HEADER "failed                 nothing was stopped: Backup is damaged: bad SHA-256\n");
        CHECK_LINES(&r, RESTORE_STAGING, "failed                 nothing was stopped: Backup is damaged: bad SHA-256\n");

        /* A phase this CLI does not know gets no line, and does not count as a step. */
        r = restore("reticulating");
        CHECK_EQ(restore_stage(&r), -1);
        CHECK_LINES(&r, RESTORE_STAGING, "");
}

TEST(progress_line) {
        RestoreInfo r = restore("staging");
        char line[256];

        r.progress = 45;
        CHECK(restore_progress_line(&r, line, sizeof(line)));
        CHECK_STREQ(line, "Restoring backup " BACKUP ": staging, 45%");
        r = completed();
        CHECK(!restore_progress_line(&r, line, sizeof(line)));
}

static char *status_of(const RestoreInfo *r, bool full) {
        Capture c;

        restore_print_status(r, full, capture_begin(&c));
        return capture_end(&c);
}

static char *hint_of(const RestoreInfo *r) {
        Capture c;

        restore_print_hint(r, capture_begin(&c));
        return capture_end(&c);
}

TEST(status_of_a_completed_restore) {
        RestoreInfo r = completed();
        char *s;

        s = status_of(&r, true);
        CHECK_STREQ(s, "             Id: " ID "\n"
                       "           Kind: restore\n"
                       "         Backup: " BACKUP " (revision 12345)\n"
                       "          Phase: completed\n"
                       "        Started: 2026-11-25T10:00:00Z\n"
                       "       Finished: 2026-11-25T10:00:41Z\n"
                       "       Downtime: 12.3 s\n"
                       "  Revision bump: 1000000000 (etcd serves revision 1000012345 and later; older ones are compacted)\n"
                       "  Previous data: /var/lib/etcd/default/member.before-restore-" ID "\n"
                       "       Data dir: /var/lib/etcd/default\n"
                       "      Etcd unit: etcd.service\n"
                       "  Control plane: kube-apiserver.service, kube-scheduler.service\n"
                       "         Member: node1\n"
                       "Initial cluster: node1=http://10.0.0.1:2380\n");
        free(s);

        r.resumed = true;
        r.revision_bump = 0;
        s = status_of(&r, false);
        CHECK_STREQ(s, "         Backup: " BACKUP " (revision 12345)\n"
                       "          Phase: completed\n"
                       "       Downtime: 12.3 s\n"
                       "  Revision bump: none\n"
                       "  Previous data: /var/lib/etcd/default/member.before-restore-" ID "\n"
                       "        Resumed: yes, by an agent started after the restore began\n");
        free(s);
}

TEST(status_of_failures) {
        RestoreInfo r;
        char *s;

        r = failing("failed", AGENT_ERROR_NO_SPACE, "Not enough space in /var/lib/etcd/default");
        r.revision_bump = 0;
        s = status_of(&r, false);
        CHECK_STREQ(s, "         Backup: " BACKUP " (revision 12345)\n"
                       "          Phase: failed\n"
                       "       Downtime: none, nothing was stopped\n"
                       "  Previous data: -\n"
                       "          Error: Not enough space in /var/lib/etcd/default\n"
                       "     Error name: NoSpace\n");
        free(s);

        r = failing("failed", AGENT_ERROR_ROLLBACK_FAILED, "x; rolling back failed too: y");
        s = status_of(&r, false);
        CHECK(strstr(s, "       Downtime: not over: the control plane may be down\n"));
        CHECK(strstr(s, "     Error name: RollbackFailed\n"));
        free(s);

        r = restore("staging");
        r.progress = 45;
        r.revision_bump = 0;
        s = status_of(&r, false);
        CHECK(strstr(s, "          Phase: staging, 45%\n"));
        CHECK(strstr(s, "       Downtime: none, nothing was stopped\n"));
        CHECK(!strstr(s, "Revision bump"));
        free(s);

        r = restore("swapping");
        s = status_of(&r, false);
        CHECK(strstr(s, "       Downtime: under way\n"));
        free(s);
}

TEST(hints) {
        RestoreInfo r;
        char *s;

        r = completed();
        s = hint_of(&r);
        CHECK(strstr(s, "restart\nkube-controller-manager, kube-scheduler and the kubelet on every control-plane node\n"));
        CHECK(strstr(s, "rm -rf /var/lib/etcd/default/member.before-restore-" ID "\n"));
        free(s);

        r.dry_run = true;
        s = hint_of(&r);
        CHECK(strstr(s, "nothing was stopped"));
        CHECK(strstr(s, "etcd-backupctl restore " BACKUP "\n"));
        CHECK(!strstr(s, "kube-scheduler"));
        free(s);

        r = failing("rolled-back", AGENT_ERROR_UNIT_FAILED, "kube-apiserver.service failed to start");
        s = hint_of(&r);
        CHECK(strstr(s, "The restore was rolled back: kube-apiserver.service failed to start\n"));
        CHECK(strstr(s, "run on the data they had before the restore"));
        CHECK(strstr(s, "journalctl RESTORE_ID=" ID "\n"));
        free(s);

        r = failing("failed", AGENT_ERROR_ROLLBACK_FAILED, "x; rolling back failed too: y");
        s = hint_of(&r);
        CHECK(strstr(s, "ROLLING BACK FAILED: the control plane of this node may be down"));
        CHECK(strstr(s, "journalctl RESTORE_ID=" ID "\n"));
        CHECK(strstr(s, "systemctl status etcd.service kube-apiserver.service kube-scheduler.service\n"));
        free(s);

        r = failing("failed", AGENT_ERROR_BACKUP_CORRUPT, "bad hash");
        s = hint_of(&r);
        CHECK(strstr(s, "Nothing was stopped: etcd and the control plane were not touched.\n"));
        free(s);

        r = restore("staging");
        s = hint_of(&r);
        CHECK(strstr(s, "etcd-backupctl cancel-restore " ID "\n"));
        free(s);

        r = restore("stopping");
        s = hint_of(&r);
        CHECK(strstr(s, "it cannot be cancelled now"));
        CHECK(strstr(s, "etcd-backupctl restore-status " ID "\n"));
        free(s);
}

static char *table_of(const RestoreInfo *x, size_t n, bool legend) {
        Capture c;

        CHECK_EQ(restore_print_table(x, n, &(TableStyle) { .legend = legend, .width = SIZE_MAX, .now = STARTED + 2 * USEC_PER_HOUR },
                                     capture_begin(&c)), 0);
        return capture_end(&c);
}

TEST(table) {
        RestoreInfo x[2] = { failing("rolled-back", AGENT_ERROR_ETCD_UNHEALTHY, "etcd did not become healthy"), completed() };
        char *s;

        x[0].started = STARTED + USEC_PER_HOUR;
        x[0].downtime_usec = 61 * USEC_PER_SEC;
        x[1].dry_run = true;
        x[1].downtime_usec = 0;
        s = table_of(x, 2, true);
        /* Local times, and how long ago, as systemctl list-timers shows them (TZ=UTC here). */
        CHECK_STREQ(s, "ID                                   KIND              BACKUP                               STARTED                                 PHASE       DOWNTIME ERROR\n"
                       ID " restore           " BACKUP " Wed 2026-11-25 11:00:00 UTC 1h 0min ago rolled-back   61.0 s EtcdUnhealthy\n"
                       ID " restore (dry run) " BACKUP " Wed 2026-11-25 10:00:00 UTC 2h 0min ago completed          - -\n"
                       "\n2 restores listed.\n");
        free(s);

        s = table_of(x, 0, true);
        CHECK_STREQ(s, "0 restores listed.\n");
        free(s);
        s = table_of(x, 1, false);
        CHECK_STREQ(s, ID " restore " BACKUP " Wed 2026-11-25 11:00:00 UTC 1h 0min ago rolled-back 61.0 s EtcdUnhealthy\n");
        free(s);
}

TEST(format_seconds) {
        char b[FORMAT_SECONDS_MAX];

        CHECK_STREQ(format_seconds(b, sizeof(b), 0), "0.0 s");
        CHECK_STREQ(format_seconds(b, sizeof(b), 12349999), "12.3 s");
        CHECK_STREQ(format_seconds(b, sizeof(b), 12350000), "12.4 s");
        CHECK_STREQ(format_seconds(b, sizeof(b), 3599 * USEC_PER_SEC + 960000), "3600.0 s");
}

int main(void) {
        setenv("TZ", "UTC", 1);
        tzset();
        RUN(json_of_a_completed_restore);
        RUN(json_of_a_restore_under_way);
        RUN(json_and_hint_of_a_rejoin);
        RUN(exit_status_by_phase);
        RUN(phase_lines_one_at_a_time);
        RUN(phase_lines_fill_in_the_way_forward);
        RUN(phase_lines_of_failures);
        RUN(progress_line);
        RUN(status_of_a_completed_restore);
        RUN(status_of_failures);
        RUN(hints);
        RUN(table);
        RUN(format_seconds);
        return tap_finish();
}
