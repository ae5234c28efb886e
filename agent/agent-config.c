/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent configuration: keys, their checks and their defaults, in one table. */

#include <stdio.h>
#include <unistd.h>

#include "agent-config.h"
#include "conf-parser.h"
#include "detect.h"
#include "log.h"
#include "static-pod.h"
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

/* "no" turns the metrics off: an empty assignment means the default, as for every key. */
static int parse_textfile_path(const char *value, void *data) {
        if (streq(value, "no"))
                return free_and_strdup(data, "");
        if (endswith(value, "/"))
                return -EINVAL;
        return parse_absolute_path(value, data);
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

/* A whitespace-separated list of names, each one valid, appended to the list at data. */
static int parse_name_list(const char *value, void *data, bool (*valid)(const char *)) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        r = strv_split_whitespace(value, &l);
        if (r < 0)
                return r;
        for (char **u = l; *u; u++)
                if (!valid(*u))
                        return -EINVAL;
        return strv_extend_strv(data, l);
}

static int parse_unit_list(const char *value, void *data) {
        return parse_name_list(value, data, unit_name_is_valid);
}

static int parse_pod_name(const char *value, void *data) {
        if (!static_pod_name_is_valid(value))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_pod_list(const char *value, void *data) {
        return parse_name_list(value, data, static_pod_name_is_valid);
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
} config_items[_CONFIG_KEY_MAX] = {
        [CONFIG_ETCD_ENDPOINT] = { "Etcd", "Endpoint", parse_endpoint, offsetof(AgentConfig, etcd.url), "http://HOST[:PORT] or https://HOST[:PORT]" },
        [CONFIG_ETCD_TRUSTED_CA_FILE] = { "Etcd", "TrustedCAFile", parse_absolute_path, offsetof(AgentConfig, etcd.trusted_ca_file), "an absolute path" },
        [CONFIG_ETCD_CERT_FILE] = { "Etcd", "CertFile", parse_absolute_path, offsetof(AgentConfig, etcd.cert_file), "an absolute path" },
        [CONFIG_ETCD_KEY_FILE] = { "Etcd", "KeyFile", parse_absolute_path, offsetof(AgentConfig, etcd.key_file), "an absolute path" },
        [CONFIG_ETCD_DATA_DIR] = { "Etcd", "DataDir", parse_absolute_path, offsetof(AgentConfig, etcd_data_dir), "an absolute path" },
        [CONFIG_ETCD_UNIT] = { "Etcd", "Unit", parse_unit, offsetof(AgentConfig, etcd_unit), "a unit name" },
        [CONFIG_ETCD_STATIC_POD] = { "Etcd", "StaticPod", parse_pod_name, offsetof(AgentConfig, etcd_static_pod), "a static pod's name (its manifest's without .yaml)" },
        [CONFIG_ETCD_NAME] = { "Etcd", "Name", parse_string, offsetof(AgentConfig, etcd_name), NULL },
        [CONFIG_ETCD_INITIAL_CLUSTER] = { "Etcd", "InitialCluster", parse_string, offsetof(AgentConfig, initial_cluster), NULL },
        [CONFIG_ETCD_INITIAL_ADVERTISE_PEER_URLS] = { "Etcd", "InitialAdvertisePeerURLs", parse_string, offsetof(AgentConfig, initial_advertise_peer_urls), NULL },
        [CONFIG_ETCD_INITIAL_CLUSTER_TOKEN] = { "Etcd", "InitialClusterToken", parse_string, offsetof(AgentConfig, initial_cluster_token), NULL },
        [CONFIG_ETCD_RESTORE_COMMAND] = { "Etcd", "RestoreCommand", parse_absolute_path, offsetof(AgentConfig, restore_command), "an absolute path" },
        [CONFIG_CONTROL_PLANE_UNITS] = { "ControlPlane", "Units", parse_unit_list, offsetof(AgentConfig, control_plane_units), "unit names" },
        [CONFIG_CONTROL_PLANE_STATIC_PODS] = { "ControlPlane", "StaticPods", parse_pod_list, offsetof(AgentConfig, control_plane_static_pods), "static pod names (manifests' names without .yaml)" },
        [CONFIG_CONTROL_PLANE_MANIFEST_DIRECTORY] = { "ControlPlane", "ManifestDirectory", parse_absolute_path, offsetof(AgentConfig, manifest_directory), "an absolute path" },
        [CONFIG_STORAGE_DIRECTORY] = { "Storage", "Directory", parse_absolute_path, offsetof(AgentConfig, storage_directory), "an absolute path" },
        [CONFIG_SYSTEMD_SCOPE] = { "Systemd", "Scope", parse_scope, offsetof(AgentConfig, scope), "\"system\" or \"user\"" },
        [CONFIG_METRICS_TEXTFILE_PATH] = { "Metrics", "TextfilePath", parse_textfile_path, offsetof(AgentConfig, metrics_textfile), "an absolute file name, or \"no\"" },
};

static bool item_is_list(size_t i) {
        return config_items[i].parse == parse_unit_list || config_items[i].parse == parse_pod_list;
}

typedef struct ParseContext {
        AgentConfig *config;
        const char *filename;
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
        /* Set here, and so never read from a manifest nor defaulted. */
        r = free_and_strdup(&ctx->config->sources[i], ctx->filename);
        if (r < 0)
                return log_oom();
        if (item_is_list(i)) {
                /* As in systemd unit files: the empty assignment clears the list (which stays
                 * set: an empty list is a choice, not the default). */
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
                ctx->config->sources[i] = mfree(ctx->config->sources[i]);
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

static int fill_defaults(AgentConfig *c) {
        char host[256] = {};
        int r = 0;

        if (gethostname(host, sizeof(host) - 1) < 0 || !*host)
                strcpy(host, "default");

        r = r ?: set_default(&c->etcd.url, "http://127.0.0.1:2379");
        r = r ?: set_default(&c->etcd_data_dir, "/var/lib/etcd/default"); /* Debian's etcd.service */
        /* Kept while etcd is a static pod too (nothing stops it by this name then), so that
         * code that names etcd's unit always has one. */
        r = r ?: set_default(&c->etcd_unit, "etcd.service");
        r = r ?: set_default(&c->manifest_directory, MANIFEST_DIRECTORY_DEFAULT);
        r = r ?: set_default(&c->etcd_name, host);
        r = r ?: set_default(&c->initial_advertise_peer_urls, "http://localhost:2380");
        r = r ?: set_default(&c->initial_cluster_token, "etcd-cluster");
        r = r ?: set_default(&c->storage_directory, "/var/lib/etcd-backup");
        r = r ?: set_default(&c->metrics_textfile, METRICS_TEXTFILE_DEFAULT);
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

        /* Where the control plane is static pods (detected, or set), there is no unit to stop
         * by default. */
        if (!c->sources[CONFIG_CONTROL_PLANE_UNITS] && !c->control_plane_units && !c->control_plane_static_pods) {
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
        c->etcd_static_pod = mfree(c->etcd_static_pod);
        c->control_plane_static_pods = strv_free(c->control_plane_static_pods);
        c->manifest_directory = mfree(c->manifest_directory);
        c->storage_directory = mfree(c->storage_directory);
        c->metrics_textfile = mfree(c->metrics_textfile);
        for (size_t i = 0; i < _CONFIG_KEY_MAX; i++)
                c->sources[i] = mfree(c->sources[i]);
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

/* What the files left unset read from the static pod manifests (if detect), defaults for the
 * rest, and the checks across keys. */
static int config_finish(ParseContext *ctx, bool detect) {
        AgentConfig *c = ctx->config;
        int r;

        if (c->sources[CONFIG_ETCD_UNIT] && c->sources[CONFIG_ETCD_STATIC_POD] && c->etcd_unit && c->etcd_static_pod)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
                                       "[Etcd] Unit= and StaticPod= are both set: etcd runs either as a unit or as a static pod.");
        if (detect) {
                r = agent_config_detect(c);
                if (r < 0)
                        return r; /* logged, with the manifest and the reason */
        }
        r = fill_defaults(c);
        if (r < 0)
                return log_oom();
        if (!!c->etcd.cert_file != !!c->etcd.key_file)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "[Etcd] CertFile= and KeyFile= must be given together.");
        return 0;
}

const char *agent_config_key_name(AgentConfigKey k) {
        static char names[_CONFIG_KEY_MAX][64];

        if (k < 0 || k >= _CONFIG_KEY_MAX)
                return NULL;
        /* Built once, from the table: the names cannot drift from the keys. */
        if (!names[k][0])
                snprintf(names[k], sizeof(names[k]), "%s.%s", config_items[k].section, config_items[k].key);
        return names[k];
}

int agent_config_value_string(const AgentConfig *c, AgentConfigKey k, char **ret) {
        const void *data = (const uint8_t *) c + config_items[k].offset;
        const char *s;
        char *v;

        if (item_is_list(k))
                {
                        char **l = *(char ** const *) data;
                        v = l ? strv_join(l, " ") : strdup("");
                }
        else {
                if (config_items[k].parse == parse_scope)
                        s = systemd_scope_to_string(c->scope);
                else if (k == CONFIG_ETCD_UNIT && c->etcd_static_pod)
                        s = NULL; /* kept filled in, but not in force */
                else
                        s = *(char * const *) data;
                v = strdup(strempty(s));
        }
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

bool agent_config_key_is_set(const AgentConfig *c, AgentConfigKey k) {
        return c->sources[k];
}

int agent_config_set_from(AgentConfig *c, AgentConfigKey k, const char *value, const char *source, char **ret_error) {
        void *data = (uint8_t *) c + config_items[k].offset;
        int r;

        /* The same checks as a value in agent.conf gets: it ends up in the same places. */
        if (!utf8_is_printable(value))
                return set_message(ret_error, -EINVAL, "%s=%s would not be text", config_items[k].key, value);
        if (item_is_list(k))
                *(char ***) data = strv_free(*(char ***) data);
        r = config_items[k].parse(value, data);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return set_message(ret_error, -EINVAL, "[%s] %s=%s is not %s", config_items[k].section,
                                   config_items[k].key, value, config_items[k].expected ?: "valid");
        return free_and_strdup(&c->sources[k], source);
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

        r = config_finish(&ctx, /* detect= */ true);
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
                r = config_finish(&ctx, /* detect= */ false);
        if (r < 0) {
                agent_config_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}
