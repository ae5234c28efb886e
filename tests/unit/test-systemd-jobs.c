/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How a systemd job's end is judged: its result, then its unit's state read after it. */

#include <signal.h>

#include "systemd-jobs.h"
#include "tap.h"

/* A unit state for the judge; strings are not freed (literals). */
static SystemdUnitState state(const char *active, const char *sub, const char *result, bool condition) {
        return (SystemdUnitState) {
                .active_state = (char *) active,
                .sub_state = (char *) sub,
                .result = (char *) result,
                .condition_result = condition,
        };
}

/* The errno of the judgement; its message in *message (NULL on success). */
static int judge(SystemdJobType type, const char *job_result, const SystemdUnitState *s, char **message) {
        *message = NULL;
        return systemd_job_judge(type, "etcd.service", job_result, s, message);
}

TEST(job_results_map_as_systemctl_does) {
        CHECK_EQ(systemd_job_result_to_errno("done"), 0);
        CHECK_EQ(systemd_job_result_to_errno("skipped"), 0);
        CHECK_EQ(systemd_job_result_to_errno("canceled"), -ECANCELED);
        CHECK_EQ(systemd_job_result_to_errno("collected"), -ECANCELED);
        CHECK_EQ(systemd_job_result_to_errno("timeout"), -ETIME);
        CHECK_EQ(systemd_job_result_to_errno("failed"), -EIO);
        CHECK_EQ(systemd_job_result_to_errno("dependency"), -EIO);
        CHECK_EQ(systemd_job_result_to_errno("invalid"), -ENOEXEC);
        CHECK_EQ(systemd_job_result_to_errno("assert"), -EPROTO);
        CHECK_EQ(systemd_job_result_to_errno("unsupported"), -EOPNOTSUPP);
        CHECK_EQ(systemd_job_result_to_errno("once"), -ESTALE);
        /* a result of a newer systemd is no success */
        CHECK_EQ(systemd_job_result_to_errno("frobnicated"), -EIO);
        CHECK_EQ(systemd_job_result_to_errno(NULL), -EIO);
}

TEST(start_done_and_active_is_success) {
        SystemdUnitState s = state("active", "running", "success", true);
        char *m;

        CHECK_EQ(judge(SYSTEMD_JOB_START, "done", &s, &m), 0);
        CHECK(!m);
        CHECK_EQ(judge(SYSTEMD_JOB_RESTART, "done", &s, &m), 0);
        s = state("reloading", "reload", "success", true);
        CHECK_EQ(judge(SYSTEMD_JOB_START, "done", &s, &m), 0);
}

TEST(start_done_of_a_oneshot_that_exited_is_success) {
        SystemdUnitState s = state("inactive", "dead", "success", true);
        char *m;

        CHECK_EQ(judge(SYSTEMD_JOB_START, "done", &s, &m), 0);
}

TEST(start_done_with_a_failed_condition_is_reported) {
        SystemdUnitState s = state("inactive", "dead", "success", false);
        char *m;

        s.failed_condition = (char *) "ConditionPathExists=/var/lib/etcd/member";
        CHECK_EQ(judge(SYSTEMD_JOB_START, "done", &s, &m), -EIO);
        CHECK(m && strstr(m, "etcd.service was not started: its start condition failed"));
        CHECK(m && strstr(m, "ConditionPathExists=/var/lib/etcd/member was not met"));
        free(m);
}

TEST(start_done_but_failed_or_restarting_is_reported_with_its_result) {
        SystemdUnitState s = state("failed", "failed", "exit-code", true);
        char *m;

        s.exec_main_code = CLD_EXITED;
        s.exec_main_status = 3;
        CHECK_EQ(judge(SYSTEMD_JOB_START, "done", &s, &m), -EIO);
        CHECK_STREQ(m, "etcd.service is failed (failed) after its start job ended 'done' (Result: exit-code: "
                       "the control process exited with an error code, status=3).");
        free(m);

        s = state("activating", "auto-restart", "signal", true);
        s.exec_main_code = CLD_KILLED;
        s.exec_main_status = SIGKILL;
        CHECK_EQ(judge(SYSTEMD_JOB_RESTART, "done", &s, &m), -EIO);
        CHECK(m && strstr(m, "is activating (auto-restart) after its restart job"));
        CHECK(m && strstr(m, "Result: signal"));
        CHECK(m && strstr(m, "signal=SIGKILL"));
        free(m);

        s = state("deactivating", "stop-sigterm", "success", true);
        CHECK_EQ(judge(SYSTEMD_JOB_START, "done", &s, &m), -EIO);
        free(m);

        /* inactive without a Result (a target, say): nothing says it ran */
        s = state("inactive", "dead", NULL, true);
        CHECK_EQ(judge(SYSTEMD_JOB_START, "done", &s, &m), -EIO);
        free(m);
}

