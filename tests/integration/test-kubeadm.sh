#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A kubeadm-shaped node with no agent.conf at all: etcd and a kube-apiserver are static pods
# run by a kubelet stand-in from /etc/kubernetes/manifests, etcd with client certificates
# required, its certificates where kubeadm puts them, its data a hostPath. The agent reads
# everything from etcd's manifest, status says what and from where, a backup over mutual TLS
# holds etcd's data, and manifests it cannot use are reported with the file and the reason.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/kubeadm.sh"
sandbox_enter "$@"
plan_begin

kubeadm_setup
ok "the kubelet stand-in runs etcd from its manifest" grep -q "start etcd.yaml/etcd" "$SANDBOX_LOG_DIR/kubelet.service.log"
ok "no agent.conf at all" not test -e /etc/etcd-backup/agent.conf
sandbox_etcd_put_keys 200

agent_start
status=$(ctl status) || [ $? = 3 ] # 3: a configuration is not OK; this is about the settings
diag "$status"
json=$(ctl --json status) || [ $? = 3 ]
# detected KEY: "VALUE<TAB>SOURCE" of a key in status --json
detected() { jq -r --arg k "$1" '.detected[] | select(.key == $k) | "\(.value)\t\(.source)"' <<<"$json"; }
m=$manifests/etcd.yaml
is "$(detected Etcd.StaticPod)" "etcd	$m" "etcd is the static pod etcd, from its manifest"
is "$(detected Etcd.Endpoint)" "https://127.0.0.1:$cport	$m" "the endpoint: the loopback client URL of the manifest"
is "$(detected Etcd.TrustedCAFile)" "$pki/ca.crt	$m" "the CA: --trusted-ca-file"
is "$(detected Etcd.CertFile)" "$pki/healthcheck-client.crt	$m, healthcheck-client beside --trusted-ca-file" \
    "the client certificate: kubeadm's healthcheck-client"
is "$(detected Etcd.KeyFile)" "$pki/healthcheck-client.key	$m, healthcheck-client beside --trusted-ca-file" \
    "its key beside it"
is "$(detected Etcd.DataDir)" "/var/lib/etcd	$m" "the data dir: --data-dir on its hostPath (the '--flag value' form)"
is "$(detected Etcd.Name)" "kubeadm-cp	$m" "the member name: --name"
is "$(detected Etcd.InitialCluster)" "kubeadm-cp=https://127.0.0.1:$pport	$m" "the initial cluster"
is "$(detected Etcd.InitialAdvertisePeerURLs)" "https://127.0.0.1:$pport	$m" "the peer URLs"
is "$(detected Etcd.InitialClusterToken)" "etcd-cluster	default" "no --initial-cluster-token: etcd's default, which is the agent's"
is "$(detected ControlPlane.StaticPods)" "kube-apiserver	$manifests/kube-apiserver.yaml" "the control plane: the kube-apiserver static pod"
is "$(detected ControlPlane.Units)" "	default" "and no unit"
is "$(detected Storage.Directory)" "/var/lib/etcd-backup	default" "what no one sets is the default"
is "$(jq -r .endpoint <<<"$json")" "https://127.0.0.1:$cport" "the Endpoint property says it too"
is "$(jq -r .detection_error <<<"$json")" null "no detection error"
ok "status shows the endpoint and where it came from" \
    grep -Eq "^  Etcd\.Endpoint +https://127\.0\.0\.1:$cport \(from $m\)$" <<<"$status"
ok "status shows the client certificate and why" \
    grep -Eq "^  Etcd\.CertFile +$pki/healthcheck-client\.crt \(from $m, healthcheck-client beside --trusted-ca-file\)$" <<<"$status"

id=$(ctl backup)
ok "a backup over mutual TLS completes, with no agent.conf" test -n "$id"
file=$(ctl --json list-backups | jq -r '.[0].file')
zstd -q -d -c "$file" >"$T/snap.db"
rev=$(etcdctl_s endpoint status -w json | jq '.[0].Status.header.revision')
is "$(ETCDCTL_API=3 etcdctl snapshot status -w json "$T/snap.db" | jq .revision)" "$rev" "the backup holds etcd's data at its revision"
ETCDCTL_API=3 etcdctl snapshot restore "$T/snap.db" --data-dir "$T/restored" --name kubeadm-cp \
    --initial-cluster "kubeadm-cp=https://127.0.0.1:$pport" --initial-advertise-peer-urls "https://127.0.0.1:$pport" \
    >/dev/null 2>&1
