#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# stop-control-plane and rejoin on a kubeadm-shaped node with no agent.conf (lib/kubeadm.sh):
# etcd and kube-apiserver are static pods of the kubelet stand-in, etcd speaks TLS to clients
# and peers with kubeadm's certificates. A second etcd with the same certificates plays the
# restored cluster of the recovery node. stop-control-plane hides both manifests (the kubelet
# stops the pods, and nothing brings them back); rejoin puts etcd's manifest back with the
# cluster's membership and --initial-cluster-state=existing, and once etcd is a voting member
# in sync the original manifest is dropped and kube-apiserver's is back byte for byte: both
# members vote, HashKV is equal, the node serves the restored cluster's keys.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/restore.sh"
source "$(dirname "$0")/lib/kubeadm.sh"
sandbox_enter "$@"
plan_begin

kubeadm_setup --apiserver-standin
DATA_DIR=/var/lib/etcd
cp "$manifests/kube-apiserver.yaml" "$T/kube-apiserver.yaml"
apiserver_up() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$aport" 2>/dev/null; }
ok "the kube-apiserver stand-in answers on its --secure-port" wait_until 60 apiserver_up
etcdctl_s put /registry/old-cluster yes >/dev/null
NODE_ENDPOINT=$ETCD_ENDPOINT
agent_start

# The restored cluster: one member, TLS to clients and peers with the node's certificates.
ncport=$(sandbox_free_port); npport=$(sandbox_free_port)
mkdir -p "$T/etcd-new"
sandbox_user_unit etcd-new.service <<EOF
[Service]
Type=notify
ExecStart=/usr/bin/etcd --name etcd-new --data-dir $T/etcd-new/data --logger zap --log-outputs stderr \
  --listen-client-urls https://127.0.0.1:$ncport --advertise-client-urls https://127.0.0.1:$ncport \
  --listen-peer-urls https://127.0.0.1:$npport --initial-advertise-peer-urls https://127.0.0.1:$npport \
  --initial-cluster etcd-new=https://127.0.0.1:$npport --initial-cluster-token restored-$$ \
  --cert-file $pki/server.crt --key-file $pki/server.key --trusted-ca-file $pki/ca.crt --client-cert-auth \
  --peer-cert-file $pki/peer.crt --peer-key-file $pki/peer.key --peer-trusted-ca-file $pki/ca.crt --peer-client-cert-auth
EOF
systemctl --user start etcd-new.service || sandbox_bail "the restored cluster's etcd did not start"
NEW_ENDPOINT=https://127.0.0.1:$ncport
on_new() { etcdctl --endpoints="$NEW_ENDPOINT" --cacert="$ETCD_CACERT" --cert="$ETCD_CERT" --key="$ETCD_KEY" "$@"; }
on_node() { etcdctl --endpoints="$NODE_ENDPOINT" --cacert="$ETCD_CACERT" --cert="$ETCD_CERT" --key="$ETCD_KEY" "$@"; }
on_new put /registry/restored yes >/dev/null
voters() { on_new member list -w simple | awk -F', ' '$6 == "false" { print $3 }' | sort | xargs; }
learners() { on_new member list -w simple | awk -F', ' '$6 == "true"' | wc -l; }
hashkv() { "$1" endpoint hashkv --rev="$2" -w fields | sed -n 's/^"Hash" : //p'; }
rjson() { ctl --json list-restores | jq -r ".[0]$1"; }
manifests_listing() { ls -A "$manifests" | tr '\n' ' '; }

# ---- stop-control-plane ------------------------------------------------------------------------
ok "stop-control-plane completes" ctl stop-control-plane
is "$(rjson .kind) $(rjson .phase)" "stop completed" "  a Restore object of kind stop, completed"
is "$(manifests_listing)" ".etcd.yaml.etcd-backup-restore .kube-apiserver.yaml.etcd-backup-restore " \
    "  both manifests are out of the kubelet's sight"
ok "  etcd no longer answers" not on_node endpoint health --command-timeout=2s
sleep 2
ok "  and the kubelet did not start it again" not on_node endpoint health --command-timeout=2s
ok "  kube-apiserver is down" not apiserver_up

# ---- rejoin ----------------------------------------------------------------------------------------
out=$(ctl rejoin --endpoint="$NEW_ENDPOINT" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "rejoin through the restored cluster's client URL exits 0"
[[ $rc == 0 ]] || diag "$out"
is "$(rjson .kind) $(rjson .phase)" "rejoin completed" "  a Restore object of kind rejoin, completed"
is "$(voters)" "etcd-new kubeadm-cp" "  both are voting members of the restored cluster"
is "$(learners)" 0 "  no learner is left"
is "$(on_node get --print-value-only /registry/restored)" yes "  the node serves the restored cluster's keys"
is "$(on_node get --prefix --keys-only /registry/old-cluster)" "" "  not the old cluster's"
rev=$(on_new endpoint status -w fields | sed -n 's/^"Revision" : //p')
is "$(hashkv on_node "$rev")" "$(hashkv on_new "$rev")" "  HashKV at revision $rev is equal on both"
is "$(manifests_listing)" "etcd.yaml kube-apiserver.yaml " "  both manifests are back, no hidden copy left"
ok "  kube-apiserver's byte for byte" cmp "$T/kube-apiserver.yaml" "$manifests/kube-apiserver.yaml"
cluster_line=$(grep -- '- --initial-cluster=' "$manifests/etcd.yaml" | tr ',' '\n' | sed 's/.*--initial-cluster=//' | sort | xargs)
is "$cluster_line" "etcd-new=https://127.0.0.1:$npport kubeadm-cp=https://127.0.0.1:$pport" "  etcd's carries the cluster's membership"
ok "  and --initial-cluster-state=existing" grep -qx -- "    - --initial-cluster-state=existing" "$manifests/etcd.yaml"
is "$(diff "$T/etcd.yaml" "$manifests/etcd.yaml" | grep -c '^[<>]')" 3 "  and is otherwise kubeadm's (one line changed, one added)"
ok "  kube-apiserver answers again" wait_until 60 apiserver_up
ok "  the old member data is kept aside" test -d "$DATA_DIR"/member.before-rejoin-"$(rjson .id)"

restore_sane 0
