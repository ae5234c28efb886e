/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Static pod manifests (agent/static-pod.c) as kubeadm writes them, flags in both forms, broken
 * ones; and what agent.conf leaves unset read from them (agent/detect.c). */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-config.h"
#include "detect.h"
#include "fs-util.h"
#include "log.h"
#include "static-pod.h"
#include "string-util.h"
#include "tap.h"

static char dir[] = "/tmp/test-static-pod-XXXXXX";
static const char *corpus; /* tests/fuzz/corpus/static-pod: the real-shaped manifests */

/* Not inlined: gcc 12 at -O3 then mistakes the returned buffer for the address of the local
 * pointer it was read into (-Wdangling-pointer). */
static __attribute__((noinline)) char *read_corpus(const char *name, size_t *size) {
        char p[512];
        char *text = NULL;

        snprintf(p, sizeof(p), "%s/%s", corpus, name);
        if (read_full_file(p, 1 << 20, &text, size) < 0)
                abort();
        return text;
}

static void write_file(const char *name, const char *text) {
        char p[512];
        FILE *f;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        f = fopen(p, "we");
        if (!f)
                abort();
        fputs(text, f);
        fclose(f);
}

static int parse(const char *text, StaticPod *p, char **error) {
        return static_pod_parse(text, strlen(text), p, error);
}

TEST(kubeadm_etcd) {
        _cleanup_free_ char *text = NULL, *error = NULL, *host = NULL;
        const StaticPodContainer *c;
        StaticPod p = {};
        size_t size;

        text = read_corpus("kubeadm-etcd.yaml", &size);
        CHECK_EQ(static_pod_parse(text, size, &p, &error), 0);
        CHECK_STREQ(p.name, "etcd");
        CHECK(p.host_network);
        CHECK_EQ(p.grace_period_sec, 30);
        CHECK_EQ(p.n_containers, 1);
        c = static_pod_find_container(&p, "etcd");
        CHECK(c);
        if (!c)
                return;
        CHECK_STREQ(c->argv[0], "etcd");
        CHECK_EQ(strv_length(c->argv), 20);
        CHECK_STREQ(static_pod_flag(c->argv, "listen-client-urls"), "https://127.0.0.1:2379,https://192.168.56.10:2379");
        CHECK_STREQ(static_pod_flag(c->argv, "data-dir"), "/var/lib/etcd");
        CHECK_STREQ(static_pod_flag(c->argv, "name"), "cp1");
        CHECK_STREQ(static_pod_flag(c->argv, "client-cert-auth"), "true");
        CHECK(!static_pod_flag(c->argv, "initial-cluster-token"));
        /* A prefix of another flag is not that flag. */
        CHECK(!static_pod_flag(c->argv, "peer"));
        CHECK_EQ(c->n_mounts, 2);
        CHECK_EQ(p.n_volumes, 2);
        CHECK_EQ(static_pod_host_path(&p, c, "/var/lib/etcd", &host), 0);
        CHECK_STREQ(host, "/var/lib/etcd");
        host = mfree(host);
        CHECK_EQ(static_pod_host_path(&p, c, "/etc/kubernetes/pki/etcd/ca.crt", &host), 0);
        CHECK_STREQ(host, "/etc/kubernetes/pki/etcd/ca.crt");
        host = mfree(host);
        /* Not under a mount, or under one only by a name's prefix: not on the host. */
        CHECK_EQ(static_pod_host_path(&p, c, "/etc/kubernetes/pki/ca.crt", &host), -ENOENT);
        CHECK_EQ(static_pod_host_path(&p, c, "/var/lib/etcd2", &host), -ENOENT);
        static_pod_done(&p);
}

TEST(kubeadm_kube_apiserver) {
        _cleanup_free_ char *text = NULL, *error = NULL, *host = NULL;
        const StaticPodContainer *c;
        StaticPod p = {};
        size_t size;

        text = read_corpus("kubeadm-kube-apiserver.yaml", &size);
        CHECK_EQ(static_pod_parse(text, size, &p, &error), 0);
        CHECK_STREQ(p.name, "kube-apiserver");
        c = static_pod_find_container(&p, "kube-apiserver");
        CHECK(c);
        if (!c)
                return;
        CHECK_STREQ(static_pod_flag(c->argv, "secure-port"), "6443");
        CHECK_STREQ(static_pod_flag(c->argv, "etcd-servers"), "https://127.0.0.1:2379");
        CHECK_EQ(c->n_mounts, 5);
        CHECK_EQ(static_pod_host_path(&p, c, "/etc/kubernetes/pki/sa.key", &host), 0);
        CHECK_STREQ(host, "/etc/kubernetes/pki/sa.key");
        static_pod_done(&p);
}

TEST(flag_forms) {
        char **argv = STRV_MAKE("etcd", "--name", "m1", "-data-dir=/d", "--listen-client-urls", "http://127.0.0.1:1",
                                "--client-cert-auth", "--empty=", "--name=m2", "--", "--trusted-ca-file=/x");

        CHECK_STREQ(static_pod_flag(argv, "name"), "m2"); /* the last one wins */
        CHECK_STREQ(static_pod_flag(argv, "data-dir"), "/d");
        CHECK_STREQ(static_pod_flag(argv, "listen-client-urls"), "http://127.0.0.1:1");
        CHECK_STREQ(static_pod_flag(argv, "client-cert-auth"), ""); /* a boolean alone */
        CHECK_STREQ(static_pod_flag(argv, "empty"), "");
        CHECK(!static_pod_flag(argv, "trusted-ca-file")); /* after "--": an argument */
        CHECK(!static_pod_flag(argv, "etcd"));
        CHECK(!static_pod_flag(STRV_MAKE("--name=x"), "name")); /* argv[0] is the program */
}

