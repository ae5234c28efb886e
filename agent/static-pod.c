/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Static pod manifests: libyaml's document tree, walked along the few paths the agent reads;
 * and flags set in a container's command line by splicing the text where libyaml marks the
 * items, so that the rest of the file stays byte for byte as it was. */

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

int static_pod_read_fd(int fd, char **ret_text, size_t *ret_size, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

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
        *ret_text = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

int static_pod_load(int dir_fd, const char *name, StaticPod *ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n;
        int r;

        fd = open_regular_file_at(dir_fd, name, 0 /* a symlink is followed, as the kubelet does */);
        if (fd == -EBADFD)
                return set_message(ret_error, fd, "not a regular file");
        if (fd < 0)
                return set_message(ret_error, fd, "%s", strerror(-fd));
        r = static_pod_read_fd(fd, &buf, &n, ret_error);
        if (r < 0)
                return r;
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

/* ---- setting flags: edits of the text at the byte ranges libyaml marks ---------------------- */

static bool ascii_isdigit(char c) {
        return c >= '0' && c <= '9';
}

static bool ascii_isalpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_isalnum(char c) {
        return ascii_isalpha(c) || ascii_isdigit(c);
}

typedef struct Splice {
        size_t begin, end; /* the bytes of the original text replaced (begin == end: an insertion) */
        char *text;
} Splice;

typedef struct Edit {
        const char *text;
        size_t size;
        size_t base; /* bytes before libyaml's first character: a UTF-8 byte order mark */
        char **error;
        Splice *splices;
        size_t n_splices;
        bool crlf;
        size_t last_index, last_offset; /* the last mark converted, and its byte */
} Edit;

static void edit_done(Edit *e) {
        for (size_t i = 0; i < e->n_splices; i++)
                free(e->splices[i].text);
        free(e->splices);
}

static int edit_add(Edit *e, size_t begin, size_t end, char *text) {
        Splice *s;

        if (!text)
                return -ENOMEM;
        s = reallocarray(e->splices, e->n_splices + 1, sizeof(Splice));
        if (!s) {
                free(text);
                return -ENOMEM;
        }
        e->splices = s;
        e->splices[e->n_splices++] = (Splice) { begin, end, text };
        return 0;
}

_printf_(3, 4) static int edit_refuse(Edit *e, const yaml_node_t *n, const char *format, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;
        int k;

        va_start(ap, format);
        k = vasprintf(&m, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if (n)
                return set_message(e->error, -EOPNOTSUPP, "line %lu: %s", LINE(n), m);
        return set_message(e->error, -EOPNOTSUPP, "%s", m);
}

/* libyaml's marks count characters (the byte order mark not included), not bytes. The text is
 * UTF-8: libyaml has checked that already. */
static int mark_to_offset(Edit *e, size_t index, size_t *ret) {
        size_t o = e->base, i = 0;

        /* Items come mostly in order: on from the last one asked for, not from the start. */
        if (index >= e->last_index) {
                i = e->last_index;
                o = e->last_offset;
        }
        for (; i < index; i++) {
                unsigned char c;

                if (o >= e->size)
                        return -EBADMSG;
                c = (unsigned char) e->text[o];
                o += c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        }
        if (o > e->size)
                return -EBADMSG;
        e->last_index = index;
        e->last_offset = o;
        *ret = o;
        return 0;
}

/*
 * The bytes of a command line item, checked to be exactly the scalar and nothing around it: a
 * plain one is its value byte for byte, a quoted one is in its quotes, and none spans lines. What
 * is not so (an anchor or a tag before it, a literal or folded block, a plain scalar folded over
 * lines) is refused: replacing those bytes could change more than the item.
 */
static int item_range(Edit *e, const yaml_node_t *n, size_t *ret_begin, size_t *ret_end) {
        const yaml_scalar_style_t style = n->data.scalar.style;
        size_t b, end;
        char q;

        if (n->type != YAML_SCALAR_NODE)
                return edit_refuse(e, n, "an item of the command line is not a string");
        if (mark_to_offset(e, n->start_mark.index, &b) < 0 || mark_to_offset(e, n->end_mark.index, &end) < 0 || end <= b)
                return edit_refuse(e, n, "an item of the command line has no place in the text");
        if (!IN_SET(style, YAML_PLAIN_SCALAR_STYLE, YAML_SINGLE_QUOTED_SCALAR_STYLE, YAML_DOUBLE_QUOTED_SCALAR_STYLE))
                return edit_refuse(e, n, "an item of the command line is a literal or folded block");
        if (memchr(e->text + b, '\n', end - b) || memchr(e->text + b, '\r', end - b))
                return edit_refuse(e, n, "an item of the command line spans lines");
        if (style == YAML_PLAIN_SCALAR_STYLE) {
                if (end - b != n->data.scalar.length || memcmp(e->text + b, n->data.scalar.value, end - b) != 0)
                        return edit_refuse(e, n, "an item of the command line has an anchor or a tag");
        } else {
                q = style == YAML_SINGLE_QUOTED_SCALAR_STYLE ? '\'' : '"';
                if (end - b < 2 || e->text[b] != q || e->text[end - 1] != q)
                        return edit_refuse(e, n, "an item of the command line has an anchor or a tag");
        }
        *ret_begin = b;
        *ret_end = end;
        return 0;
}

/* Whether s reads back as the same string when written as a plain scalar, in a block or a flow
 * sequence (YAML 1.1 as libyaml and go-yaml read it). Deliberately narrow: the characters of
 * flags, URLs and paths, nothing that starts as an indicator, a number, a boolean or null. */
static bool plain_is_safe(const char *s, bool flow) {
        static const char * const words[] = { "y", "n", "yes", "no", "on", "off", "true", "false", "null" };
        size_t n = strlen(s);

        if (n == 0)
                return false;
        for (const char *c = s; *c; c++)
                if (!(ascii_isalnum(*c) || strchr("-_./=@+%~", *c) || (!flow && strchr(":,", *c))))
                        return false;
        if (!(ascii_isalpha(s[0]) || s[0] == '/' || (s[0] == '-' && n > 1 && !ascii_isdigit(s[1]) && s[1] != '.')))
                return false;
        if (s[n - 1] == ':')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strcasecmp(s, words[i]) == 0)
                        return false;
        return true;
}

/* s as a scalar in the style of the item it replaces or follows, where that style can hold it;
 * else double-quoted, with only the escapes JSON has too (a JSON manifest stays JSON). */
static char *scalar_format(const char *s, yaml_scalar_style_t like, bool flow) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        bool single;

        if (like == YAML_PLAIN_SCALAR_STYLE && plain_is_safe(s, flow))
                return strdup(s);
        /* U+2028, U+2029 break lines in YAML 1.1; U+FEFF is not printable there. */
        single = like == YAML_SINGLE_QUOTED_SCALAR_STYLE && utf8_is_printable(s) && !strstr(s, "\xe2\x80\xa8") &&
                 !strstr(s, "\xe2\x80\xa9") && !strstr(s, "\xef\xbb\xbf");
        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fputc(single ? '\'' : '"', f);
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                if (single) {
                        fputs(*c == '\'' ? "''" : (char[]) { (char) *c, 0 }, f);
                        continue;
                }
                if (*c == '"' || *c == '\\')
                        fprintf(f, "\\%c", *c);
                else if (*c == '\n')
                        fputs("\\n", f);
                else if (*c == '\t')
                        fputs("\\t", f);
                else if (*c < 0x20 || *c == 0x7f)
                        fprintf(f, "\\u%04x", *c);
                else if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
                        fprintf(f, "\\u%04x", c[1]);
                        c++;
                } else if (c[0] == 0xe2 && c[1] == 0x80 && (c[2] == 0xa8 || c[2] == 0xa9)) {
                        fprintf(f, "\\u%04x", c[2] == 0xa8 ? 0x2028 : 0x2029);
                        c += 2;
                } else if (c[0] == 0xef && c[1] == 0xbb && c[2] == 0xbf) {
                        fputs("\\ufeff", f);
                        c += 2;
                } else
                        fputc(*c, f);
        }
        fputc(single ? '\'' : '"', f);
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(buf);
}

