# shellcheck shell=bash
#
# cluster.sh - three etcd nodes in one test, each with all of its own: a sandbox nested in the
# test's (lib/cluster-node.sh: its own mount namespace and /run, so its own system bus, systemd
# user manager, polkitd, /etc, /var, agent.conf, storage), etcd.service as user etcd on
# /var/lib/etcd/default (member nodeN of ONE three-member cluster on loopback ports), the
# kube-apiserver stand-in and the agent. The test script itself is a sandbox (sandbox_enter) that
# gives TAP and teardown, installs the build once (the nodes' overlays lie on top of that install)
# and talks to each node by `node N CMD...`. Source it after sandbox.sh, agent.sh and restore.sh.
#
#   cluster_start                start the three nodes at once (a member's etcd is ready only
#                                once a quorum runs) and wait until each is ready
#   node N CMD...                run CMD (a program or a function of sandbox.sh, agent.sh,
#                                restore.sh) in node N: its mount namespace and environment
#                                (XDG_*, DBUS_*, ETCD_*: systemctl --user, busctl --system,
#                                etcdctl_s, ctl, rprop... all reach that node's)
#   node_sh N SCRIPT             the same for a bash script (functions included)
#   ectl N ARGS...               etcdctl (v3) against node N's client URL, from the test
#   cluster_members N            node N's member list: "NAME PEER_URL voter|learner" lines, sorted
#   cluster_id N                 the cluster id node N answers (hex)
#   cluster_hashkv N... --rev R  "NAME HASH" of each node N at revision R
#   cluster_stop_node N          end node N (its sandbox tears itself down)
#
# Variables: CLUSTER_DIR ($T/cluster), CLUSTER_ENDPOINT[N] (http://127.0.0.1:PORT),
# CLUSTER_PEER[N], CLUSTER_PID[N] (node N's process: its mount namespace), CLUSTER_INITIAL
# (node1=PEER1,node2=PEER2,node3=PEER3), CLUSTER_TOKEN. Node N's logs are in $T/logs/nodeN/ (its
# own output in node.log): in the test's logs, shown on failure, kept with KEEP_SANDBOX=1.

[[ -n ${_CLUSTER_SH_LOADED:-} ]] && return 0
_CLUSTER_SH_LOADED=1

CLUSTER_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER_NODES=(1 2 3)
declare -a CLUSTER_ENDPOINT CLUSTER_PEER CLUSTER_PID

cluster_start() {
    local n cport pport
    CLUSTER_DIR=$T/cluster
    mkdir -p "$CLUSTER_DIR"
    # One meson install for the three: in the test's overlays, below each node's.
    sandbox_install "$BUILD_DIR" || sandbox_bail "meson install failed (see $SANDBOX_LOG_DIR/meson-install.log)"
    CLUSTER_INITIAL=
    for n in "${CLUSTER_NODES[@]}"; do
        if ! cport=$(sandbox_free_port) || ! pport=$(sandbox_free_port); then
            sandbox_bail "no free port"
        fi
        CLUSTER_ENDPOINT[n]=http://127.0.0.1:$cport
        CLUSTER_PEER[n]=http://127.0.0.1:$pport
        CLUSTER_INITIAL+=${CLUSTER_INITIAL:+,}node$n=${CLUSTER_PEER[n]}
        echo "$cport $pport" >"$CLUSTER_DIR/node$n.ports"
    done
    CLUSTER_TOKEN=sandbox-cluster-$$
    export BUILD_DIR
    sandbox_on_exit _cluster_end
    for n in "${CLUSTER_NODES[@]}"; do
        mkdir -p "$SANDBOX_LOG_DIR/node$n"
        CLUSTER_DIR=$CLUSTER_DIR CLUSTER_PARENT=$$ CLUSTER_INITIAL=$CLUSTER_INITIAL \
            CLUSTER_TOKEN=$CLUSTER_TOKEN CLUSTER_PORTS=$(cat "$CLUSTER_DIR/node$n.ports") \
            SANDBOX_INSTALLED=$BUILD_DIR SANDBOX_LOGS=$SANDBOX_LOG_DIR/node$n \
            "$BASH" "$CLUSTER_LIB/cluster-node.sh" "$n" \
            </dev/null >>"$SANDBOX_LOG_DIR/node$n/node.log" 2>&1 {_SANDBOX_TAP_FD}>&- &
        CLUSTER_PID[n]=$!
        _sandbox_record_pid "node$n" "${CLUSTER_PID[n]}"
    done
    # Ready, or gone: a node that ended stops the wait.
    for n in "${CLUSTER_NODES[@]}"; do
        wait_until 180 _cluster_node_done "$n"
        [[ -e $CLUSTER_DIR/node$n.ready ]] ||
            sandbox_bail "node $n did not come up: $(grep -v '^<' "$SANDBOX_LOG_DIR/node$n/node.log" | tail -n 3 | tr '\n' ' ')"
    done
}

