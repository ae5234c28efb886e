#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cluster-node.sh N - one node of the cluster of lib/cluster.sh, started by cluster_start (not by
# hand). It is a sandbox of its own, nested in the test's (sandbox_enter: a private mount
# namespace and /run, overlays on top of the test's, which hold the one meson install), and builds
# the node of lib/restore.sh in it: its private system bus, systemd user manager, polkitd, etcd
# as user etcd on /var/lib/etcd/default in unit etcd.service (member nodeN of the cluster), the
# kube-apiserver stand-in, agent.conf and the agent. Then it writes $CLUSTER_DIR/nodeN.sh (what
# `node N` sources: the libraries and this node's environment), says it is ready
# ($CLUSTER_DIR/nodeN.ready) and waits until the test asks it to end ($CLUSTER_DIR/nodeN.stop) or
# the test is gone; its own sandbox teardown then stops everything it started.
#
# Environment, from cluster_start: CLUSTER_DIR, CLUSTER_PARENT (the test's pid), CLUSTER_INITIAL
# (node1=PEER_URL,...), CLUSTER_TOKEN, CLUSTER_PORTS (this node's client and peer port),
# BUILD_DIR, SANDBOX_INSTALLED, SANDBOX_LOGS. Its output goes to SANDBOX_LOGS/node.log.

LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$LIB/sandbox.sh"
source "$LIB/agent.sh"
source "$LIB/restore.sh"
sandbox_enter "$@"

N=$1
read -r cport pport <<<"$CLUSTER_PORTS"
_sandbox_log "node$N: client port $cport, peer port $pport, cluster $CLUSTER_INITIAL"

# The etcd unit as a member of the three-member cluster (--initial-cluster-state new): its start
# returns once a quorum of the nodes runs, which is why cluster_start starts them all at once.
restore_setup -- --member "node$N" --ports "$cport" "$pport" --cluster "$CLUSTER_INITIAL" --token "$CLUSTER_TOKEN"

# What `node N CMD...` runs CMD with: the libraries, then this node's environment.
{
    printf 'source %q\n' "$LIB/sandbox.sh" "$LIB/agent.sh" "$LIB/restore.sh"
    for v in T SANDBOX_LOG_DIR XDG_RUNTIME_DIR XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME XDG_CACHE_HOME \
            USER_UNIT_DIR DBUS_SESSION_BUS_ADDRESS DBUS_SYSTEM_BUS_ADDRESS ETCDCTL_API \
            ETCD_NAME ETCD_ENDPOINT ETCD_DATA_DIR ETCD_PEER_URL ETCD_UNIT \
            CONTROL_DIR RUNTIME_CONTROL_DIR STANDIN_LOG STANDIN_SWITCH BUILD_DIR; do
        printf 'export %s=%q\n' "$v" "${!v}"
    done
} >"$CLUSTER_DIR/node$N.sh.new"
mv "$CLUSTER_DIR/node$N.sh.new" "$CLUSTER_DIR/node$N.sh"
: >"$CLUSTER_DIR/node$N.ready"
_sandbox_log "node$N: ready (sandbox $T)"

while [[ ! -e $CLUSTER_DIR/node$N.stop ]] && _sandbox_pid_alive "$CLUSTER_PARENT"; do
    sleep 0.5
done
_sandbox_log "node$N: ending"
exit 0
