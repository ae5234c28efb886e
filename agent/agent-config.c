/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent configuration: keys, their checks and their defaults, in one table. */

#include <stdio.h>
#include <unistd.h>

#include "agent-config.h"
#include "conf-parser.h"
#include "log.h"
#include "string-util.h"

static const char * const scope_table[_SCOPE_MAX] = {
        [SCOPE_SYSTEM] = "system",
        [SCOPE_USER] = "user",
};

const char *systemd_scope_to_string(SystemdScope s) {
        return s >= 0 && s < _SCOPE_MAX ? scope_table[s] : NULL;
}

SystemdScope systemd_scope_from_string(const char *s) {
        for (int i = 0; i < _SCOPE_MAX; i++)
                if (streq_ptr(s, scope_table[i]))
                        return i;
        return _SCOPE_INVALID;
}

typedef int (*parse_t)(const char *value, void *data);

static int parse_string(const char *value, void *data) {
        return free_and_strdup(data, value);
}

static int parse_absolute_path(const char *value, void *data) {
        if (value[0] != '/' || strstr(value, "/../") || endswith(value, "/.."))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_endpoint(const char *value, void *data) {
        _cleanup_free_ char *target = NULL;
        bool tls;

        if (etcd_endpoint_parse_url(value, &target, &tls) < 0)
                return -EINVAL;
        return free_and_strdup(data, value);
}

static bool unit_name_is_valid(const char *s) {
        static const char * const suffixes[] = { ".service", ".target", ".socket", ".mount", ".scope" };
        size_t n = strlen(s);

        if (n < 2 || n > 255 ||
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") != n)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (endswith(s, suffixes[i]) && n > strlen(suffixes[i]))
                        return true;
        return false;
}

static int parse_unit(const char *value, void *data) {
        if (!unit_name_is_valid(value))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_unit_list(const char *value, void *data) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        r = strv_split_whitespace(value, &l);
        if (r < 0)
                return r;
        for (char **u = l; *u; u++)
                if (!unit_name_is_valid(*u))
                        return -EINVAL;
        return strv_extend_strv(data, l);
}

static int parse_scope(const char *value, void *data) {
        SystemdScope s = systemd_scope_from_string(value);

        if (s < 0)
                return -EINVAL;
        *(SystemdScope *) data = s;
        return 0;
}

static const struct {
        const char *section;
        const char *key;
        parse_t parse;
        size_t offset;
        const char *expected; /* for the error message */
} config_items[] = {
        { "Etcd", "Endpoint", parse_endpoint, offsetof(AgentConfig, etcd.url), "http://HOST[:PORT] or https://HOST[:PORT]" },
        { "Etcd", "TrustedCAFile", parse_absolute_path, offsetof(AgentConfig, etcd.trusted_ca_file), "an absolute path" },
        { "Etcd", "CertFile", parse_absolute_path, offsetof(AgentConfig, etcd.cert_file), "an absolute path" },
        { "Etcd", "KeyFile", parse_absolute_path, offsetof(AgentConfig, etcd.key_file), "an absolute path" },
        { "Etcd", "DataDir", parse_absolute_path, offsetof(AgentConfig, etcd_data_dir), "an absolute path" },
        { "Etcd", "Unit", parse_unit, offsetof(AgentConfig, etcd_unit), "a unit name" },
        { "Etcd", "Name", parse_string, offsetof(AgentConfig, etcd_name), NULL },
        { "Etcd", "InitialCluster", parse_string, offsetof(AgentConfig, initial_cluster), NULL },
        { "Etcd", "InitialAdvertisePeerURLs", parse_string, offsetof(AgentConfig, initial_advertise_peer_urls), NULL },
        { "Etcd", "InitialClusterToken", parse_string, offsetof(AgentConfig, initial_cluster_token), NULL },
        { "Etcd", "RestoreCommand", parse_absolute_path, offsetof(AgentConfig, restore_command), "an absolute path" },
        { "ControlPlane", "Units", parse_unit_list, offsetof(AgentConfig, control_plane_units), "unit names" },
        { "Storage", "Directory", parse_absolute_path, offsetof(AgentConfig, storage_directory), "an absolute path" },
        { "Systemd", "Scope", parse_scope, offsetof(AgentConfig, scope), "\"system\" or \"user\"" },
};

typedef struct ParseContext {
        AgentConfig *config;
        const char *filename;
        bool units_assigned;
} ParseContext;

static int on_assignment(const char *section, const char *key, const char *value, unsigned line, void *userdata) {
        ParseContext *ctx = userdata;
        void *data;
        size_t i;
        int r;

        for (i = 0; i < ELEMENTSOF(config_items); i++)
                if (streq(section, config_items[i].section) && streq(key, config_items[i].key))
                        break;
        if (i >= ELEMENTSOF(config_items)) {
                log_warning("%s:%u: Unknown key %s= in [%s], ignoring.", ctx->filename, line, key, section);
                return 0;
        }

        /* Values end up in properties, messages and unit names: text, and nothing that could
         * break a line or a terminal. */
        if (!utf8_is_printable(value))
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s:%u: Invalid %s= in [%s]: not UTF-8 text, or holds control characters.",
                                       ctx->filename, line, key, section);

        data = (uint8_t *) ctx->config + config_items[i].offset;
        if (config_items[i].parse == parse_unit_list) {
                ctx->units_assigned = true;
                /* As in systemd unit files: the empty assignment clears the list. */
                if (isempty(value)) {
                        *(char ***) data = strv_free(*(char ***) data);
                        return 0;
                }
        } else if (isempty(value)) {
                /* Back to the default, which is filled in after all files are read. */
                if (config_items[i].parse == parse_scope)
                        ctx->config->scope = SCOPE_SYSTEM;
                else
                        *(char **) data = mfree(*(char **) data);
                return 0;
        }

        r = config_items[i].parse(value, data);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "%s:%u: Invalid %s=%s in [%s]%s%s.", ctx->filename, line,
                                       key, value, section, config_items[i].expected ? ", expected " : "",
                                       strempty(config_items[i].expected));
        return 0;
}

