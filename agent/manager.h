/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Manager: owner of the bus connection, the configuration, the storage directory and every
 * per-item object (backups now; configurations and restores later). It serves
 * org.etcdbackup.Agent1.Manager at /org/etcdbackup/Agent1 together with the ObjectManager.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent-config.h"
#include "bus-names.h"
#include "polkit.h"

#define DEFAULT_CONFIG "default"

typedef struct Backup Backup;
typedef struct BackupImport BackupImport;
typedef struct BackupConfig BackupConfig;
typedef struct ConfigLoad ConfigLoad;
typedef struct Restore Restore;
typedef struct SystemdClient SystemdClient;
typedef struct Timers Timers;

typedef enum ManagerState {
        MANAGER_IDLE,
        MANAGER_BACKING_UP,
        MANAGER_RESTORING,
        _MANAGER_STATE_MAX,
        _MANAGER_STATE_INVALID = -EINVAL,
} ManagerState;

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *config_path; /* NULL: the default */
        AgentConfig config;
        char *config_dir; /* the backup configurations: configs/ beside agent.conf */
        char *state_dir;
        int storage_fd;
        AsyncChecks *checks; /* polkit's and systemd's verdicts on method calls being checked */
        SystemdClient *systemd; /* the one connection to the service manager: timers and restores */

        BackupConfig *configs;
        ConfigLoad *config_load;
        void (*configs_loaded)(struct Manager *m, int r); /* for the load whose timers are being set */
        bool configs_in_place; /* the first load and its timers are done */
        Timers *timers;
        sd_event_source *retention_defer;
        sd_event_source *metrics_defer; /* the metrics file is to be written (agent/metrics.h) */
        /* Fires when the next configuration becomes overdue: the status line and the metrics
         * say so then, with nothing else happening. */
        sd_event_source *overdue_timer;
        /* Restores that ended since the agent started, for the metrics' counter, which must
         * not go down when old restores are pruned; and the ids of those counted that are
         * still listed, so that each is counted once. */
        uint64_t restores_ended[3]; /* completed, rolled back, failed */
        char **restores_counted;

        Backup *backups; /* completed ones on disk, the running one, the last few failed */
        Backup *running;
        Backup *verifying; /* the one verification the agent runs at a time */
        BackupImport *import; /* the one import the agent runs at a time */

        Restore *restores; /* newest first, each with its journal in restores_fd */
        Restore *restore;  /* the one running */
        int restores_fd;   /* $STATE_DIRECTORY/restores */
        bool serving;      /* the main loop runs (after manager_start()) */
        bool exit_requested; /* SIGTERM came while a restore ran: exit once it is final */
        sd_event_source *extend_timeout;

        ManagerState state;
} Manager;

int manager_new(const char *config_path, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Connects to the system bus and serves the objects, then loads the backup configurations and
 * sets up their timers, and only then takes the bus name: a caller that activated the agent
 * finds every configuration in place. A restore a crash interrupted comes first: the name is
 * taken at once (callers get Busy, and can follow the restore), the restore is finished or
 * rolled back, and only then are the configurations loaded. Returns 1 when SIGTERM came
 * meanwhile and the agent is to exit without serving. */
int manager_start(Manager *m);

/* SIGHUP (systemctl reload): agent.conf and the configuration files again. */
void manager_reload(Manager *m);

/* A backup ended: its configuration's last result and, for a completed one, retention. */
void manager_backup_finished(Manager *m, Backup *b);

/* A restore reached its final phase: State, waiting backups, and an exit held for it. */
void manager_restore_finished(Manager *m);

/* Re-derives State from what runs, and tells the bus and the service manager when it changed. */
void manager_update_state(Manager *m);
/* An enabled configuration whose timer should have run more than HEALTH_OVERDUE_USEC ago. */
#define HEALTH_OVERDUE_USEC (5 * USEC_PER_MINUTE)
bool backup_config_is_overdue(const BackupConfig *c, usec_t now_usec);
/* When the first configuration not overdue at now_usec becomes so; USEC_INFINITY when none will
 * (by the NextRun each has now). */
usec_t manager_next_overdue(Manager *m, usec_t now_usec);
/* One short phrase on the configurations in trouble (a failed last backup, an overdue timer), for
 * the status line; NULL when none is. Allocated. */
char *manager_health_summary(Manager *m, usec_t now_usec);

/* Once no backup, verification or import runs: gives back what only they use. */
void manager_release_memory(Manager *m);
