/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * etcd-backupctl: the command line client of etcd-backupd, in the manner of systemctl. Every
 * verb talks to org.etcdbackup.Agent1 on the system bus, prints a table (or, with --json, one
 * JSON document) and exits 0 on success, 1 with a message on stderr otherwise. Verbs that wait
 * follow the agent's signals and, on a terminal, show progress.
 */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "bus-names.h"
#include "errors.h"
#include "json.h"
#include "macro.h"
#include "names.h"
#include "string-util.h"
#include "table.h"
#include "time-util.h"


typedef enum JsonMode { JSON_OFF, JSON_SHORT, JSON_PRETTY } JsonMode;

static JsonMode arg_json = JSON_OFF;
static bool arg_legend = true;
static bool arg_ask_password = true;
static bool arg_wait = true;
static bool arg_scheduled = false;
static const char *arg_schedule = NULL;
static int64_t arg_keep = -1; /* -1: not given */
static int arg_enabled = -1;  /* -1: not given */

/* ---- reading the agent's objects ---------------------------------------------------------- */

typedef struct PropertyMap {
        const char *name;
        char type;
        size_t offset;
} PropertyMap;

/* Reads an a{sv} of properties into a struct, for the names the map knows. */
static int map_properties(sd_bus_message *m, const PropertyMap *map, void *data) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const PropertyMap *p;
                const char *name;
                char sig[2] = {};

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                for (p = map; p->name && !streq(p->name, name); p++)
                        ;
                if (!p->name)
                        r = sd_bus_message_skip(m, "v");
                else {
                        void *field = (uint8_t *) data + p->offset;

                        sig[0] = p->type;
                        r = sd_bus_message_enter_container(m, 'v', sig);
                        if (r >= 0 && (p->type == 's' || p->type == 'o')) {
                                const char *s;
                                r = sd_bus_message_read_basic(m, p->type, &s);
                                if (r >= 0)
                                        r = free_and_strdup(field, s);
                        } else if (r >= 0 && p->type == 'b') {
                                int b;
                                r = sd_bus_message_read_basic(m, 'b', &b);
                                *(bool *) field = b;
                        } else if (r >= 0)
                                r = sd_bus_message_read_basic(m, p->type, field);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Frees the strings map_properties() filled in. */
static void free_properties(const PropertyMap *map, void *data) {
        for (const PropertyMap *p = map; p->name; p++)
                if (p->type == 's' || p->type == 'o') {
                        char **field = (char **) ((uint8_t *) data + p->offset);
                        *field = mfree(*field);
                }
}

typedef struct BackupInfo {
        char *path;
        char *id;
        char *config;
        char *state;
        char *error_name;
        char *error;
        char *file;
        char *sha256;
        char *etcd_version;
        char *node;
        uint64_t size;
        uint64_t snapshot_size;
        uint64_t cluster_id;
        uint64_t member_id;
        uint64_t created;
        uint64_t completed;
        uint64_t bytes_done;
        uint64_t bytes_total;
        int64_t revision;
        uint32_t progress;
} BackupInfo;

static const PropertyMap backup_map[] = {
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

static void backup_info_done(BackupInfo *b) {
        free(b->path);
        free_properties(backup_map, b);
        *b = (BackupInfo) {};
}

typedef struct ConfigInfo {
        char *path;
        char *name;
        char *schedule;
        char *calendar;
        char *last_backup_id;
        char *last_result;
        uint32_t keep;
        bool enabled;
        uint64_t last_backup;
        uint64_t next_run;
} ConfigInfo;

static const PropertyMap config_map[] = {
        { "Name", 's', offsetof(ConfigInfo, name) },
        { "Schedule", 's', offsetof(ConfigInfo, schedule) },
        { "Calendar", 's', offsetof(ConfigInfo, calendar) },
        { "Keep", 'u', offsetof(ConfigInfo, keep) },
        { "Enabled", 'b', offsetof(ConfigInfo, enabled) },
        { "LastBackup", 't', offsetof(ConfigInfo, last_backup) },
        { "LastBackupId", 's', offsetof(ConfigInfo, last_backup_id) },
        { "LastResult", 's', offsetof(ConfigInfo, last_result) },
        { "NextRun", 't', offsetof(ConfigInfo, next_run) },
        {},
};

static void config_info_done(ConfigInfo *c) {
        free(c->path);
        free_properties(config_map, c);
        *c = (ConfigInfo) {};
}

/* Everything the agent has, from one GetManagedObjects call: backups newest first,
 * configurations in the agent's order. */
typedef struct Objects {
        BackupInfo *backups;
        size_t n_backups;
        ConfigInfo *configs;
        size_t n_configs;
} Objects;

static void objects_done(Objects *o) {
        for (size_t i = 0; i < o->n_backups; i++)
                backup_info_done(&o->backups[i]);
        for (size_t i = 0; i < o->n_configs; i++)
                config_info_done(&o->configs[i]);
        free(o->backups);
        free(o->configs);
        *o = (Objects) {};
}

static int cmp_newest_first(const void *a, const void *b) {
        const BackupInfo *x = a, *y = b;
        return x->created < y->created ? 1 : x->created > y->created ? -1 : 0;
}

static int error_bus(const char *what, const sd_bus_error *e, int r) {
        const char *hint = NULL;

        if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                hint = "Is etcd-backupd running? Try: systemctl status etcd-backupd";
        else if (sd_bus_error_has_name(e, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                hint = "Run as root, or without --no-ask-password to authenticate.";
        else if (sd_bus_error_has_name(e, AGENT_ERROR_NO_SUCH_BACKUP))
                hint = "See: etcd-backupctl list-backups";
        else if (sd_bus_error_has_name(e, AGENT_ERROR_NO_SUCH_CONFIG))
                hint = "See: etcd-backupctl list-configs";

        fprintf(stderr, "Failed to %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        if (hint)
                fprintf(stderr, "%s\n", hint);
        return r;
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

static int get_objects(sd_bus *bus, Objects *ret) {
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
        *ret = o;
        return 0;
}

static int get_properties(sd_bus *bus, const char *path, const char *interface, const PropertyMap *map, void *data) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, AGENT_BUS_NAME, path, DBUS_PROPERTIES_INTERFACE, "GetAll", &error, &reply, "s",
                               interface);
        if (r < 0)
                return error_bus("read the agent's properties", &error, r);
        return map_properties(reply, map, data);
}

/* ---- output ------------------------------------------------------------------------------ */

static const char *format_time(char *buf, size_t l, usec_t t) {
        return t > 0 ? format_timestamp_rfc3339(buf, l, t) : NULL;
}

static JsonWriter json_writer(void) {
        return (JsonWriter) { .f = stdout, .pretty = arg_json == JSON_PRETTY };
}

static void json_backup(JsonWriter *w, const BackupInfo *b) {
        char t[FORMAT_TIMESTAMP_MAX], hex[17];
        bool completed = streq_ptr(b->state, "completed");

        json_begin_object(w);
        json_key(w, "id");
        json_string(w, b->id);
        json_key(w, "config");
        json_string(w, b->config);
        json_key(w, "state");
        json_string(w, b->state);
        json_key(w, "file");
        json_string(w, completed ? b->file : NULL);
        json_key(w, "size");
        json_uint(w, b->size);
        json_key(w, "snapshot_size");
        json_uint(w, b->snapshot_size);
        json_key(w, "revision");
        json_int(w, b->revision);
        json_key(w, "created");
        json_string(w, format_time(t, sizeof(t), b->created));
        json_key(w, "completed");
        json_string(w, format_time(t, sizeof(t), b->completed));
        json_key(w, "sha256");
        json_string(w, completed ? b->sha256 : NULL);
        json_key(w, "etcd_version");
        json_string(w, isempty(b->etcd_version) ? NULL : b->etcd_version);
        json_key(w, "cluster_id");
        snprintf(hex, sizeof(hex), "%" PRIx64, b->cluster_id);
        json_string(w, b->cluster_id ? hex : NULL);
        json_key(w, "member_id");
        snprintf(hex, sizeof(hex), "%" PRIx64, b->member_id);
        json_string(w, b->member_id ? hex : NULL);
        json_key(w, "node");
        json_string(w, isempty(b->node) ? NULL : b->node);
        json_key(w, "error");
        json_string(w, isempty(b->error) ? NULL : b->error);
        json_key(w, "error_name");
        json_string(w, isempty(b->error_name) ? NULL : b->error_name);
        json_end_object(w);
}

static void json_config(JsonWriter *w, const ConfigInfo *c) {
        char t[FORMAT_TIMESTAMP_MAX];

        json_begin_object(w);
        json_key(w, "name");
        json_string(w, c->name);
        json_key(w, "schedule");
        json_string(w, c->schedule);
        json_key(w, "calendar");
        json_string(w, c->calendar);
        json_key(w, "keep");
        json_uint(w, c->keep);
        json_key(w, "enabled");
        json_bool(w, c->enabled);
        json_key(w, "last_backup");
        json_string(w, format_time(t, sizeof(t), c->last_backup));
        json_key(w, "last_backup_id");
        json_string(w, isempty(c->last_backup_id) ? NULL : c->last_backup_id);
        json_key(w, "last_result");
        json_string(w, isempty(c->last_result) ? NULL : c->last_result);
        json_key(w, "next_run");
        json_string(w, format_time(t, sizeof(t), c->next_run));
        json_end_object(w);
}

/* The configurations as a table: for list-configs all columns, for status the short form. */
static int print_configs(const Objects *o, bool full) {
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        t = full ? table_new("NAME", "SCHEDULE", "CALENDAR", "KEEP", "ENABLED", "LAST BACKUP", "RESULT", "NEXT RUN", NULL)
                 : table_new("CONFIG", "SCHEDULE", "LAST BACKUP", "RESULT", "NEXT RUN", NULL);
        if (!t)
                return -ENOMEM;
        if (full)
                table_set_align_right(t, 3);
        for (size_t i = 0; i < o->n_configs; i++) {
                const ConfigInfo *c = &o->configs[i];
                char last[FORMAT_TIMESTAMP_MAX], next[FORMAT_TIMESTAMP_MAX], keep[16];
                const char *result = isempty(c->last_result) ? NULL : c->last_result;
                const char *next_run = c->enabled ? format_time(next, sizeof(next), c->next_run) : "disabled";

                snprintf(keep, sizeof(keep), "%" PRIu32, c->keep);
                r = full ? table_add_row(t, c->name, c->schedule, c->calendar, keep, c->enabled ? "yes" : "no",
                                         format_time(last, sizeof(last), c->last_backup), result, next_run)
                         : table_add_row(t, c->name, c->schedule, format_time(last, sizeof(last), c->last_backup), result,
                                         next_run);
                if (r < 0)
                        return r;
        }
        return table_print(t, stdout, arg_legend);
}

/* ---- polkit agent ------------------------------------------------------------------------- */

/* For non-root users on a terminal, a text polkit agent (pkttyagent) answers the agent's
 * interactive authorization requests, as systemctl does. Returns its pid, or 0. */
static pid_t polkit_agent_open(void) {
        int pipe_fd[2];
        char notify[16];
        pid_t pid;

        if (!arg_ask_password || geteuid() == 0 || !isatty(STDIN_FILENO) || access("/usr/bin/pkttyagent", X_OK) < 0)
                return 0;
        if (pipe2(pipe_fd, O_CLOEXEC) < 0)
                return 0;

        pid = fork();
        if (pid < 0) {
                safe_close(pipe_fd[0]);
                safe_close(pipe_fd[1]);
                return 0;
        }
        if (pid == 0) {
                char process[32];
                /* pkttyagent closes the notify fd once it is registered for our process. */
                int fd = dup(pipe_fd[1]);
                snprintf(notify, sizeof(notify), "%i", fd);
                snprintf(process, sizeof(process), "%i", (int) getppid());
                execl("/usr/bin/pkttyagent", "pkttyagent", "--notify-fd", notify, "--fallback", "--process", process,
                      NULL);
                _exit(EXIT_FAILURE);
        }
        safe_close(pipe_fd[1]);
        struct pollfd p = { .fd = pipe_fd[0], .events = POLLIN };
        (void) poll(&p, 1, 5000);
        safe_close(pipe_fd[0]);
        return pid;
}

static void polkit_agent_close(pid_t pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGTERM);
        (void) waitpid(pid, NULL, 0);
}

/* ---- verbs: backups ----------------------------------------------------------------------- */

static int verb_list_backups(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(objects_done) Objects o = {};
        _cleanup_(table_freep) Table *t = NULL;
        const char *config = argc > 1 ? argv[1] : NULL;
        size_t n = 0;
        int r;

        r = get_objects(bus, &o);
        if (r < 0)
                return r;

        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_begin_array(&w);
                for (size_t i = 0; i < o.n_backups; i++)
                        if (streq_ptr(o.backups[i].state, "completed") && (!config || streq_ptr(o.backups[i].config, config)))
                                json_backup(&w, &o.backups[i]);
                json_end_array(&w);
                json_finish(&w);
                return 0;
        }

        t = table_new("ID", "CONFIG", "CREATED", "REVISION", "SNAPSHOT", "SIZE", "FILE", NULL);
        if (!t)
                return -ENOMEM;
        table_set_align_right(t, 3);
        table_set_align_right(t, 4);
        table_set_align_right(t, 5);
        for (size_t i = 0; i < o.n_backups; i++) {
                const BackupInfo *b = &o.backups[i];
                char created[FORMAT_TIMESTAMP_MAX], rev[32], snap[FORMAT_BYTES_MAX], size[FORMAT_BYTES_MAX];

                if (!streq_ptr(b->state, "completed") || (config && !streq_ptr(b->config, config)))
                        continue;
                snprintf(rev, sizeof(rev), "%" PRIi64, b->revision);
                r = table_add_row(t, b->id, b->config, format_time(created, sizeof(created), b->created), rev,
                                  format_bytes(snap, sizeof(snap), b->snapshot_size),
                                  format_bytes(size, sizeof(size), b->size), b->file);
                if (r < 0)
                        return r;
                n++;
        }
        if (n > 0)
                table_print(t, stdout, arg_legend);
        if (arg_legend)
                printf("%s%zu backup%s listed.\n", n > 0 ? "\n" : "", n, n == 1 ? "" : "s");
        return 0;
}

typedef struct ManagerInfo {
        char *state;
        char *version;
        char *storage;
        char *endpoint;
        char *running;
} ManagerInfo;

static const PropertyMap manager_map[] = {
        { "State", 's', offsetof(ManagerInfo, state) },
        { "Version", 's', offsetof(ManagerInfo, version) },
        { "StorageDirectory", 's', offsetof(ManagerInfo, storage) },
        { "Endpoint", 's', offsetof(ManagerInfo, endpoint) },
        { "RunningBackup", 'o', offsetof(ManagerInfo, running) },
        {},
};

static void manager_info_done(ManagerInfo *i) {
        free_properties(manager_map, i);
}

static int verb_status(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(manager_info_done) ManagerInfo s = {};
        _cleanup_(objects_done) Objects o = {};
        const BackupInfo *running = NULL;
        size_t completed = 0, failed = 0;
        int r;

        r = get_properties(bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, manager_map, &s);
        if (r >= 0)
                r = get_objects(bus, &o);
        if (r < 0)
                return r;

        for (size_t i = 0; i < o.n_backups; i++) {
                const BackupInfo *b = &o.backups[i];
                completed += streq_ptr(b->state, "completed");
                failed += streq_ptr(b->state, "failed");
                if (streq_ptr(b->state, "running"))
                        running = b;
        }

        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();

                json_begin_object(&w);
                json_key(&w, "state");
                json_string(&w, s.state);
                json_key(&w, "version");
                json_string(&w, s.version);
                json_key(&w, "endpoint");
                json_string(&w, s.endpoint);
                json_key(&w, "storage_directory");
                json_string(&w, s.storage);
                json_key(&w, "backups");
                json_uint(&w, completed);
                json_key(&w, "failed_backups");
                json_uint(&w, failed);
                json_key(&w, "running_backup");
                if (running)
                        json_backup(&w, running);
                else
                        json_null(&w);
                json_key(&w, "configs");
                json_begin_array(&w);
                for (size_t i = 0; i < o.n_configs; i++)
                        json_config(&w, &o.configs[i]);
                json_end_array(&w);
                json_end_object(&w);
                json_finish(&w);
                return 0;
        }

        printf("       State: %s\n", strna(s.state));
        printf("     Version: %s\n", strna(s.version));
        printf("    Endpoint: %s\n", strna(s.endpoint));
        printf("     Storage: %s (%zu backup%s", strna(s.storage), completed, completed == 1 ? "" : "s");
        if (failed)
                printf(", %zu failed", failed);
        printf(")\n");
        if (running)
                printf("     Running: backup %s of '%s', %" PRIu32 "%%\n", running->id, running->config, running->progress);
        putchar('\n');
        return print_configs(&o, /* full= */ false);
}

/* Following one backup until it ends. */
typedef struct WaitContext {
        sd_bus *bus;
        const char *path;
        BackupInfo info;
        bool done;
        bool detached;
        bool tty;
        bool drawn;
} WaitContext;

static void render_progress(WaitContext *c) {
        char done[FORMAT_BYTES_MAX], total[FORMAT_BYTES_MAX];

        if (!c->tty || c->done || !streq_ptr(c->info.state, "running"))
                return;
        fprintf(stderr, "\r\033[KBacking up '%s': %" PRIu32 "%% (%s of %s)", strna(c->info.config), c->info.progress,
                format_bytes(done, sizeof(done), c->info.bytes_done),
                format_bytes(total, sizeof(total), c->info.bytes_total));
        c->drawn = true;
}

static void clear_progress(WaitContext *c) {
        if (c->drawn)
                fputs("\r\033[K", stderr);
        c->drawn = false;
}

static int check_done(WaitContext *c) {
        if (!c->done && c->info.state && !streq(c->info.state, "running")) {
                c->done = true;
                return sd_event_exit(sd_bus_get_event(c->bus), 0);
        }
        render_progress(c);
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        WaitContext *c = userdata;
        const char *interface;

        if (sd_bus_message_read(m, "s", &interface) < 0 || !streq(interface, BACKUP_INTERFACE) ||
            map_properties(m, backup_map, &c->info) < 0)
                return 0;
        return check_done(c);
}

static int on_backup_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        WaitContext *c = userdata;
        const char *id, *path, *state;

        if (sd_bus_message_read(m, "sos", &id, &path, &state) < 0 || !c->path || !streq(path, c->path))
                return 0;
        /* The final properties: read them, whatever PropertiesChanged has told already. */
        (void) get_properties(c->bus, c->path, BACKUP_INTERFACE, backup_map, &c->info);
        (void) free_and_strdup(&c->info.state, state);
        return check_done(c);
}

