#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A restore where etcd is a unit and part of the control plane a static pod (as on Kubespray or
# Typhoon): the restore node of lib/restore.sh, plus a second kube-apiserver stand-in run by the
# kubelet stand-in from a manifest directory ([ControlPlane] StaticPods=, ManifestDirectory=).
# The pod goes down (its port refused) before etcd.service stops, comes back after etcd is
# active again, and its manifest is back byte for byte with no hidden copy left.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/restore.sh"
source "$(dirname "$0")/lib/kubeadm.sh"
sandbox_enter "$@"
plan_begin

restore_setup
manifests=/etc/kubernetes/manifests  # where the agent sees it (its /tmp is private)
mkdir -p "$manifests" "$T/pod-switch"
: >"$T/pod.events"
aport=$(sandbox_free_port)
static_pod_manifest "$manifests/kube-apiserver.yaml" kube-apiserver /usr/bin/python3 "$RESTORE_LIB/kube-apiserver-standin.py" \
    "--endpoint=$ETCD_ENDPOINT" "--log=$T/pod.events" "--switch-dir=$T/pod-switch" --start-timeout=60 --gone-timeout=600 \
    "--secure-port=$aport"
cp "$manifests/kube-apiserver.yaml" "$T/kube-apiserver.yaml"
kubelet_standin_start "$manifests"
pod_up() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$aport" 2>/dev/null; }
ok "the static pod's stand-in answers on its --secure-port" wait_until 60 pod_up
restore_agent_conf "StaticPods=kube-apiserver
ManifestDirectory=$manifests"

sandbox_etcd_put_keys 20
backup=$(ctl backup)
rev_b=$(backup_revision "$backup")
keys_backup=$(etcd_keys /registry)
etcdctl_s put /registry/after v1 >/dev/null
: >"$T/pod.events"

out=$(ctl restore "$backup" 2>"$T/restore.err") && rc=0 || rc=$?
is "$rc" 0 "etcd-backupctl restore with etcd a unit and a static pod exits 0"
[[ $rc == 0 ]] || diag "$out" "$(cat "$T/restore.err")"
is "$(etcd_keys /registry)" "$keys_backup" "  the backup's keys are back"
is "$(etcd_revision)" "$(( rev_b + BUMP_DEFAULT ))" "  at the backup's revision plus the bump"
ok "  the manifest is back byte for byte" cmp "$T/kube-apiserver.yaml" "$manifests/kube-apiserver.yaml"
is "$(ls -A "$manifests" | tr '\n' ' ')" "kube-apiserver.yaml " "  no hidden manifest is left"
ok "  the static pod answers again" wait_until 60 pod_up
ok "  the unit stand-in runs" active "$STANDIN_UNIT"
# The pod's events (CLOCK_MONOTONIC ns) against etcd.service's (us).
pod_stop=$(awk '$1 == "stop" { print $2; exit }' "$T/pod.events")
pod_ready=$(awk '$1 == "ready" { print $2 }' "$T/pod.events" | tail -1)
pod_stop=$(( ${pod_stop:-0} / 1000 )) pod_ready=$(( ${pod_ready:-0} / 1000 ))
etcd_down=$(unit_ts etcd.service InactiveEnterTimestampMonotonic)
etcd_up=$(unit_ts etcd.service ActiveEnterTimestampMonotonic)
diag "pod stop $pod_stop ready $pod_ready; etcd inactive $etcd_down active $etcd_up"
ok "  the pod stopped before etcd" test "$pod_stop" -gt 0 -a "$pod_stop" -lt "$etcd_down"
ok "  the pod was ready again after etcd" test "$pod_ready" -gt "$etcd_up"

restore_sane