/* A mapping's value for key, refused if the key is there twice: which one a decoder takes is
 * its own choice, and the edit must be of the one that counts. */
static int mapping_get_unique(Walk *w, Edit *e, yaml_node_t *map, const char *key, yaml_node_t **ret) {
        unsigned count = 0;

        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(w->doc, p->key);

                if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
                    memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
                        count++;
        }
        if (count > 1)
                return edit_refuse(e, map, "%s is there twice", key);
        *ret = mapping_get(w, map, key);
        return 0;
}

static bool text_at(const Edit *e, size_t p, const char *s) {
        size_t n = strlen(s);

        return p + n <= e->size && memcmp(e->text + p, s, n) == 0;
}

/*
 * Where a new last item of a block sequence goes: on a line of its own after the line of the
 * last item, as "<its indentation>- ". That line must be just "<spaces>-<spaces>item", perhaps
 * with a comment after it (not "- - x", not an item on the line after its dash).
 */
static int block_append(Edit *e, const yaml_node_t *last, size_t begin, size_t end, char * const *items, size_t n_items) {
        _cleanup_free_ char *buf = NULL;
        size_t ls = begin, p = end, insert, k, size = 0;
        const char *eol;
        bool eol_before = false;
        FILE *f;

        while (ls > 0 && e->text[ls - 1] != '\n')
                ls--;
        k = ls;
        while (k < begin && e->text[k] == ' ')
                k++;
        if (k >= begin || e->text[k] != '-' || k + 1 >= begin)
                return edit_refuse(e, last, "the last item of command is not on a line of its own as \"- item\"");
        for (k++; k < begin; k++)
                if (e->text[k] != ' ')
                        return edit_refuse(e, last, "the last item of command is not on a line of its own as \"- item\"");

        while (p < e->size && IN_SET(e->text[p], ' ', '\t'))
                p++;
        if (p < e->size && e->text[p] == '#' && p > end)
                /* To the end of the comment: "\n", or the other line breaks YAML 1.1 has, which
                 * this does not write (a lone CR, NEL, LS, PS): refused below. */
                while (p < e->size && !text_at(e, p, "\n") && !text_at(e, p, "\r") && !text_at(e, p, "\xc2\x85") &&
                       !text_at(e, p, "\xe2\x80\xa8") && !text_at(e, p, "\xe2\x80\xa9"))
                        p++;
        if (p >= e->size) {
                insert = e->size;
                eol = e->crlf ? "\r\n" : "\n";
                eol_before = true;
        } else if (text_at(e, p, "\r\n")) {
                insert = p + 2;
                eol = "\r\n";
        } else if (e->text[p] == '\n') {
                insert = p + 1;
                eol = "\n";
        } else
                return edit_refuse(e, last, "something follows the last item of command on its line");

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n_items; i++)
                fprintf(f, "%s%.*s%s%s", eol_before ? eol : "", (int) (begin - ls), e->text + ls, items[i],
                        eol_before ? "" : eol);
        if (fclose(f) != 0)
                return -ENOMEM;
        return edit_add(e, insert, insert, TAKE_PTR(buf));
}