static int on_interrupt(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        WaitContext *c = userdata;

        c->detached = true;
        return sd_event_exit(sd_bus_get_event(c->bus), 0);
}

/* Follows the backup at c->path until it ends (or Ctrl-C): its properties once, then what
 * changes. The BackupFinished match is in place already. */
static int follow_backup(WaitContext *c, sd_event *event) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *changed = NULL;
        int r;

        c->done = false;
        backup_info_done(&c->info);
        r = sd_bus_match_signal(c->bus, &changed, AGENT_BUS_NAME, c->path, DBUS_PROPERTIES_INTERFACE,
                                "PropertiesChanged", on_properties_changed, c);
        if (r < 0)
                return r;
        r = get_properties(c->bus, c->path, BACKUP_INTERFACE, backup_map, &c->info);
        if (r < 0)
                return r;
        r = check_done(c);
        if (r >= 0 && !c->done)
                r = sd_event_loop(event);
        clear_progress(c);
        return r;
}

/* StartBackup; when scheduled, a Busy agent is handled as a timer wants it: a backup of the same
 * configuration is joined (the timer's backup is the one already running), one of another is
 * waited for, then it is our turn. */
static int start_backup(WaitContext *c, sd_event *event, const char *config, char **ret_path) {
        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                _cleanup_(manager_info_done) ManagerInfo mi = {};
                _cleanup_(backup_info_done) BackupInfo running = {};
                const char *path;
                int r;

                r = sd_bus_call_method(c->bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "StartBackup", &error, &reply,
                                       "s", config);
                if (r >= 0) {
                        r = sd_bus_message_read(reply, "o", &path);
                        return r < 0 ? r : free_and_strdup(ret_path, path);
                }
                if (!arg_scheduled || !sd_bus_error_has_name(&error, AGENT_ERROR_BUSY))
                        return error_bus("start a backup", &error, r);

                if ((r = get_properties(c->bus, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, manager_map, &mi)) < 0)
                        return r;
                if (streq_ptr(mi.running, "/"))
                        continue; /* over meanwhile: try again */
                if ((r = get_properties(c->bus, mi.running, BACKUP_INTERFACE, backup_map, &running)) < 0)
                        return r;
                if (streq_ptr(running.config, config)) {
                        fprintf(stderr, "A backup of '%s' is running already (%s); following it.\n", config, running.id);
                        return free_and_strdup(ret_path, mi.running);
                }
                fprintf(stderr, "Waiting for backup %s of '%s' to end.\n", running.id, strna(running.config));
                c->path = mi.running;
                r = follow_backup(c, event);
                c->path = NULL;
                if (r < 0 || c->detached)
                        return r < 0 ? r : -ECANCELED;
        }
}

