/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The on-disk journal of one restore: $STATE_DIRECTORY/restores/<ID>.restore, what a resume
 * after a crash or a reboot needs (RESTORE-DESIGN.md). One "KEY=VALUE" line per field, in a
 * fixed order, after a signature line:
 *
 *   # etcd-backup restore journal 1
 *   id=9b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3
 *   kind=restore
 *   phase=staging
 *   units=kube-scheduler.service kube-apiserver.service
 *   ...
 *
 * Values are written as they are except for the bytes that would break a line: backslash,
 * every control character (newline included) and DEL become \\, \n, \t or \xNN, so that any
 * string (an error message with the tool's output in it) comes back byte for byte. Numbers are
 * plain decimal, booleans 0 or 1, lists space-separated (their elements may not hold a space or
 * a control character: unit names never do). A field at its default (NULL, 0, false, no phase)
 * is left out.
 *
 * The reader takes only what the writer writes: the signature first, one known or unknown
 * key per line, each known key once, values of the right form, every line ended by a newline,
 * at most RESTORE_JOURNAL_SIZE_MAX bytes, and id, kind and phase present. Anything else is
 * -EBADMSG (a torn or foreign file; the atomic write never leaves one behind). Unknown keys are
 * ignored, so that a newer agent can add some and an older one still loads the journal.
 *
 * Written atomically and durably: a temp file, fsync, rename over the old journal, fsync of
 * the directory. Non-logging: negative errno.
 */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "restore-phase.h"

#define RESTORE_JOURNAL_SUFFIX ".restore"
#define RESTORE_JOURNAL_SIGNATURE "# etcd-backup restore journal 1\n"
/* Far above any journal (a few KiB with an error message holding a tool's output), and small
 * enough to read a file of the state directory whole. */
#define RESTORE_JOURNAL_SIZE_MAX (1024U * 1024U)

typedef struct RestoreJournal {
        char *id;   /* the restore's id: a UUID in canonical lower case */
        char *kind; /* restore, stop, rejoin */
        char *backup;      /* the backup's id */
        char *backup_file; /* its file, absolute */
        RestorePhase phase;
        char *error;
        char *error_name;
        usec_t started;        /* CLOCK_REALTIME µs; 0: not yet */
        usec_t finished;
        usec_t downtime_start; /* CLOCK_REALTIME µs when the first component was stopped */
        usec_t downtime_usec;
        char *data_dir;
        char *etcd_unit;
        char **units; /* [ControlPlane] Units=, in stop order; NULL when none */
        char *etcd_static_pod; /* [Etcd] StaticPod=: etcd is this pod, etcd_unit is not stopped */
        char **static_pods;    /* [ControlPlane] StaticPods=, in stop order; NULL when none */
        char *manifest_dir;    /* [ControlPlane] ManifestDirectory=, with a static pod */
        char *name;
        char *initial_cluster;
        char *initial_advertise_peer_urls;
        char *initial_cluster_token;
        char *tool;
        uint64_t revision;        /* the backup's */
        uint64_t revision_bump;   /* as applied (S/staged bump=) */
        uint64_t staged_revision; /* S/staged revision= */
        uint64_t member_inode;    /* S/staged member-inode= */
        usec_t start_timeout_usec;
        bool dry_run;
        char *previous_data;
        char **stopped; /* components stopped so far, in the order they were; NULL when none */
        /* "pod:NAME" of each static pod whose manifest may be out of the kubelet's sight:
         * listed before the rename that hides it, dropped after the one that puts it back. */
        char **hidden;
        bool swapped;
        bool resumed;
        RestorePhase failure_phase; /* the phase a rollback started from; _RESTORE_PHASE_INVALID: none */

        /* Of a stop and a rejoin (restore-cluster.c). */
        char *endpoint;      /* rejoin: a client URL of the cluster joined */
        uint64_t cluster_id; /* stop: the cluster the member was in; rejoin: the one it joins */
        uint64_t member_id;  /* stop: the member's id; rejoin: the id MemberAdd gave it */
        /* Units with the drop-in that keeps them stopped: listed before it is written, dropped
         * after it is removed. */
        char **held;
} RestoreJournal;

/* An empty journal: every field at its default (phases _RESTORE_PHASE_INVALID). */
#define RESTORE_JOURNAL_INIT                                                                    \
        ((RestoreJournal) { .phase = _RESTORE_PHASE_INVALID, .failure_phase = _RESTORE_PHASE_INVALID })

/* Frees what the fields point to and resets j to RESTORE_JOURNAL_INIT. */
void restore_journal_done(RestoreJournal *j);

/* A restore id as journals, unit names and the helper's staging dir use it: a UUID in
 * canonical lower case (backup_id_normalize() gives that form). */
bool restore_id_is_valid(const char *s);

/* The text of j (NUL-terminated; *ret_size without the NUL). -EINVAL for a journal that could
 * not be read back: an invalid id, no kind or phase, a list element that is empty or holds a
 * space or a control character; -EFBIG past RESTORE_JOURNAL_SIZE_MAX. */
int restore_journal_format(const RestoreJournal *j, char **ret, size_t *ret_size);
/* The reverse; on success *ret holds a journal to restore_journal_done(), on failure it is
 * left at RESTORE_JOURNAL_INIT. */
int restore_journal_parse(const char *text, size_t size, RestoreJournal *ret);

/* Replaces dir_fd/<id>.restore atomically and durably (mode 0600). */
int restore_journal_write(int dir_fd, const RestoreJournal *j);
/* Reads dir_fd/<id>.restore (not following a symlink, refusing anything but a regular file:
 * -EBADFD). -ENOENT if there is none, -EBADMSG if it is not a journal or holds another id. */
int restore_journal_read(int dir_fd, const char *id, RestoreJournal *ret);
/* Removes dir_fd/<id>.restore and fsyncs the directory; 0 if there was none. */
int restore_journal_remove(int dir_fd, const char *id);
/* The ids of the journals in dir_fd (files named <valid id>.restore; temp files and anything
 * else are skipped), sorted; NULL when there are none. */
int restore_journal_list(int dir_fd, char ***ret_ids);