TEST(command_and_args) {
        _cleanup_free_ char *error = NULL;
        StaticPod p = {};

        CHECK_EQ(parse("kind: Pod\nspec:\n  terminationGracePeriodSeconds: 5\n  containers:\n  - name: a\n    command: [etcd]\n"
                       "    args: [\"--name\", m]\n  - name: b\n    command: [sleep, '1']\n",
                       &p, &error),
                 0);
        CHECK_EQ(p.grace_period_sec, 5);
        CHECK(!p.host_network);
        CHECK_EQ(p.n_containers, 2);
        CHECK_STREQ(static_pod_flag(static_pod_find_container(&p, "a")->argv, "name"), "m");
        /* Two containers, none named so: none. */
        CHECK(!static_pod_find_container(&p, "etcd"));
        static_pod_done(&p);
}

static void check_refused(const char *text, int expected, const char *message) {
        _cleanup_free_ char *error = NULL;
        StaticPod p = {};
        int r;

        r = parse(text, &p, &error);
        CHECK_EQ(r, expected);
        if (r >= 0)
                static_pod_done(&p);
        else if (!error || !strstr(error, message)) {
                printf("#   '%s' does not say '%s'\n", strna(error), message);
                CHECK(false);
        }
}

TEST(broken) {
        check_refused("{{{ : not yaml\n\t- ]\n", -EBADMSG, "not YAML: line 1");
        check_refused("", -EBADMSG, "empty");
        check_refused("just a string\n", -EBADMSG, "the manifest is not a mapping");
        check_refused("kind: Deployment\nspec: {}\n", -EBADMSG, "not a Pod");
        check_refused("kind: Pod\n", -EBADMSG, "no spec");
        check_refused("kind: Pod\nspec: {containers: []}\n", -EBADMSG, "no containers");
        check_refused("kind: Pod\nspec: {containers: ~}\n", -EBADMSG, "no containers");
        check_refused("kind: Pod\nspec:\n  containers:\n  - name: etcd\n    image: etcd\n", -EBADMSG, "line 4: a container has no command");
        check_refused("kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: \"etcd --name x\"\n", -EBADMSG,
                      "line 5: a container's command is not a list");
        check_refused("kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: []\n", -EBADMSG, "command is empty");
        check_refused("kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [etcd, {a: b}]\n", -EBADMSG, "is not a string");
        check_refused("kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [\"et\\0cd\"]\n", -EBADMSG, "NUL");
        check_refused("kind: Pod\nspec:\n  containers: {etcd: {}}\n", -EBADMSG, "containers is not a list");
        check_refused("kind: Pod\nspec:\n  hostNetwork: maybe\n  containers: [{name: a, command: [a]}]\n", -EBADMSG,
                      "hostNetwork is not a boolean");
        check_refused("kind: Pod\nspec:\n  terminationGracePeriodSeconds: -1\n  containers: [{name: a, command: [a]}]\n", -EBADMSG,
                      "terminationGracePeriodSeconds");
        check_refused("kind: Pod\nspec:\n  containers: [{name: a, command: [a]}]\n  volumes: [{name: v, hostPath: {path: rel}}]\n",
                      -EBADMSG, "absolute path");
        /* Aliases: references, not copies; still read along fixed paths only. */
        check_refused("a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nkind: Pod\nspec: {containers: *b}\n", -EBADMSG,
                      "a container is not a mapping");
}

TEST(bounds) {
        _cleanup_free_ char *error = NULL, *big = NULL;
        StaticPod p = {};
        char path[512];
        FILE *f;
        size_t n = 0;

        /* A command longer than any: refused, not read. */
        f = open_memstream(&big, &n);
        fputs("kind: Pod\nspec:\n  containers:\n  - name: a\n    command:\n", f);
        for (unsigned i = 0; i < STATIC_POD_ARGS_MAX + 1; i++)
                fputs("    - x\n", f);
        fclose(f);
        CHECK_EQ(static_pod_parse(big, n, &p, &error), -E2BIG);
        big = mfree(big);

        /* A file past the bound: refused before it is parsed. */
        snprintf(path, sizeof(path), "%s/huge.yaml", dir);
        f = fopen(path, "we");
        fputs("kind: Pod\n", f);
        for (unsigned i = 0; i < STATIC_POD_FILE_MAX / 8; i++)
                fputs("#......\n", f);
        fclose(f);
        CHECK_EQ(static_pod_load(AT_FDCWD, path, &p, &error), -EFBIG);
        CHECK(error && strstr(error, "larger than"));

        /* A FIFO: refused without blocking. */
        snprintf(path, sizeof(path), "%s/fifo.yaml", dir);
        CHECK_EQ(mkfifo(path, 0600), 0);
        CHECK_EQ(static_pod_load(AT_FDCWD, path, &p, &error), -EBADFD);
        snprintf(path, sizeof(path), "%s/missing.yaml", dir);
        CHECK_EQ(static_pod_load(AT_FDCWD, path, &p, &error), -ENOENT);
}

