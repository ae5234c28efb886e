/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Static-pod nodes: the [Etcd] keys agent.conf leaves unset, from etcd's manifest. */

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <unistd.h>

#include "detect.h"
#include "log.h"
#include "static-pod.h"
#include "string-util.h"

static char *detection_error;

const char *agent_config_detection_error(void) {
        return detection_error;
}

typedef struct Detect {
        AgentConfig *config;
        int dir_fd;
        char *path; /* of the manifest being read: the source of what comes from it */
        StaticPod pod;
        const StaticPodContainer *container;
        char *error;
} Detect;

static void detect_done(Detect *d) {
        safe_close(d->dir_fd);
        free(d->path);
        static_pod_done(&d->pod);
        free(d->error);
}

/* POD.yaml, or where a restore moved it while the pod is stopped (STATIC_POD_HIDDEN_FORMAT):
 * an agent started again in the middle of a restore must still know the node to finish it. */
static bool manifest_name(int dir_fd, const char *pod, char *name, size_t size) {
        snprintf(name, size, "%s.yaml", pod);
        if (faccessat(dir_fd, name, F_OK, 0) >= 0)
                return true;
        snprintf(name, size, "." STATIC_POD_HIDDEN_FORMAT, pod);
        if (faccessat(dir_fd, name, F_OK, 0) >= 0)
                return true;
        snprintf(name, size, "%s.yaml", pod);
        return false;
}

static bool manifest_exists(int dir_fd, const char *pod) {
        char name[300];

        return manifest_name(dir_fd, pod, name, sizeof(name));
}

static int set(Detect *d, AgentConfigKey k, const char *value, const char *source) {
        return agent_config_set_from(d->config, k, value, source ?: d->path, &d->error);
}

/* The URL of a list of etcd's that the host reaches on its loopback: a loopback one, or a
 * wildcard one (0.0.0.0, [::]: every address, loopback too) with the loopback address. */
static int loopback_url(const char *list, char **ret) {
        for (const char *p = list; p && *p;) {
                size_t n = strcspn(p, ",");
                _cleanup_free_ char *url = strndup(p, n);
                const char *host;
                char *end;

                p += n + (p[n] == ',');
                if (!url)
                        return -ENOMEM;
                host = startswith(url, "https://") ?: startswith(url, "http://");
                if (!host)
                        continue; /* unix:// and the like: not for a gRPC client over TCP */
                end = (char *) host + strcspn(host, "/");
                if (*end == '/' && end[1] == 0)
                        *end = 0; /* "https://127.0.0.1:2379/" as etcd allows it */
                if (startswith(host, "127.") || startswith(host, "localhost") || startswith(host, "[::1]"))
                        return (*ret = TAKE_PTR(url)) ? 0 : -ENOMEM;
                if (startswith(host, "0.0.0.0") || startswith(host, "[::]")) {
                        bool v6 = host[0] == '[';
                        if (asprintf(ret, "%.*s%s%s", (int) (host - url), url, v6 ? "[::1]" : "127.0.0.1",
                                     host + (v6 ? 4 : 7)) < 0)
                                return -ENOMEM;
                        return 0;
                }
        }
        return -ENOENT;
}

/* A path etcd's container names, as the host sees it. */
static int host_path(Detect *d, const char *flag, const char *path, char **ret) {
        int r = static_pod_host_path(&d->pod, d->container, path, ret);

        if (r == -ENOENT || r == -EREMOTE)
                return set_message(&d->error, -EBADMSG, "--%s=%s is not on a hostPath volume of the pod, so not on the host", flag,
                                   path);
        return r;
}

static int detect_endpoint(Detect *d) {
        const char *listen = static_pod_flag(d->container->argv, "listen-client-urls");
        const char *advertise = static_pod_flag(d->container->argv, "advertise-client-urls");
        _cleanup_free_ char *url = NULL;
        int r;

        /* Without the host's network the pod's loopback is its own, not the host's. */
        if (!d->pod.host_network)
                return set_message(&d->error, -EBADMSG,
                                   "the pod is not hostNetwork: true, so its loopback URL is not the host's");
        /* etcd's default when the flag is absent. */
        r = loopback_url(listen ?: "http://localhost:2379", &url);
        if (r == -ENOENT)
                r = loopback_url(advertise, &url);
        if (r == -ENOENT)
                return set_message(&d->error, -EBADMSG, "no loopback URL in --listen-client-urls=%s or --advertise-client-urls=%s",
                                   strna(listen), strna(advertise));
        if (r < 0)
                return r;
        return set(d, CONFIG_ETCD_ENDPOINT, url, NULL);
}