static int verb_backup(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *finished_slot = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_free_ char *path = NULL;
        const char *config = argc > 1 ? argv[1] : "default";
        WaitContext c = { .bus = bus, .tty = isatty(STDERR_FILENO) && arg_json == JSON_OFF && !arg_scheduled };
        sigset_t ss;
        int r;

        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        /* Ctrl-C stops the waiting, not the backup. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        (void) sd_event_add_signal(event, NULL, SIGINT, on_interrupt, &c);

        /* Subscribed before the call, so that not even an instant failure can slip by. */
        r = sd_bus_match_signal(bus, &finished_slot, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "BackupFinished",
                                on_backup_finished, &c);
        if (r < 0)
                return r;

        r = start_backup(&c, event, config, &path);
        if (r == -ECANCELED && c.detached) {
                fprintf(stderr, "Stopped waiting; no backup of '%s' was started.\n", config);
                return 0;
        }
        if (r < 0)
                return r;

        c.path = path;
        if (arg_wait)
                r = follow_backup(&c, event);
        else
                r = get_properties(bus, path, BACKUP_INTERFACE, backup_map, &c.info);
        if (r < 0) {
                backup_info_done(&c.info);
                return r;
        }

        if (c.detached) {
                fprintf(stderr, "Backup %s continues in the background.\n", c.info.id);
                backup_info_done(&c.info);
                return 0;
        }

        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_backup(&w, &c.info);
                json_finish(&w);
        } else
                printf("%s\n", c.info.id);

        if (arg_wait && !streq_ptr(c.info.state, "completed")) {
                fprintf(stderr, "Backup %s of '%s' failed: %s\n", c.info.id, config, strna(c.info.error));
                r = -EIO;
        }
        backup_info_done(&c.info);
        return r;
}