ok "etcdctl snapshot restore makes a member dir of it" test -s "$T/restored/member/snap/db"
ok "its keys are there" grep -aq "/registry/test/key-000199" "$T/restored/member/snap/db"

# Manifests the agent cannot use: a reload keeps the configuration in force, and says why.
# broken NAME REASON_PATTERN : with etcd.yaml as on stdin, a reload is refused with the file
# and a reason matching REASON_PATTERN, the agent runs on, and the agent refuses to start.
broken() {
    local name=$1 pattern=$2 err out
    cat >"$m.new" && mv "$m.new" "$m"
    systemctl --user reload "$AGENT_UNIT"
    # The reload is asynchronous: wait for this manifest's error, not the last one's.
    wait_until 10 bash -c "busctl --system get-property $AGENT_NAME $AGENT_PATH $AGENT_MANAGER DetectionError | grep -Eq -e '$pattern'" || true
    err=$(busctl --system get-property $AGENT_NAME $AGENT_PATH $AGENT_MANAGER DetectionError)
    diag "$name: $err"
    ok "$name: DetectionError names the file and the reason" grep -Eq -e "\"$m: .*$pattern" <<<"$err"
    is "$(ctl --json status | jq -r .endpoint)" "https://127.0.0.1:$cport" "$name: the configuration in force stays"
    ok "$name: status shows the error" grep -q "Error: $m: " <<<"$(ctl status)"
    ok "$name: the log names the file and the reason" grep -Eq -e "static pod manifest $m: .*$pattern" \
        "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"
    # A start with it fails before the bus is touched, saying the same.
    if out=$(/usr/libexec/etcd-backup/etcd-backupd 2>&1); then
        ok "$name: the agent refuses to start" false
    else
        ok "$name: the agent refuses to start, naming the file and the reason" grep -Eq -e "$m: .*$pattern" <<<"$out"
    fi
}
broken "not YAML" "not YAML: line 1" <<<'{{{ : not yaml'
broken "no command" "line 7: a container has no command" <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: etcd
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.12-0
  hostNetwork: true
YAML
broken "data dir not on a hostPath" "--data-dir=/data-in-container is not on a hostPath volume" \
    < <(sed 's|^    - /var/lib/etcd$|    - /data-in-container|' "$T/etcd.yaml")
broken "not the host's network" "is not hostNetwork: true" < <(sed 's|^  hostNetwork: true$|  hostNetwork: false|' "$T/etcd.yaml")
broken "a huge file" "larger than 256 KiB" < <(head -c 300000 /dev/zero | tr '\0' '#')
mv "$pki/healthcheck-client.key" "$pki/.hidden.key"
broken "no healthcheck-client key" "healthcheck-client pair is not beside its CA" <"$T/etcd.yaml"
mv "$pki/.hidden.key" "$pki/healthcheck-client.key"

# Fixed again: the reload takes it, the error is gone, backups work.
cp "$T/etcd.yaml" "$m.new" && mv "$m.new" "$m"
systemctl --user reload "$AGENT_UNIT"
wait_until 10 bash -c "[ \"\$(busctl --system get-property $AGENT_NAME $AGENT_PATH $AGENT_MANAGER DetectionError)\" = 's \"\"' ]"
is "$(busctl --system get-property $AGENT_NAME $AGENT_PATH $AGENT_MANAGER DetectionError)" 's ""' "fixed: no detection error"
wait_until 30 etcdctl_s endpoint health >/dev/null 2>&1
ok "the kubelet stand-in stopped etcd when its manifest changed" grep -q "stop etcd.yaml/etcd" "$SANDBOX_LOG_DIR/kubelet.service.log"
ok "fixed: a backup works again" ctl backup

agent_sane