static int detect_tls(Detect *d) {
        AgentConfig *c = d->config;
        const char *ca = static_pod_flag(d->container->argv, "trusted-ca-file");
        const char *auth = static_pod_flag(d->container->argv, "client-cert-auth");
        _cleanup_free_ char *host_ca = NULL, *dir = NULL, *cert = NULL, *key = NULL, *source = NULL;
        int r;

        if (!ca)
                return 0; /* no client CA: nothing to verify clients with, nor to pick a client certificate by */
        r = host_path(d, "trusted-ca-file", ca, &host_ca);
        if (r < 0)
                return r;
        /* The CA that signs etcd's client certificates. kubeadm signs etcd's server certificate
         * with the same one (pki/etcd/ca.crt): it is what the agent verifies the server with. */
        if (!agent_config_key_is_set(c, CONFIG_ETCD_TRUSTED_CA_FILE)) {
                r = set(d, CONFIG_ETCD_TRUSTED_CA_FILE, host_ca, NULL);
                if (r < 0)
                        return r;
        }

        if (!auth || parse_boolean(auth[0] ? auth : "true") <= 0)
                return 0; /* etcd asks no client for a certificate */
        if (agent_config_key_is_set(c, CONFIG_ETCD_CERT_FILE) || agent_config_key_is_set(c, CONFIG_ETCD_KEY_FILE))
                return 0; /* both or neither: config_finish() says so */

        /* kubeadm's healthcheck-client pair, beside the CA: a client certificate (CN
         * kube-etcd-healthcheck-client) signed by etcd's CA for exactly this, a client that only
         * reads etcd's health and takes snapshots. Not etcd's own server or peer key, and not
         * the apiserver's client key (in /etc/kubernetes/pki, with its own uses). */
        dir = strdup(host_ca);
        if (!dir)
                return -ENOMEM;
        if (asprintf(&cert, "%s/healthcheck-client.crt", dirname(dir)) < 0 ||
            asprintf(&key, "%s/healthcheck-client.key", dir) < 0 ||
            asprintf(&source, "%s, healthcheck-client beside --trusted-ca-file", d->path) < 0)
                return -ENOMEM;
        if (access(cert, F_OK) < 0 || access(key, F_OK) < 0)
                return set_message(&d->error, -EBADMSG,
                                   "etcd wants client certificates (--client-cert-auth), and kubeadm's healthcheck-client "
                                   "pair is not beside its CA (%s, %s): set [Etcd] CertFile= and KeyFile=",
                                   cert, key);
        r = set(d, CONFIG_ETCD_CERT_FILE, cert, source);
        if (r >= 0)
                r = set(d, CONFIG_ETCD_KEY_FILE, key, source);
        return r;
}

static int detect_data_dir(Detect *d) {
        const char *dir = static_pod_flag(d->container->argv, "data-dir");
        _cleanup_free_ char *host = NULL;
        int r;

        /* etcd's default is NAME.etcd in its working directory, which the manifest does not say. */
        if (isempty(dir))
                return set_message(&d->error, -EBADMSG, "no --data-dir in etcd's command");
        if (dir[0] != '/')
                return set_message(&d->error, -EBADMSG, "--data-dir=%s is not an absolute path", dir);
        r = host_path(d, "data-dir", dir, &host);
        if (r < 0)
                return r;
        return set(d, CONFIG_ETCD_DATA_DIR, host, NULL);
}

/* A flag's value, else etcd's default (NULL: leave it to the agent's, which is etcd's). */
static int detect_flag(Detect *d, AgentConfigKey k, const char *flag, const char *etcd_default) {
        const char *v = static_pod_flag(d->container->argv, flag);
        _cleanup_free_ char *source = NULL;

        if (agent_config_key_is_set(d->config, k))
                return 0;
        if (isempty(v)) {
                if (!etcd_default)
                        return 0;
                if (asprintf(&source, "%s, etcd's default (no --%s)", d->path, flag) < 0)
                        return -ENOMEM;
                return set(d, k, etcd_default, source);
        }
        return set(d, k, v, NULL);
}

