/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The JSON and table forms of the agent's objects. */

#include <inttypes.h>

#include "macro.h"
#include "options.h"
#include "output.h"
#include "table.h"
#include "terminal.h"

const char *format_time(char *buf, size_t l, usec_t t) {
        return t > 0 ? format_timestamp_rfc3339(buf, l, t) : NULL;
}

const char *format_time_human(char *buf, size_t l, usec_t t, usec_t now_usec) {
        char local[FORMAT_TIMESTAMP_MAX * 2], rel[FORMAT_TIMESTAMP_MAX];

        if (t == 0 || !format_timestamp_local(local, sizeof(local), t) ||
            !format_timestamp_relative(rel, sizeof(rel), t, now_usec))
                return format_time(buf, l, t);
        snprintf(buf, l, "%s %s", local, rel);
        return buf;
}

void json_time(JsonWriter *w, const char *key, usec_t t) {
        char buf[FORMAT_TIMESTAMP_MAX], usec_key[64];

        json_key(w, key);
        json_string(w, format_time(buf, sizeof(buf), t));
        snprintf(usec_key, sizeof(usec_key), "%s_usec", key);
        json_key(w, usec_key);
        if (t > 0)
                json_uint(w, t);
        else
                json_null(w);
}

JsonWriter json_writer(void) {
        return (JsonWriter) { .f = stdout, .pretty = arg_json == JSON_PRETTY };
}