/* A kubeadm-shaped node under dir: manifests/, pki/etcd/, data/. */
static void node(const char *etcd_manifest_extra, bool healthcheck, bool apiserver) {
        char cmd[1024], text[4096];

        snprintf(cmd, sizeof(cmd), "rm -rf %1$s/manifests %1$s/pki %1$s/agent.conf* && mkdir -p %1$s/manifests %1$s/pki/etcd %1$s/data && "
                 "touch %1$s/pki/etcd/ca.crt", dir);
        CHECK_EQ(system(cmd), 0);
        if (healthcheck) {
                snprintf(cmd, sizeof(cmd), "touch %1$s/pki/etcd/healthcheck-client.crt %1$s/pki/etcd/healthcheck-client.key", dir);
                CHECK_EQ(system(cmd), 0);
        }
        snprintf(text, sizeof(text),
                 "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n"
                 "  - command:\n    - etcd\n    - --advertise-client-urls=https://10.0.0.1:2379\n    - --client-cert-auth=true\n"
                 "    - --data-dir\n    - /var/lib/etcd\n    - --initial-advertise-peer-urls=https://10.0.0.1:2380\n"
                 "    - --initial-cluster=cp1=https://10.0.0.1:2380\n    - --listen-client-urls=https://10.0.0.1:2379,https://127.0.0.1:2379\n"
                 "    - --name\n    - cp1\n    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n%s"
                 "    name: etcd\n    volumeMounts:\n    - mountPath: /var/lib/etcd\n      name: etcd-data\n"
                 "    - mountPath: /etc/kubernetes/pki/etcd\n      name: etcd-certs\n  hostNetwork: true\n  volumes:\n"
                 "  - hostPath:\n      path: %s/pki/etcd\n      type: DirectoryOrCreate\n    name: etcd-certs\n"
                 "  - hostPath:\n      path: %s/data\n      type: DirectoryOrCreate\n    name: etcd-data\nstatus: {}\n",
                 etcd_manifest_extra, dir, dir);
        write_file("manifests/etcd.yaml", text);
        if (apiserver)
                write_file("manifests/kube-apiserver.yaml", "kind: Pod\n");
}

static int load(const char *extra_conf, AgentConfig *c) {
        char conf[1024], path[512];

        snprintf(conf, sizeof(conf), "[ControlPlane]\nManifestDirectory=%s/manifests\n%s", dir, extra_conf);
        write_file("agent.conf", conf);
        snprintf(path, sizeof(path), "%s/agent.conf", dir);
        return agent_config_load(path, c);
}

static void check_value(const AgentConfig *c, AgentConfigKey k, const char *value, const char *source) {
        _cleanup_free_ char *v = NULL, *expected_source = NULL;

        CHECK_EQ(agent_config_value_string(c, k, &v), 0);
        CHECK_STREQ(v, value);
        if (source && source[0] == '@') { /* relative to dir */
                expected_source = strdup_printf("%s%s", dir, source + 1);
                source = expected_source;
        }
        if (source)
                CHECK_STREQ(c->sources[k], source);
        else
                CHECK(!c->sources[k]);
}

TEST(detect_kubeadm) {
        char manifest[512], ca[512], cert[512], key[512], data[512], conf[512], cert_source[600], apiserver[512];
        AgentConfig c;

        node("", true, true);
        snprintf(manifest, sizeof(manifest), "@/manifests/etcd.yaml");
        snprintf(apiserver, sizeof(apiserver), "@/manifests/kube-apiserver.yaml");
        snprintf(ca, sizeof(ca), "%s/pki/etcd/ca.crt", dir);
        snprintf(cert, sizeof(cert), "%s/pki/etcd/healthcheck-client.crt", dir);
        snprintf(key, sizeof(key), "%s/pki/etcd/healthcheck-client.key", dir);
        snprintf(data, sizeof(data), "%s/data", dir);
        snprintf(conf, sizeof(conf), "%s/agent.conf", dir);
        snprintf(cert_source, sizeof(cert_source), "@/manifests/etcd.yaml, healthcheck-client beside --trusted-ca-file");

        CHECK_EQ(load("", &c), 0);
        check_value(&c, CONFIG_ETCD_STATIC_POD, "etcd", manifest);
        check_value(&c, CONFIG_ETCD_UNIT, "", NULL); /* not in force */
        check_value(&c, CONFIG_ETCD_ENDPOINT, "https://127.0.0.1:2379", manifest);
        check_value(&c, CONFIG_ETCD_TRUSTED_CA_FILE, ca, manifest);
        check_value(&c, CONFIG_ETCD_CERT_FILE, cert, cert_source);
        check_value(&c, CONFIG_ETCD_KEY_FILE, key, cert_source);
        check_value(&c, CONFIG_ETCD_DATA_DIR, data, manifest);
        check_value(&c, CONFIG_ETCD_NAME, "cp1", manifest);
        check_value(&c, CONFIG_ETCD_INITIAL_ADVERTISE_PEER_URLS, "https://10.0.0.1:2380", manifest);
        check_value(&c, CONFIG_ETCD_INITIAL_CLUSTER, "cp1=https://10.0.0.1:2380", manifest);
        check_value(&c, CONFIG_ETCD_INITIAL_CLUSTER_TOKEN, "etcd-cluster", NULL);
        check_value(&c, CONFIG_CONTROL_PLANE_STATIC_PODS, "kube-apiserver", apiserver);
        check_value(&c, CONFIG_CONTROL_PLANE_UNITS, "", NULL); /* no unit by default then */
        check_value(&c, CONFIG_STORAGE_DIRECTORY, "/var/lib/etcd-backup", NULL);
        CHECK_STREQ(agent_config_key_name(CONFIG_ETCD_ENDPOINT), "Etcd.Endpoint");
        CHECK(!agent_config_detection_error());
        agent_config_done(&c);

        /* What agent.conf sets stays, with agent.conf as its source; the rest is still read. */
        CHECK_EQ(load("[Etcd]\nEndpoint=https://localhost:2379\nName=other\n[ControlPlane]\nUnits=kube-apiserver.service\n", &c), 0);
        check_value(&c, CONFIG_ETCD_ENDPOINT, "https://localhost:2379", conf);
        check_value(&c, CONFIG_ETCD_NAME, "other", conf);
        check_value(&c, CONFIG_ETCD_DATA_DIR, data, manifest);
        check_value(&c, CONFIG_CONTROL_PLANE_UNITS, "kube-apiserver.service", conf);
        check_value(&c, CONFIG_CONTROL_PLANE_STATIC_PODS, "", NULL);
        agent_config_done(&c);

        /* [Etcd] Unit= set: etcd is that unit, nothing is read for it. */
        CHECK_EQ(load("[Etcd]\nUnit=etcd.service\n", &c), 0);
        check_value(&c, CONFIG_ETCD_UNIT, "etcd.service", conf);
        check_value(&c, CONFIG_ETCD_STATIC_POD, "", NULL);
        check_value(&c, CONFIG_ETCD_ENDPOINT, "http://127.0.0.1:2379", NULL);
        check_value(&c, CONFIG_CONTROL_PLANE_STATIC_PODS, "kube-apiserver", apiserver); /* mixed: Kubespray's shape */
        agent_config_done(&c);

        /* Both: refused. */
        CHECK(load("[Etcd]\nUnit=etcd.service\nStaticPod=etcd\n", &c) < 0);
}