_cluster_node_done() { [[ -e $CLUSTER_DIR/node$1.ready ]] || ! _sandbox_pid_alive "${CLUSTER_PID[$1]}"; }

# node N CMD... : CMD in node N's mount namespace, with node N's environment only.
# shellcheck disable=SC2016  # expanded by the node's shell
node() {
    local n=$1; shift
    nsenter --target="${CLUSTER_PID[n]}" --mount -- \
        env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 "$BASH" -c 'source "$0" && "$@"' "$CLUSTER_DIR/node$n.sh" "$@"
}

# node_sh N SCRIPT : SCRIPT (bash, with the libraries' functions) in node N, as node does CMD.
# shellcheck disable=SC2016
node_sh() {
    local n=$1; shift
    nsenter --target="${CLUSTER_PID[n]}" --mount -- \
        env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 "$BASH" -c 'source "$0" && eval "$1"' "$CLUSTER_DIR/node$n.sh" "$1"
}

ectl() {
    local n=$1; shift
    ETCDCTL_API=3 etcdctl --endpoints="${CLUSTER_ENDPOINT[n]}" "$@"
}

# cluster_members N : "NAME PEER_URL voter|learner", one line a member, sorted. (Through the
# JSON output, but by its strings only: jq would round the 64-bit ids.)
cluster_members() {
    ectl "$1" member list -w json |
        jq -r '.members[] | "\(.name // "") \(.peerURLs | join(",")) \(if .isLearner then "learner" else "voter" end)"' | sort
}

# cluster_id N : the cluster id in hex, as `etcdctl member list` prints ids (64-bit: read as a
# string from the fields output, not through jq).
cluster_id() {
    local id
    id=$(ectl "$1" endpoint status -w fields | sed -n 's/^"ClusterID" : \([0-9]*\)$/\1/p')
    [[ -n $id ]] && printf '%x\n' "$id"
}

# cluster_hashkv N... --rev R : "nodeN HASH" a line (HASH not a number: the error); the same
# revision on each, so that the hashes compare what the members hold, whatever was written since.
# (Not the revision a restore compacted at: HashKV refuses a compacted revision.)
cluster_hashkv() {
    local -a nodes=()
    local rev='' n
    while (( $# )); do
        case $1 in
            --rev) rev=$2; shift 2 ;;
            *) nodes+=("$1"); shift ;;
        esac
    done
    for n in "${nodes[@]}"; do
        printf 'node%s %s\n' "$n" "$(ectl "$n" endpoint hashkv --rev="$rev" -w json 2>&1 | jq -r '.[0].HashKV.hash' 2>&1 | tr '\n' ' ')"
    done
}

cluster_stop_node() {
    : >"$CLUSTER_DIR/node$1.stop"
    wait_until 60 not _sandbox_pid_alive "${CLUSTER_PID[$1]}"
}

# Teardown, before the sandbox's own: every node ends at once and tears its sandbox down (its
# user manager stops etcd and the agent), each within a minute; one still there then gets
# SIGTERM from the sandbox's teardown (its trap tears it down just the same).
_cluster_end() {
    local n
    for n in "${CLUSTER_NODES[@]}"; do
        [[ -n ${CLUSTER_PID[n]:-} ]] && : >"$CLUSTER_DIR/node$n.stop"
    done
    for n in "${CLUSTER_NODES[@]}"; do
        [[ -n ${CLUSTER_PID[n]:-} ]] || continue
        wait_until 60 not _sandbox_pid_alive "${CLUSTER_PID[n]}" ||
            _sandbox_log "node $n did not end within 60 s"
    done
}