void json_backup(JsonWriter *w, const BackupInfo *b) {
        char hex[17];
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
        json_time(w, "created", b->created);
        json_time(w, "completed", b->completed);
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

void json_config(JsonWriter *w, const ConfigInfo *c) {
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
        json_time(w, "last_backup", c->last_backup);
        json_key(w, "last_backup_id");
        json_string(w, isempty(c->last_backup_id) ? NULL : c->last_backup_id);
        json_key(w, "last_result");
        json_string(w, isempty(c->last_result) ? NULL : c->last_result);
        json_time(w, "next_run", c->next_run);
        json_key(w, "load_error");
        json_string(w, isempty(c->load_error) ? NULL : c->load_error);
        json_end_object(w);
}

void json_restore(JsonWriter *w, const RestoreInfo *r) {
        json_begin_object(w);
        json_key(w, "id");
        json_string(w, r->id);
        json_key(w, "kind");
        json_string(w, r->kind);
        json_key(w, "backup");
        json_string(w, isempty(r->backup) ? NULL : r->backup);
        json_key(w, "phase");
        json_string(w, r->phase);
        json_key(w, "progress");
        json_uint(w, r->progress);
        json_key(w, "error");
        json_string(w, isempty(r->error) ? NULL : r->error);
        json_key(w, "error_name");
        json_string(w, isempty(r->error_name) ? NULL : r->error_name);
        json_time(w, "started", r->started);
        json_time(w, "finished", r->finished);
        json_key(w, "downtime_usec");
        json_uint(w, r->downtime_usec);
        json_key(w, "revision");
        json_int(w, r->revision);
        json_key(w, "revision_bump");
        json_uint(w, r->revision_bump);
        json_key(w, "previous_data");
        json_string(w, isempty(r->previous_data) ? NULL : r->previous_data);
        json_key(w, "dry_run");
        json_bool(w, r->dry_run);
        json_key(w, "data_dir");
        json_string(w, isempty(r->data_dir) ? NULL : r->data_dir);
        json_key(w, "etcd_unit");
        json_string(w, isempty(r->etcd_unit) ? NULL : r->etcd_unit);
        json_key(w, "units");
        json_begin_array(w);
        STRV_FOREACH(u, r->units)
                json_string(w, *u);
        json_end_array(w);
        json_key(w, "name");
        json_string(w, isempty(r->name) ? NULL : r->name);
        json_key(w, "initial_cluster");
        json_string(w, isempty(r->initial_cluster) ? NULL : r->initial_cluster);
        json_key(w, "resumed");
        json_bool(w, r->resumed);
        /* A stop's and a rejoin's: ids in hex, as etcdctl prints them. */
        char hex[17];
        json_key(w, "endpoint");
        json_string(w, isempty(r->endpoint) ? NULL : r->endpoint);
        json_key(w, "cluster_id");
        snprintf(hex, sizeof(hex), "%" PRIx64, r->cluster_id);
        json_string(w, r->cluster_id ? hex : NULL);
        json_key(w, "member_id");
        snprintf(hex, sizeof(hex), "%" PRIx64, r->member_id);
        json_string(w, r->member_id ? hex : NULL);
        json_end_object(w);
}

TableStyle table_style(void) {
        return (TableStyle) { .legend = arg_legend, .width = table_width(), .now = now(CLOCK_REALTIME) };
}

int configs_print_table(const ConfigInfo *configs, size_t n, bool full, const TableStyle *style, FILE *f) {
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        /* LOAD last, so that scripts reading the older columns by position still can. LAST and
         * NEXT as systemctl list-timers has them: one word each, so that a header splits as its
         * rows do. */
        t = full ? table_new("NAME", "SCHEDULE", "CALENDAR", "KEEP", "ENABLED", "LAST", "RESULT", "NEXT", "LOAD", NULL)
                 : table_new("CONFIG", "SCHEDULE", "LAST", "RESULT", "NEXT", NULL);
        if (!t)
                return -ENOMEM;
        if (full) {
                table_set_align_right(t, 3);
                table_set_color(t, 8, color_of_state);
        }
        table_set_color(t, full ? 6 : 3, color_of_state);
        /* The calendar is what the agent made of SCHEDULE: the one to shorten on a narrow terminal. */
        if (full)
                table_set_ellipsize(t, 2, 100);
        table_set_width(t, style->width);

        for (size_t i = 0; i < n; i++) {
                const ConfigInfo *c = &configs[i];
                char last[FORMAT_TIME_HUMAN_MAX], next[FORMAT_TIME_HUMAN_MAX], keep[16];
                const char *result = isempty(c->last_result) ? NULL : c->last_result;
                /* A file broken from the start leaves nothing known about enabled: no "disabled". */
                bool unknown = !isempty(c->load_error) && isempty(c->schedule);
                const char *next_run = c->enabled || unknown ? format_time_human(next, sizeof(next), c->next_run, style->now)
                                                             : "disabled";

                snprintf(keep, sizeof(keep), "%" PRIu32, c->keep);
                r = full ? table_add_row(t, c->name, c->schedule, c->calendar, keep, c->enabled ? "yes" : "no",
                                         format_time_human(last, sizeof(last), c->last_backup, style->now), result, next_run,
                                         isempty(c->load_error) ? "loaded" : "broken")
                         : table_add_row(t, c->name, c->schedule, format_time_human(last, sizeof(last), c->last_backup, style->now),
                                         result, next_run);
                if (r < 0)
                        return r;
        }
        return table_print(t, f, style->legend);
}

int backups_print_table(const BackupInfo *backups, size_t n, const char *config, const TableStyle *style, FILE *f,
                        size_t *ret_n) {
        _cleanup_(table_freep) Table *t = NULL;
        size_t listed = 0;
        int r;

        t = table_new("ID", "CONFIG", "CREATED", "REVISION", "SNAPSHOT", "SIZE", "FILE", NULL);
        if (!t)
                return -ENOMEM;
        table_set_align_right(t, 3);
        table_set_align_right(t, 4);
        table_set_align_right(t, 5);
        /* The path, shortened in the middle (its directory and the id at its end stay), when the
         * terminal is too narrow. */
        table_set_ellipsize(t, 6, 50);
        table_set_width(t, style->width);
        for (size_t i = 0; i < n; i++) {
                const BackupInfo *b = &backups[i];
                char created[FORMAT_TIME_HUMAN_MAX], rev[32], snap[FORMAT_BYTES_MAX], size[FORMAT_BYTES_MAX];

                if (!streq_ptr(b->state, "completed") || (config && !streq_ptr(b->config, config)))
                        continue;
                snprintf(rev, sizeof(rev), "%" PRIi64, b->revision);
                r = table_add_row(t, b->id, b->config, format_time_human(created, sizeof(created), b->created, style->now), rev,
                                  format_bytes(snap, sizeof(snap), b->snapshot_size),
                                  format_bytes(size, sizeof(size), b->size), b->file);
                if (r < 0)
                        return r;
                listed++;
        }
        *ret_n = listed;
        return listed > 0 ? table_print(t, f, style->legend) : 0;
}

void json_done(const char *key, const char *id, const char *flag) {
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
