/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The agent configuration: /etc/etcd-backup/agent.conf, then the *.conf files of agent.conf.d in lexical
 * order (for --config PATH: PATH, then PATH.d/), in systemd's INI syntax. Later assignments win;
 * an empty assignment resets a key to its default, or empties a list. With no file at all the
 * defaults fit a host where Debian's etcd-server package runs etcd.
 */

#include "etcd-client.h"

#define AGENT_CONFIG_PATH "/etc/etcd-backup/agent.conf"

typedef enum SystemdScope {
        SCOPE_SYSTEM,
        SCOPE_USER,
        _SCOPE_MAX,
        _SCOPE_INVALID = -EINVAL,
} SystemdScope;

const char *systemd_scope_to_string(SystemdScope s);
SystemdScope systemd_scope_from_string(const char *s);

/* Every key, in the order status shows them. */
typedef enum AgentConfigKey {
        CONFIG_ETCD_ENDPOINT,
        CONFIG_ETCD_TRUSTED_CA_FILE,
        CONFIG_ETCD_CERT_FILE,
        CONFIG_ETCD_KEY_FILE,
        CONFIG_ETCD_DATA_DIR,
        CONFIG_ETCD_UNIT,
        CONFIG_ETCD_STATIC_POD,
        CONFIG_ETCD_NAME,
        CONFIG_ETCD_INITIAL_CLUSTER,
        CONFIG_ETCD_INITIAL_ADVERTISE_PEER_URLS,
        CONFIG_ETCD_INITIAL_CLUSTER_TOKEN,
        CONFIG_ETCD_RESTORE_COMMAND,
        CONFIG_CONTROL_PLANE_UNITS,
        CONFIG_CONTROL_PLANE_STATIC_PODS,
        CONFIG_CONTROL_PLANE_MANIFEST_DIRECTORY,
        CONFIG_STORAGE_DIRECTORY,
        CONFIG_SYSTEMD_SCOPE,
        CONFIG_METRICS_TEXTFILE_PATH,
        _CONFIG_KEY_MAX,
} AgentConfigKey;

#define MANIFEST_DIRECTORY_DEFAULT "/etc/kubernetes/manifests"
/* Where Debian's prometheus-node-exporter reads textfiles from. */
#define METRICS_TEXTFILE_DEFAULT "/var/lib/prometheus/node-exporter/etcd_backup.prom"

typedef struct AgentConfig {
        EtcdEndpoint etcd;                /* [Etcd] Endpoint= TrustedCAFile= CertFile= KeyFile= */
        char *etcd_data_dir;              /* [Etcd] DataDir= */
        char *etcd_unit;                  /* [Etcd] Unit= (NULL when etcd is a static pod) */
        char *etcd_static_pod;            /* [Etcd] StaticPod=, NULL: etcd runs as Unit= */
        char *etcd_name;                  /* [Etcd] Name= */
        char *initial_cluster;            /* [Etcd] InitialCluster= */
        char *initial_advertise_peer_urls; /* [Etcd] InitialAdvertisePeerURLs= */
        char *initial_cluster_token;      /* [Etcd] InitialClusterToken= */
        char *restore_command;            /* [Etcd] RestoreCommand=, NULL: look on $PATH */
        char **control_plane_units;       /* [ControlPlane] Units= */
        char **control_plane_static_pods; /* [ControlPlane] StaticPods= */
        char *manifest_directory;         /* [ControlPlane] ManifestDirectory= */
        char *storage_directory;          /* [Storage] Directory= */
        SystemdScope scope;               /* [Systemd] Scope= */
        char *metrics_textfile;           /* [Metrics] TextfilePath=, "" when "no" (off) */
        /* Where each key's value came from: the file that set it (agent.conf or a drop-in),
         * the static pod manifest it was read from (agent/detect.c), or NULL for the default. */
        char *sources[_CONFIG_KEY_MAX];
} AgentConfig;

/* Reads the files, reads what they leave unset from the static pod manifests where etcd is one
 * (agent/detect.h), and fills in defaults. Logs what is wrong (file and line) and fails on any
 * invalid value: a backup agent that silently falls back to a default endpoint or directory is
 * worse than one that does not start. Unknown keys are warned about and ignored, and so are a
 * FIFO, a directory or a device where a drop-in or the default agent.conf would be. Each file
 * may hold CONF_FILE_MAX (64 KiB); values must be printable UTF-8. */
int agent_config_load(const char *path, AgentConfig *ret);
/* The same for one file's text, without drop-ins and without reading manifests (the fuzzer's
 * entry point). */
int agent_config_load_string(const char *text, AgentConfig *ret);
void agent_config_done(AgentConfig *c);

/* "Etcd.Endpoint" and so on: how the Detected property and status name a key. */
const char *agent_config_key_name(AgentConfigKey k);
/* A key's value in force as text (lists space-separated, "" when unset). */
int agent_config_value_string(const AgentConfig *c, AgentConfigKey k, char **ret);
/* Whether agent.conf or a drop-in set the key (so nothing may be read for it elsewhere). */
bool agent_config_key_is_set(const AgentConfig *c, AgentConfigKey k);
/* Sets a key from elsewhere than agent.conf (a manifest) with the same checks as agent.conf
 * applies, and remembers source. -EINVAL (and *ret_error) for a value agent.conf would refuse. */
int agent_config_set_from(AgentConfig *c, AgentConfigKey k, const char *value, const char *source, char **ret_error);