TEST(stop_done_must_leave_the_unit_inactive) {
        SystemdUnitState s = state("inactive", "dead", "success", true);
        char *m;

        CHECK_EQ(judge(SYSTEMD_JOB_STOP, "done", &s, &m), 0);
        s = state("failed", "failed", "exit-code", true);
        CHECK_EQ(judge(SYSTEMD_JOB_STOP, "done", &s, &m), 0);
        s = state("active", "running", "success", true);
        CHECK_EQ(judge(SYSTEMD_JOB_STOP, "done", &s, &m), -EBUSY);
        CHECK(m && strstr(m, "etcd.service is active (running) right after its stop job ended"));
        free(m);
        s = state("activating", "start", "success", true);
        CHECK_EQ(judge(SYSTEMD_JOB_STOP, "done", &s, &m), -EBUSY);
        free(m);
        /* inactive, but a job queued for it already */
        s = state("inactive", "dead", "success", true);
        s.job_id = 42;
        CHECK_EQ(judge(SYSTEMD_JOB_STOP, "done", &s, &m), -EBUSY);
        CHECK(m && strstr(m, "job 42 is queued for it"));
        free(m);
}

TEST(failed_jobs_say_why) {
        SystemdUnitState s = state("failed", "failed", "timeout", true);
        char *m;

        CHECK_EQ(judge(SYSTEMD_JOB_START, "failed", &s, &m), -EIO);
        CHECK_STREQ(m, "The start job of etcd.service failed (Result: timeout: a timeout was exceeded).");
        free(m);
        s = state("failed", "failed", "start-limit-hit", true);
        CHECK_EQ(judge(SYSTEMD_JOB_START, "failed", &s, &m), -EIO);
        CHECK(m && strstr(m, "started too often"));
        free(m);
        /* no state could be read: the result alone */
        CHECK_EQ(judge(SYSTEMD_JOB_START, "failed", NULL, &m), -EIO);
        CHECK_STREQ(m, "The start job of etcd.service failed.");
        free(m);
        CHECK_EQ(judge(SYSTEMD_JOB_STOP, "canceled", NULL, &m), -ECANCELED);
        CHECK_STREQ(m, "The stop job of etcd.service was cancelled.");
        free(m);
        CHECK_EQ(judge(SYSTEMD_JOB_START, "dependency", NULL, &m), -EIO);
        CHECK(m && strstr(m, "depends on failed"));
        free(m);
        CHECK_EQ(judge(SYSTEMD_JOB_START, "timeout", NULL, &m), -ETIME);
        free(m);
}

TEST(done_without_a_state_is_not_confirmed) {
        char *m;

        CHECK_EQ(judge(SYSTEMD_JOB_START, "done", NULL, &m), -EIO);
        CHECK(m && strstr(m, "could not be read"));
        free(m);
        CHECK_EQ(judge(SYSTEMD_JOB_STOP, "done", NULL, &m), -EIO);
        free(m);
}

TEST(job_types_have_names) {
        CHECK_STREQ(systemd_job_type_to_string(SYSTEMD_JOB_START), "start");
        CHECK_STREQ(systemd_job_type_to_string(SYSTEMD_JOB_STOP), "stop");
        CHECK_STREQ(systemd_job_type_to_string(SYSTEMD_JOB_RESTART), "restart");
        CHECK(!systemd_job_type_to_string(_SYSTEMD_JOB_TYPE_MAX));
        CHECK(!systemd_job_type_to_string(_SYSTEMD_JOB_TYPE_INVALID));
}

int main(void) {
        RUN(job_results_map_as_systemctl_does);
        RUN(start_done_and_active_is_success);
        RUN(start_done_of_a_oneshot_that_exited_is_success);
        RUN(start_done_with_a_failed_condition_is_reported);
        RUN(start_done_but_failed_or_restarting_is_reported_with_its_result);
        RUN(stop_done_must_leave_the_unit_inactive);
        RUN(failed_jobs_say_why);
        RUN(done_without_a_state_is_not_confirmed);
        RUN(job_types_have_names);
        return tap_finish();
}