static int verb_verify(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "VerifyBackup");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", argv[1]);
        if (r < 0)
                return r;
        /* Reading a large backup end to end takes a while; the default 25 s would cut it off. */
        r = sd_bus_call(bus, m, 60 * 60 * USEC_PER_SEC, &error, &reply);
        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_begin_object(&w);
                json_key(&w, "id");
                json_string(&w, argv[1]);
                json_key(&w, "verified");
                json_bool(&w, r >= 0);
                json_key(&w, "error");
                json_string(&w, r < 0 ? error.message : NULL);
                json_key(&w, "error_name");
                json_string(&w, r < 0 ? error.name : NULL);
                json_end_object(&w);
                json_finish(&w);
        }
        if (r < 0)
                return error_bus("verify the backup", &error, r);
        if (arg_json == JSON_OFF)
                printf("Backup %s is intact.\n", argv[1]);
        return 0;
}

/* Prints {"<key>": <id>, "<flag>": true} for --json; the verbs that change things say nothing
 * otherwise, as systemctl's. */
static void json_done(const char *key, const char *id, const char *flag) {
        JsonWriter w = json_writer();

        if (arg_json == JSON_OFF)
                return;
        json_begin_object(&w);
        json_key(&w, key);
        json_string(&w, id);
        json_key(&w, flag);
        json_bool(&w, true);
        json_end_object(&w);
        json_finish(&w);
}

