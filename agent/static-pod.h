/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Static pod manifests (what the kubelet runs from its manifest directory, kubeadm's
 * /etc/kubernetes/manifests/etcd.yaml and kube-apiserver.yaml): just what the agent needs of a
 * Pod, read with a real YAML parser (libyaml): each container's command line (command, then
 * args), its volume mounts, the pod's hostPath volumes, hostNetwork and the termination grace
 * period. Non-logging: failures are a negative errno and a message saying what is wrong, for
 * the caller to report with the file's name. A manifest is untrusted input: its size is
 * bounded, and so is every list read from it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* kubeadm's manifests are 2-5 KiB; the kubelet itself reads at most 10 MiB. */
#define STATIC_POD_FILE_MAX (256U * 1024U)
/* Bounds on what is read of one pod: far above any real control-plane pod. */
#define STATIC_POD_CONTAINERS_MAX 32U
#define STATIC_POD_ARGS_MAX 1024U
#define STATIC_POD_VOLUMES_MAX 256U

/* Where a restore moves NAME.yaml while the pod is to be stopped: a dotfile in the same
 * directory, which the kubelet does not read (so it stops the pod), on the same file system
 * (one rename there and back, the manifest unchanged). Formatted with the pod's name. */
#define STATIC_POD_HIDDEN_FORMAT "%s.yaml.etcd-backup-restore"

/* A static pod by its manifest's name without ".yaml": a Kubernetes object name (DNS-1123
 * subdomain), so never a path. */
bool static_pod_name_is_valid(const char *s);

typedef struct StaticPodMount {
        char *name;
        char *mount_path;
} StaticPodMount;

typedef struct StaticPodContainer {
        char *name;
        char **argv; /* command, then args: what the container runs (NULL-terminated, never empty) */
        StaticPodMount *mounts;
        size_t n_mounts;
} StaticPodContainer;

typedef struct StaticPodVolume {
        char *name;
        char *host_path; /* NULL: not a hostPath volume */
} StaticPodVolume;

typedef struct StaticPod {
        char *name; /* metadata.name */
        bool host_network;
        uint64_t grace_period_sec; /* terminationGracePeriodSeconds, Kubernetes' default 30 */
        StaticPodContainer *containers;
        size_t n_containers;
        StaticPodVolume *volumes;
        size_t n_volumes;
} StaticPod;

/* Parses a manifest's text (YAML or JSON, the first document). -EBADMSG: not YAML, or not a
 * Pod the agent can read (no containers, a container without a command, a value of the wrong
 * type); -E2BIG past one of the bounds; *ret_error (if given) says what and where. */
int static_pod_parse(const char *text, size_t size, StaticPod *ret, char **ret_error);
/* Reads dir_fd/name (open_regular_file_at(): never blocks, -EBADFD for what is not a regular
 * file; -EFBIG past STATIC_POD_FILE_MAX) and parses it. */
int static_pod_load(int dir_fd, const char *name, StaticPod *ret, char **ret_error);
/* Reads a manifest's text from fd (NUL-terminated): -EFBIG past STATIC_POD_FILE_MAX. */
int static_pod_read_fd(int fd, char **ret_text, size_t *ret_size, char **ret_error);
void static_pod_done(StaticPod *p);

/* The container called name, else the only one; NULL if neither. */
const StaticPodContainer *static_pod_find_container(const StaticPod *p, const char *name);

/* The value of a command-line flag as etcd and the apiserver take them (Go's flag package):
 * "--flag=value", "--flag value", one dash or two; the last occurrence wins. NULL when absent.
 * A flag given as "--flag" alone at the end has the value "" (a boolean). */
const char *static_pod_flag(char * const *argv, const char *flag);

/*
 * Sets command-line flags of one container (container: its name; NULL: the only one there is)
 * in a manifest's text, editing the text rather than writing the YAML anew: every byte but the
 * edited items stays as it was (comments, order, quoting, kubeadm's layout). Each of flags is
 * "--NAME=VALUE". Where the container's command or args has NAME ("--NAME=V", "-NAME=V",
 * "--NAME" alone, or "--NAME" "V" as two items, as static_pod_flag() reads them), every such
 * occurrence gets the value in place (in the two-item form the value item alone changes); a
 * NAME that is not there is appended as a new last item of command, in the style of the one
 * before it. Works on block and flow sequences (so also on JSON). A value is written plain where
 * the item it replaces (or follows) is plain and the value is safe as a plain scalar, else quoted.
 * The result is read back with static_pod_parse() and must give exactly the intended command
 * lines and nothing else changed. Returns 1 with the new text in *ret_text (NUL-terminated) if
 * it differs, 0 with a copy of the text if every flag had its value already; -EINVAL: a flag
 * that is not "--NAME=VALUE" (or given twice, or not UTF-8); -ENOENT: no such container;
 * -EBADMSG/-E2BIG: as static_pod_parse(); -EOPNOTSUPP: a manifest this cannot edit safely
 * (anchors or aliases on the way, a multi-line item, duplicate keys, a "--" before the end of
 * command...). Non-logging: *ret_error (if given) says why.
 */
int static_pod_set_flags(const char *text, size_t size, const char *container, char * const *flags, char **ret_text,
                         size_t *ret_size, char **ret_error);

/* Where a path of the container's is on the host: through the volume mount that holds it (the
 * longest mountPath that is a prefix of path, as the runtime resolves it) whose volume is a
 * hostPath. -ENOENT if no mount holds it, -EREMOTE if the mount's volume is not a hostPath
 * (an emptyDir, a configMap...: not a host path at all). */
int static_pod_host_path(const StaticPod *p, const StaticPodContainer *c, const char *path, char **ret);