TEST(detect_flags_missing) {
        AgentConfig c;

        /* No --name, --initial-advertise-peer-urls: etcd's defaults, said so. */
        node("", true, false);
        write_file("manifests/etcd.yaml",
                   "kind: Pod\nspec:\n  hostNetwork: true\n  containers:\n  - name: etcd\n    command: [etcd, --data-dir=/var/lib/etcd]\n"
                   "    volumeMounts: [{name: d, mountPath: /var/lib}]\n  volumes: [{name: d, hostPath: {path: /srv/lib}}]\n");
        CHECK_EQ(load("", &c), 0);
        check_value(&c, CONFIG_ETCD_DATA_DIR, "/srv/lib/etcd", c.sources[CONFIG_ETCD_DATA_DIR]);
        check_value(&c, CONFIG_ETCD_ENDPOINT, "http://localhost:2379", c.sources[CONFIG_ETCD_ENDPOINT]);
        check_value(&c, CONFIG_ETCD_NAME, "default", c.sources[CONFIG_ETCD_NAME]);
        CHECK(c.sources[CONFIG_ETCD_NAME] && strstr(c.sources[CONFIG_ETCD_NAME], "etcd's default (no --name)"));
        check_value(&c, CONFIG_ETCD_INITIAL_CLUSTER, "default=http://localhost:2380", NULL);
        check_value(&c, CONFIG_ETCD_TRUSTED_CA_FILE, "", NULL);
        check_value(&c, CONFIG_ETCD_CERT_FILE, "", NULL);
        check_value(&c, CONFIG_CONTROL_PLANE_UNITS, "kube-apiserver.service", NULL);
        agent_config_done(&c);
}

static void check_detection_refused(const char *conf, const char *message) {
        AgentConfig c;

        CHECK(load(conf, &c) < 0);
        if (!agent_config_detection_error() || !strstr(agent_config_detection_error(), message) ||
            !strstr(agent_config_detection_error(), "/manifests/etcd.yaml: ")) {
                printf("#   '%s' does not say '%s'\n", strna(agent_config_detection_error()), message);
                CHECK(false);
        }
}

TEST(detect_refused) {
        AgentConfig c;

        /* No healthcheck-client pair, and etcd wants a client certificate: nothing guessed. */
        node("", false, false);
        check_detection_refused("", "healthcheck-client pair is not beside its CA");
        /* ... unless agent.conf names one. */
        CHECK_EQ(load("[Etcd]\nCertFile=/c\nKeyFile=/k\n", &c), 0);
        CHECK(!agent_config_detection_error());
        agent_config_done(&c);

        node("", true, false);
        write_file("manifests/etcd.yaml", "kind: Pod\nspec:\n  containers:\n  - name: etcd\n    image: etcd\n");
        check_detection_refused("", "line 4: a container has no command");
        write_file("manifests/etcd.yaml", "{{{ : not yaml\n\t- ]\n");
        check_detection_refused("", "not YAML");
        /* A data dir inside the container only. */
        write_file("manifests/etcd.yaml",
                   "kind: Pod\nspec:\n  hostNetwork: true\n  containers:\n  - name: etcd\n    command: [etcd, --data-dir=/var/lib/etcd]\n");
        check_detection_refused("", "--data-dir=/var/lib/etcd is not on a hostPath volume");
        /* ... which agent.conf may give instead. */
        CHECK_EQ(load("[Etcd]\nDataDir=/var/lib/etcd\n", &c), 0);
        agent_config_done(&c);
        /* The pod's own network: its loopback is not the host's. */
        write_file("manifests/etcd.yaml", "kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [etcd]\n");
        check_detection_refused("[Etcd]\nDataDir=/d\n", "is not hostNetwork: true");
        write_file("manifests/etcd.yaml",
                   "kind: Pod\nspec:\n  hostNetwork: true\n  containers:\n  - name: etcd\n    command: [etcd, --listen-client-urls, "
                   "'https://10.1.1.1:2379', --data-dir=/d]\n");
        check_detection_refused("[Etcd]\nDataDir=/d\n", "no loopback URL");
        write_file("manifests/etcd.yaml",
                   "kind: Pod\nspec:\n  hostNetwork: true\n  containers:\n  - name: etcd\n    command: [etcd, --config-file=/etc/etcd.yaml]\n");
        check_detection_refused("", "--config-file");
        /* A value agent.conf would refuse is refused from a manifest too. */
        write_file("manifests/etcd.yaml",
                   "kind: Pod\nspec:\n  hostNetwork: true\n  containers:\n  - name: etcd\n    command: [etcd, \"--name=a\\tb\"]\n");
        check_detection_refused("[Etcd]\nDataDir=/d\n", "would not be text");
        /* A FIFO where etcd.yaml would be. */
        unlink("manifests/etcd.yaml");
        {
                char p[512];
                snprintf(p, sizeof(p), "%s/manifests/etcd.yaml", dir);
                unlink(p);
                CHECK_EQ(mkfifo(p, 0600), 0);
        }
        check_detection_refused("", "not a regular file");
        /* A wildcard listener: reached on the loopback. */
        node("", true, false);
        write_file("manifests/etcd.yaml",
                   "kind: Pod\nspec:\n  hostNetwork: true\n  containers:\n  - name: etcd\n    command: [etcd, --listen-client-urls=http://0.0.0.0:2379/, "
                   "--data-dir=/d]\n");
        CHECK_EQ(load("[Etcd]\nDataDir=/d\n", &c), 0);
        check_value(&c, CONFIG_ETCD_ENDPOINT, "http://127.0.0.1:2379", c.sources[CONFIG_ETCD_ENDPOINT]);
        agent_config_done(&c);
}