static int verb_delete_backup(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "DeleteBackup", &error, NULL, "s", argv[1]);
        if (r < 0)
                return error_bus("delete the backup", &error, r);
        json_done("id", argv[1], "deleted");
        return 0;
}

/* ---- verbs: configurations ---------------------------------------------------------------- */

static int verb_list_configs(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(objects_done) Objects o = {};
        int r;

        r = get_objects(bus, &o);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                JsonWriter w = json_writer();
                json_begin_array(&w);
                for (size_t i = 0; i < o.n_configs; i++)
                        json_config(&w, &o.configs[i]);
                json_end_array(&w);
                json_finish(&w);
                return 0;
        }
        r = print_configs(&o, /* full= */ true);
        if (r >= 0 && arg_legend)
                printf("\n%zu configuration%s listed.\n", o.n_configs, o.n_configs == 1 ? "" : "s");
        return r;
}

/* With --json, the configuration as it now is. */
static int print_config_json(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(config_info_done) ConfigInfo c = {};
        const char *path;
        int r;

        if (arg_json == JSON_OFF)
                return 0;
        r = sd_bus_call_method(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "GetConfig", &error, &reply, "s", name);
        if (r < 0)
                return error_bus("read the configuration", &error, r);
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = get_properties(bus, path, CONFIG_INTERFACE, config_map, &c);
        if (r < 0)
                return r;
        JsonWriter w = json_writer();
        json_config(&w, &c);
        json_finish(&w);
        return 0;
}