static int set_default(char **field, const char *value) {
        return *field ? 0 : free_and_strdup(field, value);
}

static int fill_defaults(AgentConfig *c, bool units_assigned) {
        char host[256] = {};
        int r = 0;

        if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
                strcpy(host, "default");

        r = r ?: set_default(&c->etcd.url, "http://127.0.0.1:2379");
        r = r ?: set_default(&c->etcd_data_dir, "/var/lib/etcd/default"); /* Debian's etcd.service */
        r = r ?: set_default(&c->etcd_unit, "etcd.service");
        r = r ?: set_default(&c->etcd_name, host);
        r = r ?: set_default(&c->initial_advertise_peer_urls, "http://localhost:2380");
        r = r ?: set_default(&c->initial_cluster_token, "etcd-cluster");
        r = r ?: set_default(&c->storage_directory, "/var/lib/etcd-backup");
        if (r < 0)
                return r;

        if (!c->initial_cluster) {
                /* etcd's own default: this member alone, at each of its peer URLs. */
                size_t size = 0;
                FILE *f = open_memstream(&c->initial_cluster, &size);

                if (!f)
                        return -ENOMEM;
                for (const char *p = c->initial_advertise_peer_urls; *p;) {
                        size_t n = strcspn(p, ",");
                        fprintf(f, "%s%s=%.*s", p > c->initial_advertise_peer_urls ? "," : "", c->etcd_name, (int) n, p);
                        p += n + (p[n] == ',');
                }
                if (fclose(f) != 0)
                        return -ENOMEM;
        }

        if (!units_assigned && !c->control_plane_units) {
                r = strv_extend(&c->control_plane_units, "kube-apiserver.service");
                if (r < 0)
                        return r;
        }
        return 0;
}