/* ---- static_pod_set_flags() ---------------------------------------------------------------- */

/* text with the first occurrence of from replaced by to: the expected result, built by hand. */
static char *replaced(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);

        if (!at)
                abort();
        return strdup_printf("%.*s%s%s", (int) (at - text), text, to, at + strlen(from));
}

/* Sets flags in text, checks the result is expected byte for byte (NULL: refused with r and a
 * message holding message) and, read back, gives argv for the container. */
static void check_set(const char *text, const char *container, char **flags, int r_expected, const char *expected,
                      char **argv, const char *message) {
        _cleanup_free_ char *out = NULL, *error = NULL, *again = NULL;
        size_t size = 0, size2 = 0;
        StaticPod p = {};
        int r;

        r = static_pod_set_flags(text, strlen(text), container, flags, &out, &size, &error);
        CHECK_EQ(r, r_expected);
        if (r < 0 && r_expected >= 0)
                printf("#   refused: %s\n", strna(error));
        if (r < 0) {
                if (!error || !message || !strstr(error, message)) {
                        printf("#   '%s' does not say '%s'\n", strna(error), message);
                        CHECK(false);
                }
                return;
        }
        if (r >= 0 && error)
                printf("#   unexpected message: %s\n", error);
        CHECK_EQ(size, strlen(expected));
        CHECK_STREQ(out, expected);
        if (!out)
                return;
        CHECK_EQ(static_pod_parse(out, size, &p, &error), 0);
        if (argv) {
                const StaticPodContainer *c = static_pod_find_container(&p, container ?: "");
                CHECK(c);
                if (c) {
                        _cleanup_free_ char *got = strv_join(c->argv, "|"), *want = strv_join(argv, "|");
                        CHECK_STREQ(got, want);
                }
        }
        static_pod_done(&p);
        /* Once set, setting them again changes nothing. */
        CHECK_EQ(static_pod_set_flags(out, size, container, flags, &again, &size2, NULL), 0);
        CHECK_STREQ(again, out);
}

TEST(set_flags_kubeadm) {
        _cleanup_free_ char *text = NULL, *step = NULL, *expected = NULL, *error = NULL, *out = NULL, *line = NULL;
        const char *cluster = "--initial-cluster=cp1=https://192.168.56.10:2380,cp2=https://192.168.56.11:2380,"
                              "cp3=https://192.168.56.12:2380";
        StaticPod p = {};
        size_t size, out_size;

        text = read_corpus("kubeadm-etcd.yaml", &size);
        /* kubeadm's own style: one plain item per flag, the new one after the last. */
        line = strdup_printf("    - %s\n", cluster);
        step = replaced(text, "    - --initial-cluster=cp1=https://192.168.56.10:2380\n", line);
        expected = replaced(step, "    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n",
                            "    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n    - --initial-cluster-state=existing\n");
        check_set(text, "etcd", STRV_MAKE(cluster, "--initial-cluster-state=existing"), 1, expected, NULL, NULL);

        CHECK_EQ(static_pod_set_flags(text, size, "etcd", STRV_MAKE(cluster, "--initial-cluster-state=existing"), &out,
                                      &out_size, &error), 1);
        CHECK_EQ(static_pod_parse(out, out_size, &p, &error), 0);
        if (p.n_containers == 1) {
                char **argv = p.containers[0].argv;
                CHECK_EQ(strv_length(argv), 21);
                CHECK_STREQ(static_pod_flag(argv, "initial-cluster"), cluster + strlen("--initial-cluster="));
                CHECK_STREQ(static_pod_flag(argv, "initial-cluster-state"), "existing");
                CHECK_STREQ(argv[20], "--initial-cluster-state=existing");
                CHECK_STREQ(static_pod_flag(argv, "name"), "cp1");
                CHECK_EQ(p.containers[0].n_mounts, 2);
        }
        static_pod_done(&p);

        /* The same value again: the text as it was, 0. */
        out = mfree(out);
        CHECK_EQ(static_pod_set_flags(text, size, NULL, STRV_MAKE("--name=cp1", "--data-dir=/var/lib/etcd"), &out, &out_size,
                                      &error), 0);
        CHECK_EQ(out_size, size);
        CHECK(out && memcmp(out, text, size) == 0);
        out = mfree(out);
        /* No flags: nothing to do either. */
        CHECK_EQ(static_pod_set_flags(text, size, "etcd", STRV_MAKE(NULL), &out, &out_size, &error), 0);
        CHECK_STREQ(out, text);
}