/* AddConfig and SetConfig take the same settings: what was given on the command line. */
static int config_call(sd_bus *bus, const char *method, const char *name, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, method);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_schedule)
                r = sd_bus_message_append(m, "{sv}", "Schedule", "s", arg_schedule);
        if (r >= 0 && arg_keep >= 0)
                r = sd_bus_message_append(m, "{sv}", "Keep", "u", (uint32_t) arg_keep);
        if (r >= 0 && arg_enabled >= 0)
                r = sd_bus_message_append(m, "{sv}", "Enabled", "b", arg_enabled);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, 0, error, NULL);
}

static int verb_add_config(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!arg_schedule) {
                fprintf(stderr, "add-config needs --schedule=, e.g. --schedule=daily or --schedule=\"@every 6h from 02:00\".\n");
                return -EINVAL;
        }
        r = config_call(bus, "AddConfig", argv[1], &error);
        if (r < 0)
                return error_bus("add the configuration", &error, r);
        return print_config_json(bus, argv[1]);
}

static int verb_set_config(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!arg_schedule && arg_keep < 0 && arg_enabled < 0) {
                fprintf(stderr, "set-config needs at least one of --schedule=, --keep=, --enable, --disable.\n");
                return -EINVAL;
        }
        r = config_call(bus, "SetConfig", argv[1], &error);
        if (r < 0)
                return error_bus("change the configuration", &error, r);
        return print_config_json(bus, argv[1]);
}