void agent_config_done(AgentConfig *c) {
        etcd_endpoint_done(&c->etcd);
        c->etcd_data_dir = mfree(c->etcd_data_dir);
        c->etcd_unit = mfree(c->etcd_unit);
        c->etcd_name = mfree(c->etcd_name);
        c->initial_cluster = mfree(c->initial_cluster);
        c->initial_advertise_peer_urls = mfree(c->initial_advertise_peer_urls);
        c->initial_cluster_token = mfree(c->initial_cluster_token);
        c->restore_command = mfree(c->restore_command);
        c->control_plane_units = strv_free(c->control_plane_units);
        c->storage_directory = mfree(c->storage_directory);
}

/* Reads one file: a missing one is fine unless required, and so (with a warning) is anything
 * but a regular file in its place, which could not be read without blocking. */
static int load_file(ParseContext *ctx, const char *path, bool required) {
        unsigned line = 0;
        int r;

        ctx->filename = path;
        r = conf_parse_file(path, CONF_FILE_MAX, on_assignment, ctx, &line);
        if (r == -ENOENT && !required)
                return 0;
        if (r == -EBADFD && !required) {
                log_warning("%s is not a regular file, ignoring.", path);
                return 0;
        }
        if (r == -EBADFD)
                return log_error_errno(r, "Cannot read %s: not a regular file.", path);
        if (r == -EFBIG)
                return log_error_errno(r, "Cannot read %s: larger than %u KiB, which no agent configuration is.", path,
                                       CONF_FILE_MAX / 1024);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s:%u: Syntax error: expected [Section] or Key=Value.", path, line);
        if (r < 0 && line == 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        return r; /* an invalid value, already logged */
}

/* Defaults for what no file set, and the checks across keys. */
static int config_finish(ParseContext *ctx) {
        AgentConfig *c = ctx->config;
        int r;

        r = fill_defaults(c, ctx->units_assigned);
        if (r < 0)
                return log_oom();
        if (!!c->etcd.cert_file != !!c->etcd.key_file)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "[Etcd] CertFile= and KeyFile= must be given together.");
        return 0;
}

int agent_config_load(const char *path, AgentConfig *ret) {
        _cleanup_strv_free_ char **dropins = NULL;
        _cleanup_free_ char *dropin_dir = NULL;
        AgentConfig c = {};
        ParseContext ctx = { .config = &c };
        int r;

        /* An explicitly given file must exist; the default one need not. */
        r = load_file(&ctx, path ?: AGENT_CONFIG_PATH, /* required= */ !!path);
        if (r < 0)
                goto fail;

        if (asprintf(&dropin_dir, "%s.d", path ?: AGENT_CONFIG_PATH) < 0) {
                r = log_oom();
                goto fail;
        }
        r = conf_list_dropins(dropin_dir, &dropins);
        if (r < 0) {
                log_error_errno(r, "Cannot read %s: %m", dropin_dir);
                goto fail;
        }
        /* Listed, but one may have gone since: no longer there, no longer a drop-in. */
        for (char **d = dropins; *d; d++) {
                r = load_file(&ctx, *d, /* required= */ false);
                if (r < 0)
                        goto fail;
        }

        r = config_finish(&ctx);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;

fail:
        agent_config_done(&c);
        return r;
}

int agent_config_load_string(const char *text, AgentConfig *ret) {
        AgentConfig c = {};
        ParseContext ctx = { .config = &c, .filename = "(string)" };
        unsigned line = 0;
        int r;

        r = conf_parse_string(text, on_assignment, &ctx, &line);
        if (r == -EBADMSG)
                log_error_errno(r, "%s:%u: Syntax error: expected [Section] or Key=Value.", ctx.filename, line);
        if (r >= 0)
                r = config_finish(&ctx);
        if (r < 0) {
                agent_config_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}
