/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Static pod manifests: libyaml's document tree, walked along the few paths the agent reads. */

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "fs-util.h"
#include "static-pod.h"
#include "string-util.h"

typedef struct Walk {
        yaml_document_t *doc;
        char **error;
} Walk;

/* Messages count lines from 1, as editors do; libyaml counts from 0. */
#define LINE(n) ((unsigned long) (n)->start_mark.line + 1)

static int fail(Walk *w, yaml_node_t *n, int r, const char *what) {
        if (n)
                return set_message(w->error, r, "line %lu: %s", LINE(n), what);
        return set_message(w->error, r, "%s", what);
}

static bool node_is_null(const yaml_node_t *n) {
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        /* YAML 1.1's null, as the kubelet's decoder (go-yaml) takes it. */
        static const char * const nulls[] = { "", "~", "null", "Null", "NULL" };
        for (size_t i = 0; i < ELEMENTSOF(nulls); i++)
                if (n->data.scalar.length == strlen(nulls[i]) && memcmp(n->data.scalar.value, nulls[i], n->data.scalar.length) == 0)
                        return true;
        return false;
}

/* A mapping's value for key, NULL if absent or null (Kubernetes treats both alike). */
static yaml_node_t *mapping_get(Walk *w, yaml_node_t *map, const char *key) {
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(w->doc, p->key);

                if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
                    memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0) {
                        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
                        return v && !node_is_null(v) ? v : NULL;
                }
        }
        return NULL;
}

/* A scalar as a C string: refused if it holds a NUL (a "\0" escape), which no path, name or
 * flag has, and which would silently cut the value short. */
static int scalar_dup(Walk *w, yaml_node_t *n, const char *what, char **ret) {
        char *s;

        if (n->type != YAML_SCALAR_NODE) {
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "%s is not a string", what) < 0)
                        return -ENOMEM;
                return fail(w, n, -EBADMSG, m);
        }
        if (memchr(n->data.scalar.value, 0, n->data.scalar.length)) {
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "%s holds a NUL character", what) < 0)
                        return -ENOMEM;
                return fail(w, n, -EBADMSG, m);
        }
        s = strndup((const char *) n->data.scalar.value, n->data.scalar.length);
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int get_string(Walk *w, yaml_node_t *map, const char *key, const char *what, char **ret) {
        yaml_node_t *v = mapping_get(w, map, key);

        return v ? scalar_dup(w, v, what, ret) : 0;
}

static int expect(Walk *w, yaml_node_t *n, yaml_node_type_t type, const char *what) {
        _cleanup_free_ char *m = NULL;

        if (n->type == type)
                return 0;
        if (asprintf(&m, "%s is not %s", what,
                     type == YAML_MAPPING_NODE ? "a mapping" : type == YAML_SEQUENCE_NODE ? "a list" : "a string") < 0)
                return -ENOMEM;
        return fail(w, n, -EBADMSG, m);
}

static size_t sequence_length(const yaml_node_t *n) {
        return (size_t) (n->data.sequence.items.top - n->data.sequence.items.start);
}

