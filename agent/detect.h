/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Static-pod nodes (kubeadm): what agent.conf leaves unset, read from the kubelet's manifests.
 *
 * When no agent.conf sets [Etcd] Unit= or StaticPod= and ManifestDirectory/etcd.yaml exists,
 * etcd is the static pod "etcd" (and where agent.conf sets StaticPod= itself, that pod's
 * manifest is read the same way). Every [Etcd] key agent.conf does not set is then taken from
 * the etcd container's command line: Endpoint= the loopback URL of --listen-client-urls (or
 * --advertise-client-urls), TrustedCAFile= --trusted-ca-file, CertFile=/KeyFile= kubeadm's
 * healthcheck-client pair beside that CA when etcd asks clients for certificates, DataDir=
 * --data-dir, Name=, InitialAdvertisePeerURLs=, InitialCluster=, InitialClusterToken= their
 * flags (etcd's own defaults where a flag is absent). Paths are the container's, and become
 * the host's through the pod's hostPath volumes. Independently, when agent.conf sets neither
 * [ControlPlane] Units= nor StaticPods= and ManifestDirectory/kube-apiserver.yaml exists, the
 * control plane is StaticPods=kube-apiserver (and no unit).
 *
 * A manifest the agent cannot read, or one that does not say what a key needs, is an error:
 * nothing is guessed. The agent configuration is then refused as an invalid agent.conf is
 * (the agent does not start; a reload keeps the configuration in force), the log says which
 * file and why, and so does the Manager's DetectionError property.
 */

#include <systemd/sd-bus.h>

#include "agent-config.h"

/* Fills in c (read from the files, before defaults) from the manifests. Logs and returns a
 * negative errno when a manifest is unusable; the message stays for DetectionError. */
int agent_config_detect(AgentConfig *c);

/* The last detection's error ("FILE: reason"), NULL after one that succeeded. */
const char *agent_config_detection_error(void);

/* Properties of org.etcdbackup.Agent1.Manager, userdata an AgentConfig *: Detected a(sss)
 * (every key in force: name, value, where it came from) and DetectionError s. */
extern const sd_bus_vtable agent_config_vtable[];