static int verb_remove_config(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_MANAGER_INTERFACE, "RemoveConfig", &error, NULL, "s", argv[1]);
        if (r < 0)
                return error_bus("remove the configuration", &error, r);
        json_done("name", argv[1], "removed");
        return 0;
}

/* ---- command line ------------------------------------------------------------------------ */

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Take, list and check etcd backups, and schedule them, through etcd-backupd.\n\n"
               "Commands:\n"
               "  status                 Show the agent's state and each configuration's last\n"
               "                         result and next run\n"
               "  backup [CONFIG]        Take a backup now (of configuration 'default' if none is\n"
               "                         given), wait for it and print its id\n"
               "  list-backups [CONFIG]  List completed backups, newest first\n"
               "  verify ID              Check a backup end to end\n"
               "  delete-backup ID       Delete a backup\n"
               "  list-configs           List the backup configurations\n"
               "  add-config NAME --schedule=S [--keep=N]\n"
               "                         Add a configuration (enabled)\n"
               "  set-config NAME [--schedule=S] [--keep=N] [--enable|--disable]\n"
               "                         Change a configuration\n"
               "  remove-config NAME     Remove a configuration (its backups stay)\n\n"
               "Schedules: hourly, daily, weekly, monthly (optionally \"daily at 02:30\",\n"
               "\"hourly at :15\"); \"@every 20m\", \"@every 6h from 02:00\"; cron's five fields\n"
               "(\"0 2 * * *\"); or a systemd calendar (\"Mon..Fri *-*-* 01:30\").\n\n"
               "Options:\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "     --json[=short|pretty|off]\n"
               "                         Print one JSON document instead of tables\n"
               "     --no-legend         Print tables without header and footer\n"
               "     --no-ask-password   Do not ask for a password to authorize an action\n"
               "     --no-wait           backup: return once the backup has started\n"
               "     --scheduled         backup: as a timer does it: join a running backup of the\n"
               "                         same configuration, wait for one of another\n"
               "     --schedule=S        add-config, set-config: when to back up\n"
               "     --keep=N            add-config, set-config: backups to keep (without it: the\n"
               "                         schedule's default, hourly 24, daily 7, weekly 4,\n"
               "                         monthly 3, else 20)\n"
               "     --enable --disable  add-config, set-config: whether its timer runs\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_NO_ASK_PASSWORD,
                ARG_NO_WAIT,
                ARG_SCHEDULED,
                ARG_SCHEDULE,
                ARG_KEEP,
                ARG_ENABLE,
                ARG_DISABLE,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                { "no-wait", no_argument, NULL, ARG_NO_WAIT },
                { "scheduled", no_argument, NULL, ARG_SCHEDULED },
                { "schedule", required_argument, NULL, ARG_SCHEDULE },
                { "keep", required_argument, NULL, ARG_KEEP },
                { "enable", no_argument, NULL, ARG_ENABLE },
                { "disable", no_argument, NULL, ARG_DISABLE },
                {},
        };
        unsigned keep;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("etcd-backupctl %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_JSON:
                        if (!optarg || streq(optarg, "short"))
                                arg_json = JSON_SHORT;
                        else if (streq(optarg, "pretty"))
                                arg_json = JSON_PRETTY;
                        else if (streq(optarg, "off"))
                                arg_json = JSON_OFF;
                        else {
                                fprintf(stderr, "Unknown --json= mode '%s': expected short, pretty or off.\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        arg_ask_password = false;
                        break;
                case ARG_NO_WAIT:
                        arg_wait = false;
                        break;
                case ARG_SCHEDULED:
                        arg_scheduled = true;
                        break;
                case ARG_SCHEDULE:
                        arg_schedule = optarg;
                        break;
                case ARG_KEEP:
                        if (safe_atou(optarg, &keep) < 0) {
                                fprintf(stderr, "Invalid --keep=%s: expected a number of backups.\n", optarg);
                                return -EINVAL;
                        }
                        arg_keep = keep;
                        break;
                case ARG_ENABLE:
                        arg_enabled = 1;
                        break;
                case ARG_DISABLE:
                        arg_enabled = 0;
                        break;
                default:
                        return -EINVAL;
                }
        return 1;
}

typedef struct Verb {
        const char *name;
        int min_args, max_args; /* counting the verb itself */
        int (*dispatch)(sd_bus *bus, int argc, char *argv[]);
} Verb;

static const Verb verbs[] = {
        { "status", 1, 1, verb_status },
        { "backup", 1, 2, verb_backup },
        { "list-backups", 1, 2, verb_list_backups },
        { "verify", 2, 2, verb_verify },
        { "delete-backup", 2, 2, verb_delete_backup },
        { "list-configs", 1, 1, verb_list_configs },
        { "add-config", 2, 2, verb_add_config },
        { "set-config", 2, 2, verb_set_config },
        { "remove-config", 2, 2, verb_remove_config },
};

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        static char *status_argv[] = { (char *) "status", NULL };
        const Verb *verb = NULL;
        char **args;
        pid_t agent;
        int r, n;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        n = argc - optind;
        args = n > 0 ? argv + optind : status_argv;
        n = MAX(n, 1);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, args[0]))
                        verb = &verbs[i];
        if (!verb) {
                fprintf(stderr, "Unknown command '%s'. See %s --help.\n", args[0], program_invocation_short_name);
                return EXIT_FAILURE;
        }
        if (n < verb->min_args || n > verb->max_args) {
                fprintf(stderr, "'%s' takes %s%i argument%s. See %s --help.\n", args[0],
                        verb->min_args == verb->max_args ? "" : "at most ", verb->max_args - 1,
                        verb->max_args == 2 ? "" : "s", program_invocation_short_name);
                return EXIT_FAILURE;
        }

        r = agent_errors_register();
        if (r >= 0)
                r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "Failed to connect to the system bus: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        (void) sd_bus_set_allow_interactive_authorization(bus, arg_ask_password);

        agent = polkit_agent_open();
        r = verb->dispatch(bus, n, args);
        polkit_agent_close(agent);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