static int flow_append(Edit *e, size_t end, char * const *items, size_t n_items) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        /* Right after the last item, before any comment or the "]": "[a, b]" becomes "[a, b, c]". */
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n_items; i++)
                fprintf(f, ", %s", items[i]);
        if (fclose(f) != 0)
                return -ENOMEM;
        return edit_add(e, end, end, TAKE_PTR(buf));
}

static int splice_compare(const void *a, const void *b) {
        const Splice *x = a, *y = b;

        if (x->begin != y->begin)
                return x->begin < y->begin ? -1 : 1;
        return x->end < y->end ? -1 : x->end > y->end;
}

static bool strv_equal(char * const *a, char * const *b) {
        for (; *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return !*a && !*b;
}

/* The edited pod is the original one but for the command line of container ci. */
static bool pod_is_edit_of(const StaticPod *o, const StaticPod *n, size_t ci, char * const *argv) {
        if (!streq_ptr(o->name, n->name) || o->host_network != n->host_network ||
            o->grace_period_sec != n->grace_period_sec || o->n_containers != n->n_containers ||
            o->n_volumes != n->n_volumes)
                return false;
        for (size_t i = 0; i < o->n_containers; i++) {
                const StaticPodContainer *a = &o->containers[i], *b = &n->containers[i];

                if (!streq(a->name, b->name) || !strv_equal(i == ci ? argv : a->argv, b->argv) || a->n_mounts != b->n_mounts)
                        return false;
                for (size_t j = 0; j < a->n_mounts; j++)
                        if (!streq(a->mounts[j].name, b->mounts[j].name) || !streq(a->mounts[j].mount_path, b->mounts[j].mount_path))
                                return false;
        }
        for (size_t i = 0; i < o->n_volumes; i++)
                if (!streq(o->volumes[i].name, n->volumes[i].name) || !streq_ptr(o->volumes[i].host_path, n->volumes[i].host_path))
                        return false;
        return true;
}

/* "--NAME=VALUE": NAME as Go's flag package takes it from "--NAME" (no "=", no leading "-"). */
static int flag_split(const char *flag, const char **ret_name, size_t *ret_len, const char **ret_value) {
        const char *name = startswith(flag, "--"), *eq;

        if (!name || !(eq = strchr(name, '=')) || eq == name || name[0] == '-' || !utf8_is_valid(flag))
                return -EINVAL;
        for (const char *c = name; c < eq; c++)
                if (!(ascii_isalnum(*c) || strchr("-_.", *c)))
                        return -EINVAL;
        *ret_name = name;
        *ret_len = (size_t) (eq - name);
        *ret_value = eq + 1;
        return 0;
}

/* Whether item s is flag name: "--name" or "-name", then "=" or its end (static_pod_flag()). */
static const char *item_is_flag(const char *s, const char *name, size_t len) {
        s = startswith(s, "--") ?: startswith(s, "-");
        if (!s || strncmp(s, name, len) != 0 || !IN_SET(s[len], '=', 0))
                return NULL;
        return s + len;
}

static int set_flags(Edit *e, const StaticPod *pod, size_t ci, yaml_document_t *doc, char * const *flags, char ***ret_argv) {
        Walk w = { .doc = doc, .error = e->error };
        const StaticPodContainer *c = &pod->containers[ci];
        yaml_node_t *root, *spec, *containers, *node, *command, *args = NULL;
        _cleanup_free_ yaml_node_t **items = NULL;
        _cleanup_strv_free_ char **argv = NULL, **append = NULL;
        size_t n_command, n, n_append = 0, dashdash = SIZE_MAX, n_argv = 0;
        int r;

        /* static_pod_parse() has checked the types along this path already. */
        root = yaml_document_get_root_node(doc);
        if ((r = mapping_get_unique(&w, e, root, "spec", &spec)) < 0 ||
            (r = mapping_get_unique(&w, e, spec, "containers", &containers)) < 0)
                return r;
        node = yaml_document_get_node(doc, containers->data.sequence.items.start[ci]);
        if ((r = mapping_get_unique(&w, e, node, "command", &command)) < 0 ||
            (r = mapping_get_unique(&w, e, node, "args", &args)) < 0)
                return r;
        n_command = sequence_length(command);
        n = n_command + (args ? sequence_length(args) : 0);
        if (n != strv_length(c->argv))
                return edit_refuse(e, node, "the command line is not where it was read");
        items = new0(yaml_node_t *, n);
        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                items[i] = yaml_document_get_node(doc, i < n_command ? command->data.sequence.items.start[i]
                                                                   : args->data.sequence.items.start[i - n_command]);
        for (size_t i = 0; i < n; i++)
                if ((r = strv_extend_counted(&argv, &n_argv, c->argv[i])) < 0)
                        return r;
        for (size_t i = 1; i < n; i++)
                if (streq(c->argv[i], "--")) {
                        dashdash = i;
                        break;
                }

        STRV_FOREACH(flag, (char **) flags) {
                const char *name, *value;
                size_t len;
                bool found = false;

                (void) flag_split(*flag, &name, &len, &value);
                /* As static_pod_flag() reads the command line: "--" ends the flags, and the value
                 * of a two-item flag is not a flag itself. */
                for (size_t i = 1; i < n && i < dashdash; i++) {
                        const char *rest = item_is_flag(c->argv[i], name, len);
                        size_t target = i, begin, end;
                        const char *new;
                        yaml_node_t *seq;

                        if (!rest)
                                continue;
                        found = true;
                        new = *flag;
                        if (*rest == 0 && i + 1 < n && i + 1 < dashdash && c->argv[i + 1][0] != '-') {
                                /* "--NAME" "V": the value item alone changes, unless the new value
                                 * would read as a flag or as nothing there. */
                                if (isempty(value) || value[0] == '-')
                                        return edit_refuse(e, items[i], "--%.*s is given as two items, and \"%s\" cannot be its second",
                                                           (int) len, name, value);
                                target = ++i;
                                new = value;
                        }
                        r = item_range(e, items[target], &begin, &end);
                        if (r < 0)
                                return r;
                        seq = target < n_command ? command : args;
                        r = edit_add(e, begin, end,
                                     scalar_format(new, items[target]->data.scalar.style,
                                                   seq->data.sequence.style == YAML_FLOW_SEQUENCE_STYLE));
                        if (r < 0)
                                return r;
                        char *copy = strdup(new);
                        if (!copy)
                                return -ENOMEM;
                        free(argv[target]);
                        argv[target] = copy;
                }
                if (!found && (r = strv_extend_counted(&append, &n_append, *flag)) < 0)
                        return r;
        }

        if (n_append > 0) {
                yaml_node_t *last = items[n_command - 1];
                bool flow = command->data.sequence.style == YAML_FLOW_SEQUENCE_STYLE;
                _cleanup_strv_free_ char **formatted = NULL;
                size_t begin, end, n_formatted = 0;

                if (dashdash < n_command)
                        return edit_refuse(e, items[dashdash], "command has a \"--\": a flag after it would be an argument");
                /* Nor between a flag at the end of command and its value at the start of args. */
                if (n > n_command && n_command > 1 && argv[n_command - 1][0] == '-' && !strchr(argv[n_command - 1], '=') &&
                    argv[n_command][0] != '-' && n_command < dashdash)
                        return edit_refuse(e, last, "command ends in %s, whose value is the first of args: no place for a flag",
                                           argv[n_command - 1]);
                r = item_range(e, last, &begin, &end);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n_append; i++) {
                        _cleanup_free_ char *s = scalar_format(append[i], last->data.scalar.style, flow);

                        if (!s)
                                return -ENOMEM;
                        if ((r = strv_extend_counted(&formatted, &n_formatted, s)) < 0)
                                return r;
                }
                r = flow ? flow_append(e, end, formatted, n_formatted) : block_append(e, last, begin, end, formatted, n_formatted);
                if (r < 0)
                        return r;
                /* The command line to expect: the new flags after command's last item. */
                _cleanup_strv_free_ char **expected = NULL;
                size_t n_expected = 0;
                for (size_t i = 0; i < n; i++) {
                        if (i == n_command)
                                for (size_t j = 0; j < n_append; j++)
                                        if ((r = strv_extend_counted(&expected, &n_expected, append[j])) < 0)
                                                return r;
                        if ((r = strv_extend_counted(&expected, &n_expected, argv[i])) < 0)
                                return r;
                }
                if (n == n_command)
                        for (size_t j = 0; j < n_append; j++)
                                if ((r = strv_extend_counted(&expected, &n_expected, append[j])) < 0)
                                        return r;
                strv_free(argv);
                argv = TAKE_PTR(expected);
        }
        *ret_argv = TAKE_PTR(argv);
        return 0;
}