#define POD(cmd) "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\nspec:\n  containers:\n  - name: etcd\n" cmd "    image: etcd\n"

TEST(set_flags_forms) {
        /* "--flag value": the value item alone; one dash; a boolean alone; the flag in args. */
        check_set(POD("    command:\n    - etcd\n    - --initial-cluster\n    - a=http://1.2.3.4:2380\n    - -name\n    - m1\n"
                      "    - --strict-reconfig-check\n    - --x=1\n    args:\n    - --initial-cluster-state=new\n"),
                  "etcd",
                  STRV_MAKE("--initial-cluster=a=http://1.2.3.4:2380,b=http://1.2.3.5:2380", "--name=m2",
                            "--strict-reconfig-check=false", "--initial-cluster-state=existing"),
                  1,
                  POD("    command:\n    - etcd\n    - --initial-cluster\n    - a=http://1.2.3.4:2380,b=http://1.2.3.5:2380\n    - -name\n"
                      "    - m2\n    - --strict-reconfig-check=false\n    - --x=1\n    args:\n    - --initial-cluster-state=existing\n"),
                  STRV_MAKE("etcd", "--initial-cluster", "a=http://1.2.3.4:2380,b=http://1.2.3.5:2380", "-name", "m2",
                            "--strict-reconfig-check=false", "--x=1", "--initial-cluster-state=existing"),
                  NULL);
        /* Twice on the command line (the last one counts): both get the value. */
        check_set(POD("    command:\n    - etcd\n    - --name=a\n    - --name=b\n"), "etcd", STRV_MAKE("--name=c"), 1,
                  POD("    command:\n    - etcd\n    - --name=c\n    - --name=c\n"), STRV_MAKE("etcd", "--name=c", "--name=c"), NULL);
        /* A prefix of a flag is not the flag; what follows "--" is an argument. */
        check_set(POD("    command:\n    - etcd\n    - --initial-cluster-token=t\n    args:\n    - --\n    - --name=x\n"), "etcd",
                  STRV_MAKE("--initial-cluster=a=http://h:1", "--name=y"), 1,
                  POD("    command:\n    - etcd\n    - --initial-cluster-token=t\n    - --initial-cluster=a=http://h:1\n    - --name=y\n"
                      "    args:\n    - --\n    - --name=x\n"),
                  STRV_MAKE("etcd", "--initial-cluster-token=t", "--initial-cluster=a=http://h:1", "--name=y", "--", "--name=x"), NULL);
        /* A comment after the last item, CRLF line ends, no newline at the end: kept. */
        check_set(POD("    command:\n    - etcd\n    - --x=1   # the last one\n"), "etcd", STRV_MAKE("--y=2"), 1,
                  POD("    command:\n    - etcd\n    - --x=1   # the last one\n    - --y=2\n"), STRV_MAKE("etcd", "--x=1", "--y=2"), NULL);
        check_set("kind: Pod\r\nspec:\r\n  containers:\r\n  - name: etcd\r\n    command:\r\n      -   etcd\r\n", "etcd",
                  STRV_MAKE("--y=2"), 1,
                  "kind: Pod\r\nspec:\r\n  containers:\r\n  - name: etcd\r\n    command:\r\n      -   etcd\r\n      -   --y=2\r\n",
                  STRV_MAKE("etcd", "--y=2"), NULL);
        check_set("kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command:\n    - etcd", "etcd", STRV_MAKE("--y=2", "--z=3"), 1,
                  "kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command:\n    - etcd\n    - --y=2\n    - --z=3",
                  STRV_MAKE("etcd", "--y=2", "--z=3"), NULL);
        /* Of two containers, the one named. */
        check_set("kind: Pod\nspec:\n  containers:\n  - name: a\n    command: [sleep, --name=x]\n  - name: b\n    command: [etcd, --name=x]\n",
                  "b", STRV_MAKE("--name=y"), 1,
                  "kind: Pod\nspec:\n  containers:\n  - name: a\n    command: [sleep, --name=x]\n  - name: b\n    command: [etcd, --name=y]\n",
                  STRV_MAKE("etcd", "--name=y"), NULL);
}

TEST(set_flags_quoting) {
        /* Plain where plain reads back the same; else double-quoted, escaped. */
        check_set(POD("    command:\n    - etcd\n    - --a=1\n    - --b=2\n    - --c\n    - x\n    - --d=4\n"), "etcd",
                  STRV_MAKE("--a=x: y", "--b=p #q", "--c=true", "--d=tab\there\nline \"q\" \\", "--e=\xc3\xa9t\xc3\xa9"), 1,
                  POD("    command:\n    - etcd\n    - \"--a=x: y\"\n    - \"--b=p #q\"\n    - --c\n    - \"true\"\n"
                      "    - \"--d=tab\\there\\nline \\\"q\\\" \\\\\"\n    - \"--e=\xc3\xa9t\xc3\xa9\"\n"),
                  STRV_MAKE("etcd", "--a=x: y", "--b=p #q", "--c", "true", "--d=tab\there\nline \"q\" \\", "--e=\xc3\xa9t\xc3\xa9"), NULL);
        /* Values that would read as a number, null or a mapping key as the second of two items. */
        check_set(POD("    command:\n    - etcd\n    - --a\n    - x\n    - --b\n    - x\n    - --c\n    - x\n    - --d\n    - x\n"), "etcd",
                  STRV_MAKE("--a=10000", "--b=null", "--c=k:", "--d=~"), 1,
                  POD("    command:\n    - etcd\n    - --a\n    - \"10000\"\n    - --b\n    - \"null\"\n    - --c\n    - \"k:\"\n"
                      "    - --d\n    - \"~\"\n"),
                  STRV_MAKE("etcd", "--a", "10000", "--b", "null", "--c", "k:", "--d", "~"), NULL);
        /* A quoted item stays in its quotes; single quotes double a quote in them. */
        check_set(POD("    command:\n    - \"etcd\"\n    - '--name=a'\n    - \"--x=1\"\n"), "etcd",
                  STRV_MAKE("--name=it's", "--x=2", "--new=v"), 1,
                  POD("    command:\n    - \"etcd\"\n    - '--name=it''s'\n    - \"--x=2\"\n    - \"--new=v\"\n"),
                  STRV_MAKE("etcd", "--name=it's", "--x=2", "--new=v"), NULL);
        /* Other characters, C1 and line separators escaped. */
        check_set(POD("    command:\n    - etcd\n    - --a=1\n"), "etcd", STRV_MAKE("--a=\x01\x7f\xc2\x85\xe2\x80\xa8"), 1,
                  POD("    command:\n    - etcd\n    - \"--a=\\u0001\\u007f\\u0085\\u2028\"\n"),
                  STRV_MAKE("etcd", "--a=\x01\x7f\xc2\x85\xe2\x80\xa8"), NULL);
}

