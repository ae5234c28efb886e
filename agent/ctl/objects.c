/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's objects as the CLI reads them, one property map per interface. */

#include <stdio.h>

#include "bus-names.h"
#include "macro.h"
#include "objects.h"

const PropertyMap manager_map[] = {
        { "State", 's', offsetof(ManagerInfo, state) },
        { "Version", 's', offsetof(ManagerInfo, version) },
        { "StorageDirectory", 's', offsetof(ManagerInfo, storage) },
        { "Endpoint", 's', offsetof(ManagerInfo, endpoint) },
        { "RunningBackup", 'o', offsetof(ManagerInfo, running_backup) },
        { "RunningRestore", 'o', offsetof(ManagerInfo, running_restore) },
        { "Detected", 'T', offsetof(ManagerInfo, detected) },
        { "DetectionError", 's', offsetof(ManagerInfo, detection_error) },
        {},
};

void manager_info_done(ManagerInfo *i) {
        free_properties(manager_map, i);
}

const PropertyMap backup_map[] = {
        { "Id", 's', offsetof(BackupInfo, id) },
        { "Config", 's', offsetof(BackupInfo, config) },
        { "State", 's', offsetof(BackupInfo, state) },
        { "ErrorName", 's', offsetof(BackupInfo, error_name) },
        { "Error", 's', offsetof(BackupInfo, error) },
        { "File", 's', offsetof(BackupInfo, file) },
        { "Sha256", 's', offsetof(BackupInfo, sha256) },
        { "EtcdVersion", 's', offsetof(BackupInfo, etcd_version) },
        { "Node", 's', offsetof(BackupInfo, node) },
        { "Size", 't', offsetof(BackupInfo, size) },
        { "SnapshotSize", 't', offsetof(BackupInfo, snapshot_size) },
        { "ClusterId", 't', offsetof(BackupInfo, cluster_id) },
        { "MemberId", 't', offsetof(BackupInfo, member_id) },
        { "Created", 't', offsetof(BackupInfo, created) },
        { "Completed", 't', offsetof(BackupInfo, completed) },
        { "BytesDone", 't', offsetof(BackupInfo, bytes_done) },
        { "BytesTotal", 't', offsetof(BackupInfo, bytes_total) },
        { "Revision", 'x', offsetof(BackupInfo, revision) },
        { "Progress", 'u', offsetof(BackupInfo, progress) },
        {},
};

void backup_info_done(BackupInfo *b) {
        free(b->path);
        free_properties(backup_map, b);
        *b = (BackupInfo) {};
}

const PropertyMap config_map[] = {
        { "Name", 's', offsetof(ConfigInfo, name) },
        { "Schedule", 's', offsetof(ConfigInfo, schedule) },
        { "Calendar", 's', offsetof(ConfigInfo, calendar) },
        { "Keep", 'u', offsetof(ConfigInfo, keep) },
        { "Enabled", 'b', offsetof(ConfigInfo, enabled) },
        { "LastBackup", 't', offsetof(ConfigInfo, last_backup) },
        { "LastBackupId", 's', offsetof(ConfigInfo, last_backup_id) },
        { "LastResult", 's', offsetof(ConfigInfo, last_result) },
        { "NextRun", 't', offsetof(ConfigInfo, next_run) },
        { "LoadError", 's', offsetof(ConfigInfo, load_error) },
        {},
};

void config_info_done(ConfigInfo *c) {
        free(c->path);
        free_properties(config_map, c);
        *c = (ConfigInfo) {};
}

ConfigHealth config_info_health(const ConfigInfo *c, uint64_t now_usec) {
        if (c->load_error && c->load_error[0])
                return CONFIG_BROKEN;
        if (!c->enabled)
                return CONFIG_OK;
        if (streq_ptr(c->last_result, "failed"))
                return CONFIG_FAILED;
        /* 0: no run known (a timer being restarted); not a sign of anything. */
        if (c->next_run > 0 && c->next_run + CONFIG_OVERDUE_USEC < now_usec)
                return CONFIG_OVERDUE;
        return CONFIG_OK;
}