int static_pod_set_flags(const char *text, size_t size, const char *container, char * const *flags, char **ret_text,
                         size_t *ret_size, char **ret_error) {
        _cleanup_(static_pod_done) StaticPod pod = {}, edited = {};
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *out = NULL, *why = NULL;
        Edit e = { .text = text, .size = size, .error = ret_error };
        const StaticPodContainer *c;
        yaml_parser_t parser;
        yaml_document_t doc;
        size_t n_flags = 0, o = 0, out_size;
        int r;

        STRV_FOREACH(f, (char **) flags) {
                const char *name, *value;
                size_t len;

                if (flag_split(*f, &name, &len, &value) < 0)
                        return set_message(ret_error, -EINVAL, "\"%s\" is not --NAME=VALUE (in UTF-8)", *f);
                for (char * const *g = flags; g < f; g++)
                        if (strncmp(*g + 2, name, len) == 0 && (*g)[2 + len] == '=')
                                return set_message(ret_error, -EINVAL, "--%.*s is given twice", (int) len, name);
                if (++n_flags > STATIC_POD_ARGS_MAX)
                        return set_message(ret_error, -E2BIG, "more flags than a command line has");
        }
        if (size >= 2 && ((text[0] == '\xfe' && text[1] == '\xff') || (text[0] == '\xff' && text[1] == '\xfe')))
                return set_message(ret_error, -EOPNOTSUPP, "in UTF-16, which this does not edit");
        if (size >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                e.base = 3;
        e.last_offset = e.base;
        e.crlf = memmem(text, size, "\r\n", 2);

        r = static_pod_parse(text, size, &pod, ret_error);
        if (r < 0)
                return r;
        /* Strictly the one named: an edit of another container's command line would be no
         * less valid YAML, but wrong. */
        c = NULL;
        for (size_t i = 0; i < pod.n_containers; i++)
                if (container ? streq(pod.containers[i].name, container) : pod.n_containers == 1)
                        c = &pod.containers[i];
        if (!c)
                return container ? set_message(ret_error, -ENOENT, "the pod has no container called %s", container)
                                 : set_message(ret_error, -ENOENT, "the pod has several containers, and none was named");

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, size);
        if (!yaml_parser_load(&parser, &doc)) {
                yaml_parser_delete(&parser);
                return -ENOMEM; /* it parsed a moment ago */
        }
        yaml_parser_delete(&parser);
        r = set_flags(&e, &pod, (size_t) (c - pod.containers), &doc, flags, &argv);
        yaml_document_delete(&doc);
        if (r < 0)
                goto finish;

        /* Two edits of the same bytes: two items that are one node (an alias). */
        if (e.n_splices > 1)
                qsort(e.splices, e.n_splices, sizeof(Splice), splice_compare);
        out_size = size;
        for (size_t i = 0; i < e.n_splices; i++) {
                if (i > 0 && e.splices[i].begin < e.splices[i - 1].end) {
                        r = edit_refuse(&e, NULL, "two items of the command line are one (an alias)");
                        goto finish;
                }
                out_size += strlen(e.splices[i].text) - (e.splices[i].end - e.splices[i].begin);
        }
        out = malloc(out_size + 1);
        if (!out) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0, at = 0; i <= e.n_splices; i++) {
                size_t until = i < e.n_splices ? e.splices[i].begin : size;

                memcpy(out + o, text + at, until - at);
                o += until - at;
                if (i == e.n_splices)
                        break;
                memcpy(out + o, e.splices[i].text, strlen(e.splices[i].text));
                o += strlen(e.splices[i].text);
                at = e.splices[i].end;
        }
        out[o] = 0;

        /* Read back, the edit must be exactly the one intended: what an alias, an anchor or a
         * quirk of the layout would make of it otherwise is refused, never written. */
        r = static_pod_parse(out, o, &edited, &why);
        if (r < 0) {
                r = edit_refuse(&e, NULL, "the edited manifest would not read back: %s", strna(why));
                goto finish;
        }
        if (!pod_is_edit_of(&pod, &edited, (size_t) (c - pod.containers), argv)) {
                r = edit_refuse(&e, NULL, "the edited manifest would not read back as intended (an anchor or an alias?)");
                goto finish;
        }
        r = o != size || memcmp(out, text, size) != 0;
        *ret_text = TAKE_PTR(out);
        *ret_size = o;
finish:
        edit_done(&e);
        if (r == -ENOMEM)
                (void) set_message(ret_error, r, "out of memory");
        return r;
}