TEST(set_flags_flow_and_json) {
        _cleanup_free_ char *json = NULL, *expected = NULL;
        size_t size;

        /* In a flow sequence ":" and "," make a plain scalar something else: quoted there. */
        check_set(POD("    command: [etcd, --data-dir=/var/lib/etcd, --name=a]\n"), "etcd",
                  STRV_MAKE("--name=b", "--initial-cluster=a=http://1.2.3.4:2380,b=http://1.2.3.5:2380", "--initial-cluster-state=existing"), 1,
                  POD("    command: [etcd, --data-dir=/var/lib/etcd, --name=b, \"--initial-cluster=a=http://1.2.3.4:2380,b=http://1.2.3.5:2380\", "
                      "--initial-cluster-state=existing]\n"),
                  STRV_MAKE("etcd", "--data-dir=/var/lib/etcd", "--name=b", "--initial-cluster=a=http://1.2.3.4:2380,b=http://1.2.3.5:2380",
                            "--initial-cluster-state=existing"),
                  NULL);
        /* Over lines, with a comment. */
        check_set(POD("    command: [\n      etcd,\n      --x=1 # one\n    ]\n"), "etcd", STRV_MAKE("--y=2"), 1,
                  POD("    command: [\n      etcd,\n      --x=1, --y=2 # one\n    ]\n"), STRV_MAKE("etcd", "--x=1", "--y=2"), NULL);
        /* JSON stays JSON: double quotes, JSON's escapes. */
        json = read_corpus("json", &size);
        expected = replaced(json, "\"--name\",\"m1\"]", "\"--name\",\"m2\", \"--initial-cluster-state=existing\"]");
        check_set(json, "etcd", STRV_MAKE("--name=m2", "--initial-cluster-state=existing"), 1, expected,
                  STRV_MAKE("etcd", "--data-dir", "/var/lib/etcd", "--name", "m2", "--initial-cluster-state=existing"), NULL);
}

