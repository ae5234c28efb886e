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

typedef struct AgentConfig {
        EtcdEndpoint etcd;                /* [Etcd] Endpoint= TrustedCAFile= CertFile= KeyFile= */
        char *etcd_data_dir;              /* [Etcd] DataDir= */
        char *etcd_unit;                  /* [Etcd] Unit= */
        char *etcd_name;                  /* [Etcd] Name= */
        char *initial_cluster;            /* [Etcd] InitialCluster= */
        char *initial_advertise_peer_urls; /* [Etcd] InitialAdvertisePeerURLs= */
        char *initial_cluster_token;      /* [Etcd] InitialClusterToken= */
        char *restore_command;            /* [Etcd] RestoreCommand=, NULL: look on $PATH */
        char **control_plane_units;       /* [ControlPlane] Units= */
        char *storage_directory;          /* [Storage] Directory= */
        SystemdScope scope;               /* [Systemd] Scope= */
} AgentConfig;

/* Reads the files and fills in defaults. Logs what is wrong (file and line) and fails on any
 * invalid value: a backup agent that silently falls back to a default endpoint or directory is
 * worse than one that does not start. Unknown keys are warned about and ignored, and so are a
 * FIFO, a directory or a device where a drop-in or the default agent.conf would be. Each file
 * may hold CONF_FILE_MAX (64 KiB); values must be printable UTF-8. */
int agent_config_load(const char *path, AgentConfig *ret);
/* The same for one file's text, without drop-ins (the fuzzer's entry point). */
int agent_config_load_string(const char *text, AgentConfig *ret);
void agent_config_done(AgentConfig *c);