static int detect_etcd(Detect *d) {
        AgentConfig *c = d->config;
        char name[300];
        int r;

        (void) manifest_name(d->dir_fd, c->etcd_static_pod, name, sizeof(name));
        if (asprintf(&d->path, "%s/%s", c->manifest_directory ?: MANIFEST_DIRECTORY_DEFAULT, name) < 0)
                return -ENOMEM;
        r = static_pod_load(d->dir_fd, name, &d->pod, &d->error);
        if (r < 0)
                return r;
        d->container = static_pod_find_container(&d->pod, "etcd");
        if (!d->container)
                return set_message(&d->error, -EBADMSG, "no container named etcd, and more than one container");
        if (static_pod_flag(d->container->argv, "config-file"))
                return set_message(&d->error, -EBADMSG,
                                   "etcd reads its settings from --config-file, which the agent does not read: set the [Etcd] keys in agent.conf");

        if (!agent_config_key_is_set(c, CONFIG_ETCD_ENDPOINT) && (r = detect_endpoint(d)) < 0)
                return r;
        if ((r = detect_tls(d)) < 0)
                return r;
        if (!agent_config_key_is_set(c, CONFIG_ETCD_DATA_DIR) && (r = detect_data_dir(d)) < 0)
                return r;
        if ((r = detect_flag(d, CONFIG_ETCD_NAME, "name", "default")) < 0 ||
            (r = detect_flag(d, CONFIG_ETCD_INITIAL_ADVERTISE_PEER_URLS, "initial-advertise-peer-urls", "http://localhost:2380")) < 0 ||
            /* etcd's default initial cluster (NAME=each peer URL) and token are the agent's. */
            (r = detect_flag(d, CONFIG_ETCD_INITIAL_CLUSTER, "initial-cluster", NULL)) < 0 ||
            (r = detect_flag(d, CONFIG_ETCD_INITIAL_CLUSTER_TOKEN, "initial-cluster-token", NULL)) < 0)
                return r;
        return 0;
}

static int detect(Detect *d) {
        AgentConfig *c = d->config;
        const char *dir = c->manifest_directory ?: MANIFEST_DIRECTORY_DEFAULT;
        int r;

        d->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->dir_fd < 0 && errno == ENOENT)
                return 0; /* not a kubelet's node */
        if (d->dir_fd < 0)
                return set_message(&d->error, -errno, "%s: %s", dir, strerror(errno));

        if (!agent_config_key_is_set(c, CONFIG_CONTROL_PLANE_UNITS) &&
            !agent_config_key_is_set(c, CONFIG_CONTROL_PLANE_STATIC_PODS) && manifest_exists(d->dir_fd, "kube-apiserver")) {
                _cleanup_free_ char *source = NULL;
                if (asprintf(&source, "%s/kube-apiserver.yaml", dir) < 0)
                        return -ENOMEM;
                r = agent_config_set_from(c, CONFIG_CONTROL_PLANE_STATIC_PODS, "kube-apiserver", source, &d->error);
                if (r < 0)
                        return r;
        }

        if (agent_config_key_is_set(c, CONFIG_ETCD_UNIT))
                return 0;
        if (!c->etcd_static_pod) {
                _cleanup_free_ char *source = NULL;
                if (!manifest_exists(d->dir_fd, "etcd"))
                        return 0;
                if (asprintf(&source, "%s/etcd.yaml", dir) < 0)
                        return -ENOMEM;
                r = agent_config_set_from(c, CONFIG_ETCD_STATIC_POD, "etcd", source, &d->error);
                if (r < 0)
                        return r;
        }
        return detect_etcd(d);
}

int agent_config_detect(AgentConfig *c) {
        Detect d = { .config = c, .dir_fd = -EBADF };
        int r;

        r = detect(&d);
        detection_error = mfree(detection_error);
        if (r == -ENOMEM)
                log_oom();
        else if (r < 0) {
                if (d.path)
                        detection_error = strdup_printf("%s: %s", d.path, strna(d.error));
                else
                        detection_error = strdup(strna(d.error));
                log_error("Cannot read what agent.conf leaves unset from the static pod manifest %s. Nothing is guessed: set "
                          "the [Etcd] keys in agent.conf, or fix the manifest.",
                          strna(detection_error));
        }
        detect_done(&d);
        return r;
}

static int property_get_detected(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const AgentConfig *c = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sss)");
        if (r < 0)
                return r;
        for (AgentConfigKey k = 0; k < _CONFIG_KEY_MAX; k++) {
                _cleanup_free_ char *v = NULL;

                r = agent_config_value_string(c, k, &v);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "(sss)", agent_config_key_name(k), v, c->sources[k] ?: "default");
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_detection_error(sd_bus *bus, const char *path, const char *interface, const char *property,
                                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", strempty(detection_error));
}

const sd_bus_vtable agent_config_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Detected", "a(sss)", property_get_detected, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DetectionError", "s", property_get_detection_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};
