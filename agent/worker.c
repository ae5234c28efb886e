/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A worker thread that posts to the event loop through an eventfd. */

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>

#include "worker.h"

struct Worker {
        pthread_t thread;
        bool joined;
        int efd;
        sd_event_source *source;
        worker_run_t run;
        worker_notify_t notify;
        void *userdata;
        atomic_bool cancel;
        atomic_bool finished;
        int result; /* written by the thread before finished, read by the loop after the join */
};

static void *worker_thread(void *p) {
        Worker *w = p;

        w->result = w->run(w, w->userdata);
        atomic_store(&w->finished, true);
        worker_wake(w);
        return NULL;
}

static int on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        uint64_t v;

        /* Several wakes fold into one read: notify() looks at the current state anyway. So a
         * failed read (EAGAIN: woken for nothing) changes nothing either. */
        if (read(fd, &v, sizeof(v)) < 0)
                v = 0;

        if (atomic_load(&w->finished)) {
                (void) pthread_join(w->thread, NULL);
                w->joined = true;
                w->source = sd_event_source_disable_unref(w->source);
                w->notify(w, true, w->result, w->userdata);
                return 0;
        }
        w->notify(w, false, 0, w->userdata);
        return 0;
}

int worker_start(sd_event *e, const char *name, worker_run_t run, worker_notify_t notify, void *userdata, Worker **ret) {
        _cleanup_(worker_freep) Worker *w = NULL;
        sigset_t all, saved;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->joined = true;
        w->run = run;
        w->notify = notify;
        w->userdata = userdata;
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0)
                return -errno;

        r = sd_event_add_io(e, &w->source, w->efd, EPOLLIN, on_wake, w);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(w->source, name);

        /* Signals belong to the loop's thread (sd-event takes them through a signalfd, which
         * only works when no thread lets them through). */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved);
        r = -pthread_create(&w->thread, NULL, worker_thread, w);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (r < 0)
                return r;
        w->joined = false;
        (void) pthread_setname_np(w->thread, name);

        *ret = TAKE_PTR(w);
        return 0;
}

void worker_cancel(Worker *w) {
        atomic_store(&w->cancel, true);
}

void worker_wake(Worker *w) {
        uint64_t one = 1;

        /* An eventfd refuses a write only when its counter is full (EAGAIN): the loop has a
         * wake pending then anyway. */
        if (write(w->efd, &one, sizeof(one)) < 0)
                return;
}

const atomic_bool *worker_cancel_flag(Worker *w) {
        return &w->cancel;
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        if (!w->joined) {
                worker_cancel(w);
                (void) pthread_join(w->thread, NULL);
        }
        sd_event_source_disable_unref(w->source);
        safe_close(w->efd);
        free(w);
        return NULL;
}