TEST(set_flags_refused) {
        const char *plain = POD("    command:\n    - etcd\n    - --name=a\n");

        check_set(plain, "etcd", STRV_MAKE("name=b"), -EINVAL, NULL, NULL, "is not --NAME=VALUE");
        check_set(plain, "etcd", STRV_MAKE("--name"), -EINVAL, NULL, NULL, "is not --NAME=VALUE");
        check_set(plain, "etcd", STRV_MAKE("---name=b"), -EINVAL, NULL, NULL, "is not --NAME=VALUE");
        check_set(plain, "etcd", STRV_MAKE("--na me=b"), -EINVAL, NULL, NULL, "is not --NAME=VALUE");
        check_set(plain, "etcd", STRV_MAKE("--name=\xff"), -EINVAL, NULL, NULL, "is not --NAME=VALUE");
        check_set(plain, "etcd", STRV_MAKE("--name=b", "--name=c"), -EINVAL, NULL, NULL, "--name is given twice");
        check_set("kind: Pod\nspec:\n  containers:\n  - {name: a, command: [a]}\n  - {name: b, command: [b]}\n", "etcd",
                  STRV_MAKE("--name=b"), -ENOENT, NULL, NULL, "no container called etcd");
        check_set("kind: Pod\nspec:\n  containers:\n  - {name: a, command: [a]}\n  - {name: b, command: [b]}\n", NULL,
                  STRV_MAKE("--name=b"), -ENOENT, NULL, NULL, "several containers");
        check_set(plain, "etcd-0", STRV_MAKE("--name=b"), -ENOENT, NULL, NULL, "no container called etcd-0");
        check_set("kind: Pod\n", "etcd", STRV_MAKE("--name=b"), -EBADMSG, NULL, NULL, "no spec");
        /* What the bytes of an item do not say alone. */
        check_set(POD("    command:\n    - etcd\n    - &n --name=a\n"), "etcd", STRV_MAKE("--name=b"), -EOPNOTSUPP, NULL, NULL,
                  "line 10: an item of the command line has an anchor or a tag");
        check_set(POD("    command:\n    - etcd\n    - !!str --name=a\n"), "etcd", STRV_MAKE("--name=b"), -EOPNOTSUPP, NULL, NULL,
                  "anchor or a tag");
        check_set(POD("    command:\n    - etcd\n    - |\n      --name=a\n"), "etcd", STRV_MAKE("--name=b"), -EOPNOTSUPP, NULL, NULL,
                  "literal or folded");
        check_set(POD("    command:\n    - etcd\n    - --name=a\n      b\n"), "etcd", STRV_MAKE("--name=b"), -EOPNOTSUPP, NULL, NULL,
                  "spans lines");
        check_set(POD("    command:\n    - etcd\n    - \"--name=a\n      b\"\n"), "etcd", STRV_MAKE("--name=b"), -EOPNOTSUPP, NULL, NULL,
                  "spans lines");
        /* An alias: the same node in two places. */
        check_set("kind: Pod\nspec:\n  containers:\n  - name: a\n    command: &c [sleep, --name=x]\n  - name: etcd\n    command: *c\n",
                  "etcd", STRV_MAKE("--name=y"), -EOPNOTSUPP, NULL, NULL, "would not read back as intended");
        check_set(POD("    command:\n    - etcd\n    - &n --x\n    args:\n    - *n\n"), "etcd", STRV_MAKE("--x=y"), -EOPNOTSUPP, NULL,
                  NULL, "anchor or a tag");
        check_set(POD("    command:\n    - etcd\n    args: &a\n    - --x\n    - *a\n"), "etcd", STRV_MAKE("--x=y"), -EBADMSG, NULL, NULL,
                  "not a string");
        check_set(POD("    command: [etcd]\n    command: [etcd2]\n"), "etcd", STRV_MAKE("--x=y"), -EOPNOTSUPP, NULL, NULL,
                  "command is there twice");
        /* No place for a new last item of command. */
        check_set(POD("    command:\n    - etcd\n    - --\n    - --a\n"), "etcd", STRV_MAKE("--x=y"), -EOPNOTSUPP, NULL, NULL,
                  "command has a \"--\"");
        check_set(POD("    command:\n    - etcd\n    - --name\n    args:\n    - m1\n"), "etcd", STRV_MAKE("--x=y"), -EOPNOTSUPP, NULL,
                  NULL, "command ends in --name, whose value is the first of args");
        check_set(POD("    command:\n    - etcd\n    - --name\n    args:\n    - m1\n"), "etcd", STRV_MAKE("--name=m2"), 1,
                  POD("    command:\n    - etcd\n    - --name\n    args:\n    - m2\n"), STRV_MAKE("etcd", "--name", "m2"), NULL);
        check_set(POD("    command:\n    - etcd\n    - --a # a comment\xe2\x80\xa8    workingDir: /x\n"), "etcd", STRV_MAKE("--x=y"), -EOPNOTSUPP, NULL,
                  NULL, "something follows the last item");
        check_set(POD("    command:\n    - etcd\n    - --a # a comment\r\n"), "etcd", STRV_MAKE("--x=y"), 1,
                  POD("    command:\n    - etcd\n    - --a # a comment\r\n    - --x=y\r\n"), STRV_MAKE("etcd", "--a", "--x=y"), NULL);
        check_set(POD("    command:\n    - etcd\n    -\n      --a\n"), "etcd", STRV_MAKE("--x=y"), -EOPNOTSUPP, NULL, NULL,
                  "not on a line of its own");
        check_set(POD("    command: [etcd,\n      --a]\n"), "etcd", STRV_MAKE("--a=b"), 1, POD("    command: [etcd,\n      --a=b]\n"),
                  STRV_MAKE("etcd", "--a=b"), NULL);
        /* "--flag value" cannot take a value that reads as a flag or as nothing. */
        check_set(POD("    command:\n    - etcd\n    - --name\n    - a\n"), "etcd", STRV_MAKE("--name=-b"), -EOPNOTSUPP, NULL, NULL,
                  "cannot be its second");
        check_set(POD("    command:\n    - etcd\n    - --name\n    - a\n"), "etcd", STRV_MAKE("--name="), -EOPNOTSUPP, NULL, NULL,
                  "cannot be its second");
        check_set("\xff\xfek\0i\0", "etcd", STRV_MAKE("--x=y"), -EOPNOTSUPP, NULL, NULL, "UTF-16");
}

TEST(set_flags_utf8_marks) {
        /* libyaml counts characters, the splice bytes: text before the items that is not ASCII,
         * a byte order mark. */
        check_set("\xef\xbb\xbf" "kind: Pod\nmetadata:\n  annotations: {n\xc3\xb6te: \"\xe2\x82\xac\xf0\x9f\x98\x80\"}\nspec:\n  containers:\n"
                  "  - name: etcd\n    command:\n    - etcd\n    - --name=a\n",
                  "etcd", STRV_MAKE("--name=b", "--c=d"), 1,
                  "\xef\xbb\xbf" "kind: Pod\nmetadata:\n  annotations: {n\xc3\xb6te: \"\xe2\x82\xac\xf0\x9f\x98\x80\"}\nspec:\n  containers:\n"
                  "  - name: etcd\n    command:\n    - etcd\n    - --name=b\n    - --c=d\n",
                  STRV_MAKE("etcd", "--name=b", "--c=d"), NULL);
}

int main(int argc, char *argv[]) {
        char cmd[512];
        int r;

        corpus = argc > 1 ? argv[1] : "tests/fuzz/corpus/static-pod";
        log_set_max_level(-1);
        if (!mkdtemp(dir))
                return 1;
        RUN(kubeadm_etcd);
        RUN(kubeadm_kube_apiserver);
        RUN(flag_forms);
        RUN(command_and_args);
        RUN(broken);
        RUN(bounds);
        RUN(detect_kubeadm);
        RUN(detect_flags_missing);
        RUN(detect_refused);
        RUN(set_flags_kubeadm);
        RUN(set_flags_forms);
        RUN(set_flags_quoting);
        RUN(set_flags_flow_and_json);
        RUN(set_flags_refused);
        RUN(set_flags_utf8_marks);
        r = tap_finish();
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        (void) !system(cmd);
        return r;
}