static int append_strings(Walk *w, yaml_node_t *seq, const char *what, char ***argv, size_t *n) {
        int r;

        r = expect(w, seq, YAML_SEQUENCE_NODE, what);
        if (r < 0)
                return r;
        if (*n + sequence_length(seq) > STATIC_POD_ARGS_MAX)
                return fail(w, seq, -E2BIG, "the command line is longer than the agent reads");
        for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
                yaml_node_t *item = yaml_document_get_node(w->doc, *i);
                _cleanup_free_ char *s = NULL;

                r = scalar_dup(w, item, what, &s);
                if (r < 0)
                        return r;
                r = strv_extend_counted(argv, n, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_container(Walk *w, yaml_node_t *node, StaticPodContainer *c) {
        yaml_node_t *command, *args, *mounts;
        size_t n = 0;
        int r;

        r = expect(w, node, YAML_MAPPING_NODE, "a container");
        if (r < 0)
                return r;
        r = get_string(w, node, "name", "a container's name", &c->name);
        if (r < 0)
                return r;
        if (!c->name)
                return fail(w, node, -EBADMSG, "a container has no name");

        /* Without a command the image's entrypoint runs, which the manifest does not say. */
        command = mapping_get(w, node, "command");
        if (!command)
                return fail(w, node, -EBADMSG, "a container has no command (the image's entrypoint is not in the manifest)");
        r = append_strings(w, command, "a container's command", &c->argv, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return fail(w, command, -EBADMSG, "a container's command is empty");
        args = mapping_get(w, node, "args");
        if (args) {
                r = append_strings(w, args, "a container's args", &c->argv, &n);
                if (r < 0)
                        return r;
        }

        mounts = mapping_get(w, node, "volumeMounts");
        if (!mounts)
                return 0;
        r = expect(w, mounts, YAML_SEQUENCE_NODE, "volumeMounts");
        if (r < 0)
                return r;
        if (sequence_length(mounts) > STATIC_POD_VOLUMES_MAX)
                return fail(w, mounts, -E2BIG, "more volume mounts than the agent reads");
        c->mounts = new0(StaticPodMount, sequence_length(mounts));
        if (!c->mounts)
                return -ENOMEM;
        for (yaml_node_item_t *i = mounts->data.sequence.items.start; i < mounts->data.sequence.items.top; i++) {
                yaml_node_t *m = yaml_document_get_node(w->doc, *i);
                StaticPodMount *sm = &c->mounts[c->n_mounts++];

                r = expect(w, m, YAML_MAPPING_NODE, "a volume mount");
                if (r < 0)
                        return r;
                if ((r = get_string(w, m, "name", "a volume mount's name", &sm->name)) < 0 ||
                    (r = get_string(w, m, "mountPath", "a mountPath", &sm->mount_path)) < 0)
                        return r;
                if (!sm->name || !sm->mount_path || sm->mount_path[0] != '/')
                        return fail(w, m, -EBADMSG, "a volume mount needs a name and an absolute mountPath");
        }
        return 0;
}

static int parse_volumes(Walk *w, yaml_node_t *spec, StaticPod *p) {
        yaml_node_t *volumes = mapping_get(w, spec, "volumes");
        int r;

        if (!volumes)
                return 0;
        r = expect(w, volumes, YAML_SEQUENCE_NODE, "volumes");
        if (r < 0)
                return r;
        if (sequence_length(volumes) > STATIC_POD_VOLUMES_MAX)
                return fail(w, volumes, -E2BIG, "more volumes than the agent reads");
        p->volumes = new0(StaticPodVolume, sequence_length(volumes));
        if (!p->volumes)
                return -ENOMEM;
        for (yaml_node_item_t *i = volumes->data.sequence.items.start; i < volumes->data.sequence.items.top; i++) {
                yaml_node_t *v = yaml_document_get_node(w->doc, *i), *host;
                StaticPodVolume *sv = &p->volumes[p->n_volumes++];

                r = expect(w, v, YAML_MAPPING_NODE, "a volume");
                if (r < 0)
                        return r;
                r = get_string(w, v, "name", "a volume's name", &sv->name);
                if (r < 0)
                        return r;
                if (!sv->name)
                        return fail(w, v, -EBADMSG, "a volume has no name");
                host = mapping_get(w, v, "hostPath");
                if (!host)
                        continue;
                r = expect(w, host, YAML_MAPPING_NODE, "hostPath");
                if (r < 0)
                        return r;
                r = get_string(w, host, "path", "a hostPath's path", &sv->host_path);
                if (r < 0)
                        return r;
                if (!sv->host_path || sv->host_path[0] != '/')
                        return fail(w, host, -EBADMSG, "a hostPath volume needs an absolute path");
        }
        return 0;
}

static int parse_pod(Walk *w, yaml_node_t *root, StaticPod *p) {
        _cleanup_free_ char *kind = NULL, *network = NULL, *grace = NULL;
        yaml_node_t *metadata, *spec, *containers, *n;
        int r;

        r = expect(w, root, YAML_MAPPING_NODE, "the manifest");
        if (r < 0)
                return r;
        r = get_string(w, root, "kind", "kind", &kind);
        if (r < 0)
                return r;
        if (!streq_ptr(kind, "Pod"))
                return fail(w, root, -EBADMSG, "not a Pod (kind: Pod is missing)");
        metadata = mapping_get(w, root, "metadata");
        if (metadata) {
                r = expect(w, metadata, YAML_MAPPING_NODE, "metadata");
                if (r < 0)
                        return r;
                r = get_string(w, metadata, "name", "the pod's name", &p->name);
                if (r < 0)
                        return r;
        }

        spec = mapping_get(w, root, "spec");
        if (!spec)
                return fail(w, root, -EBADMSG, "the pod has no spec");
        r = expect(w, spec, YAML_MAPPING_NODE, "spec");
        if (r < 0)
                return r;

        if ((n = mapping_get(w, spec, "hostNetwork"))) {
                r = scalar_dup(w, n, "hostNetwork", &network);
                if (r < 0)
                        return r;
                r = parse_boolean(network);
                if (r < 0)
                        return fail(w, n, -EBADMSG, "hostNetwork is not a boolean");
                p->host_network = r;
        }
        p->grace_period_sec = 30;
        if ((n = mapping_get(w, spec, "terminationGracePeriodSeconds"))) {
                r = scalar_dup(w, n, "terminationGracePeriodSeconds", &grace);
                if (r < 0)
                        return r;
                if (safe_atou64(grace, &p->grace_period_sec) < 0)
                        return fail(w, n, -EBADMSG, "terminationGracePeriodSeconds is not a number of seconds");
        }

        containers = mapping_get(w, spec, "containers");
        if (!containers)
                return fail(w, spec, -EBADMSG, "the pod has no containers");
        r = expect(w, containers, YAML_SEQUENCE_NODE, "containers");
        if (r < 0)
                return r;
        if (sequence_length(containers) == 0)
                return fail(w, containers, -EBADMSG, "the pod has no containers");
        if (sequence_length(containers) > STATIC_POD_CONTAINERS_MAX)
                return fail(w, containers, -E2BIG, "more containers than the agent reads");
        p->containers = new0(StaticPodContainer, sequence_length(containers));
        if (!p->containers)
                return -ENOMEM;
        for (yaml_node_item_t *i = containers->data.sequence.items.start; i < containers->data.sequence.items.top; i++) {
                r = parse_container(w, yaml_document_get_node(w->doc, *i), &p->containers[p->n_containers++]);
                if (r < 0)
                        return r;
        }
        return parse_volumes(w, spec, p);
}

int static_pod_parse(const char *text, size_t size, StaticPod *ret, char **ret_error) {
        yaml_parser_t parser;
        yaml_document_t doc;
        StaticPod p = {};
        Walk w = { .doc = &doc, .error = ret_error };
        yaml_node_t *root;
        int r;

        if (size > STATIC_POD_FILE_MAX)
                return set_message(ret_error, -EFBIG, "larger than %u KiB, which no pod manifest is", STATIC_POD_FILE_MAX / 1024);
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, size);
        /* libyaml keeps an alias as a reference to the node it names, so a "billion laughs"
         * file costs no more memory than its own size; the walk below follows only fixed paths
         * and bounded lists, so it costs no more time either. */
        if (!yaml_parser_load(&parser, &doc)) {
                r = parser.error == YAML_MEMORY_ERROR
                            ? -ENOMEM
                            : set_message(ret_error, -EBADMSG, "not YAML: line %lu, column %lu: %s%s%s",
                                          (unsigned long) parser.problem_mark.line + 1,
                                          (unsigned long) parser.problem_mark.column + 1, strna(parser.problem),
                                          parser.context ? " " : "", strempty(parser.context));
                yaml_parser_delete(&parser);
                return r;
        }
        yaml_parser_delete(&parser);

        root = yaml_document_get_root_node(&doc);
        r = root ? parse_pod(&w, root, &p) : set_message(ret_error, -EBADMSG, "empty");
        yaml_document_delete(&doc);
        if (r == -ENOMEM)
                (void) set_message(ret_error, r, "out of memory");
        if (r < 0) {
                static_pod_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

int static_pod_load(int dir_fd, const char *name, StaticPod *ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        fd = open_regular_file_at(dir_fd, name, 0 /* a symlink is followed, as the kubelet does */);
        if (fd == -EBADFD)
                return set_message(ret_error, fd, "not a regular file");
        if (fd < 0)
                return set_message(ret_error, fd, "%s", strerror(-fd));

        /* One byte past the bound tells a file at the bound from a larger one. */
        buf = malloc(STATIC_POD_FILE_MAX + 2);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf + n, STATIC_POD_FILE_MAX + 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return set_message(ret_error, -errno, "%s", strerror(errno));
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > STATIC_POD_FILE_MAX)
                        return set_message(ret_error, -EFBIG, "larger than %u KiB, which no pod manifest is",
                                           STATIC_POD_FILE_MAX / 1024);
        }
        buf[n] = 0;
        return static_pod_parse(buf, n, ret, ret_error);
}

void static_pod_done(StaticPod *p) {
        for (size_t i = 0; i < p->n_containers; i++) {
                StaticPodContainer *c = &p->containers[i];
                free(c->name);
                strv_free(c->argv);
                for (size_t j = 0; j < c->n_mounts; j++) {
                        free(c->mounts[j].name);
                        free(c->mounts[j].mount_path);
                }
                free(c->mounts);
        }
        free(p->containers);
        for (size_t i = 0; i < p->n_volumes; i++) {
                free(p->volumes[i].name);
                free(p->volumes[i].host_path);
        }
        free(p->volumes);
        free(p->name);
        *p = (StaticPod) {};
}

const StaticPodContainer *static_pod_find_container(const StaticPod *p, const char *name) {
        for (size_t i = 0; i < p->n_containers; i++)
                if (streq(p->containers[i].name, name))
                        return &p->containers[i];
        return p->n_containers == 1 ? &p->containers[0] : NULL;
}

const char *static_pod_flag(char * const *argv, const char *flag) {
        const char *found = NULL;

        if (!argv || !argv[0])
                return NULL;
        /* argv[0] is the program; "--" ends the flags, as in Go's flag package. */
        for (char * const *a = argv + 1; *a; a++) {
                const char *s = *a, *v;

                if (streq(s, "--"))
                        break;
                s = startswith(s, "--") ?: startswith(s, "-");
                if (!s)
                        continue;
                v = startswith(s, flag);
                if (!v)
                        continue;
                if (*v == '=')
                        found = v + 1;
                else if (*v == 0) {
                        /* "--flag value", unless the next word is a flag itself (then this is a
                         * boolean given alone). */
                        if (a[1] && a[1][0] != '-') {
                                found = a[1];
                                a++;
                        } else
                                found = "";
                }
        }
        return found;
}

int static_pod_host_path(const StaticPod *p, const StaticPodContainer *c, const char *path, char **ret) {
        const StaticPodMount *best = NULL;
        size_t best_len = 0;
        const char *rest;
        char *s;

        for (size_t i = 0; i < c->n_mounts; i++) {
                const char *mp = c->mounts[i].mount_path;
                size_t n = strlen(mp);

                while (n > 1 && mp[n - 1] == '/')
                        n--;
                if (strncmp(path, mp, n) != 0 || !(path[n] == '/' || path[n] == 0 || n == 1))
                        continue;
                if (!best || n > best_len) {
                        best = &c->mounts[i];
                        best_len = n;
                }
        }
        if (!best)
                return -ENOENT;
        for (size_t i = 0; i < p->n_volumes; i++) {
                if (!streq(p->volumes[i].name, best->name))
                        continue;
                if (!p->volumes[i].host_path)
                        return -EREMOTE;
                rest = path + (best_len == 1 ? 0 : best_len);
                while (*rest == '/')
                        rest++;
                if (asprintf(&s, "%s%s%s", p->volumes[i].host_path,
                             *rest && !endswith(p->volumes[i].host_path, "/") ? "/" : "", rest) < 0)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        return -EREMOTE; /* a mount of a volume the pod does not have: the kubelet would not run it */
}

bool static_pod_name_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 253 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n && s[0] != '.' &&
               s[0] != '-' && !strstr(s, "..");
}