const PropertyMap restore_map[] = {
        { "Id", 's', offsetof(RestoreInfo, id) },
        { "Kind", 's', offsetof(RestoreInfo, kind) },
        { "Backup", 's', offsetof(RestoreInfo, backup) },
        { "Phase", 's', offsetof(RestoreInfo, phase) },
        { "Progress", 'u', offsetof(RestoreInfo, progress) },
        { "Error", 's', offsetof(RestoreInfo, error) },
        { "ErrorName", 's', offsetof(RestoreInfo, error_name) },
        { "Started", 't', offsetof(RestoreInfo, started) },
        { "Finished", 't', offsetof(RestoreInfo, finished) },
        { "DowntimeUSec", 't', offsetof(RestoreInfo, downtime_usec) },
        { "PreviousData", 's', offsetof(RestoreInfo, previous_data) },
        { "Revision", 'x', offsetof(RestoreInfo, revision) },
        { "RevisionBump", 't', offsetof(RestoreInfo, revision_bump) },
        { "DryRun", 'b', offsetof(RestoreInfo, dry_run) },
        { "DataDir", 's', offsetof(RestoreInfo, data_dir) },
        { "EtcdUnit", 's', offsetof(RestoreInfo, etcd_unit) },
        { "Units", 'a', offsetof(RestoreInfo, units) },
        { "Name", 's', offsetof(RestoreInfo, name) },
        { "InitialCluster", 's', offsetof(RestoreInfo, initial_cluster) },
        { "Resumed", 'b', offsetof(RestoreInfo, resumed) },
        { "Endpoint", 's', offsetof(RestoreInfo, endpoint) },
        { "ClusterID", 't', offsetof(RestoreInfo, cluster_id) },
        { "MemberID", 't', offsetof(RestoreInfo, member_id) },
        {},
};

void restore_info_done(RestoreInfo *r) {
        free(r->path);
        free_properties(restore_map, r);
        *r = (RestoreInfo) {};
}

void objects_done(Objects *o) {
        for (size_t i = 0; i < o->n_backups; i++)
                backup_info_done(&o->backups[i]);
        for (size_t i = 0; i < o->n_configs; i++)
                config_info_done(&o->configs[i]);
        for (size_t i = 0; i < o->n_restores; i++)
                restore_info_done(&o->restores[i]);
        free(o->backups);
        free(o->configs);
        free(o->restores);
        *o = (Objects) {};
}

static int cmp_newest_first(const void *a, const void *b) {
        const BackupInfo *x = a, *y = b;
        return x->created < y->created ? 1 : x->created > y->created ? -1 : 0;
}

static int cmp_restores_newest_first(const void *a, const void *b) {
        const RestoreInfo *x = a, *y = b;
        return x->started < y->started ? 1 : x->started > y->started ? -1 : 0;
}

/* Appends one zero-filled element to an array and returns it; NULL (array untouched) if out of
 * memory. */
static void *grow(void *array_ptr, size_t *n, size_t size) {
        void **array = array_ptr;
        uint8_t *t = realloc(*array, size * (*n + 1));

        if (!t)
                return NULL;
        *array = t;
        memset(t + size * *n, 0, size);
        return t + size * (*n)++;
}

int get_objects(sd_bus *bus, Objects *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Objects o = {};
        int r;

        r = sd_bus_call_method(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, DBUS_OBJECT_MANAGER_INTERFACE, "GetManagedObjects",
                               &error, &reply, NULL);
        if (r < 0)
                return error_bus("list the agent's objects", &error, r);

        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                const char *path;

                r = sd_bus_message_read(reply, "o", &path);
                if (r >= 0)
                        r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
                while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                        const char *interface;

                        r = sd_bus_message_read(reply, "s", &interface);
                        if (r >= 0 && streq(interface, BACKUP_INTERFACE)) {
                                BackupInfo *b = grow(&o.backups, &o.n_backups, sizeof(BackupInfo));
                                r = b && (b->path = strdup(path)) ? map_properties(reply, backup_map, b) : -ENOMEM;
                        } else if (r >= 0 && streq(interface, CONFIG_INTERFACE)) {
                                ConfigInfo *c = grow(&o.configs, &o.n_configs, sizeof(ConfigInfo));
                                r = c && (c->path = strdup(path)) ? map_properties(reply, config_map, c) : -ENOMEM;
                        } else if (r >= 0 && streq(interface, RESTORE_INTERFACE)) {
                                RestoreInfo *x = grow(&o.restores, &o.n_restores, sizeof(RestoreInfo));
                                r = x && (x->path = strdup(path)) ? map_properties(reply, restore_map, x) : -ENOMEM;
                        } else if (r >= 0)
                                r = sd_bus_message_skip(reply, "a{sv}");
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0) {
                objects_done(&o);
                fprintf(stderr, "Failed to read the agent's answer: %s\n", strerror(-r));
                return r;
        }

        /* qsort()'s array may not be NULL, even for no elements. */
        if (o.n_backups > 1)
                qsort(o.backups, o.n_backups, sizeof(BackupInfo), cmp_newest_first);
        if (o.n_restores > 1)
                qsort(o.restores, o.n_restores, sizeof(RestoreInfo), cmp_restores_newest_first);
        *ret = o;
        return 0;
}
