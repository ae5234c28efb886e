#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A restore on a kubeadm-shaped node with no agent.conf (lib/kubeadm.sh): etcd and kube-apiserver
# are static pods of the kubelet stand-in. etcd-backupctl restore stops them by moving their
# manifests out of the kubelet's sight (kube-apiserver first), swaps the data, puts etcd's
# manifest back and waits for etcd, then kube-apiserver's; the keys are the backup's, the
# revision is bumped, both manifests are back byte for byte and no hidden copy is left. Then the
# agent is SIGKILLed while both manifests are hidden: started again, it puts them back and the
# control plane runs.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/restore.sh"
source "$(dirname "$0")/lib/kubeadm.sh"
sandbox_enter "$@"
plan_begin

kubeadm_setup --apiserver-standin
DATA_DIR=/var/lib/etcd
_restore_holds_setup
cp "$manifests/kube-apiserver.yaml" "$T/kube-apiserver.yaml"
KLOG=$SANDBOX_LOG_DIR/kubelet.service.log
apiserver_up() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$aport" 2>/dev/null; }
ok "the kube-apiserver stand-in answers on its --secure-port" wait_until 60 apiserver_up

sandbox_etcd_put_keys 20
agent_start
backup=$(ctl backup)
ok "a backup with no agent.conf" test -n "$backup"
rev_b=$(backup_revision "$backup")
keys_backup=$(etcd_keys /registry)
etcdctl_s put /registry/after v1 >/dev/null
manifests_listing() { ls -A "$manifests" | tr '\n' ' '; }

# ---- a restore ----------------------------------------------------------------------------------
klog_from=$(wc -l <"$KLOG")
out=$(ctl restore "$backup" 2>"$T/restore.err") && rc=0 || rc=$?
is "$rc" 0 "etcd-backupctl restore on static pods exits 0"
[[ $rc == 0 ]] || diag "$out" "$(cat "$T/restore.err")"
is "$(etcd_get /registry/after)" "" "  the key written after the backup is gone"
is "$(etcd_keys /registry)" "$keys_backup" "  the backup's keys are back"
is "$(etcd_revision)" "$(( rev_b + BUMP_DEFAULT ))" "  at the backup's revision plus the bump"
ok "  etcd's manifest is back byte for byte" cmp "$T/etcd.yaml" "$manifests/etcd.yaml"
ok "  kube-apiserver's manifest is back byte for byte" cmp "$T/kube-apiserver.yaml" "$manifests/kube-apiserver.yaml"
is "$(manifests_listing)" "etcd.yaml kube-apiserver.yaml " "  no hidden manifest is left"
ok "  kube-apiserver answers again" wait_until 60 apiserver_up
# The kubelet's own account, in order: the lines of this restore.
events=$(tail -n +"$((klog_from + 1))" "$KLOG" | grep -oE '^[^ ]+ (stopped|start) [a-z-]+\.yaml' | awk '{ print $2 "-" $3 }' |
    tr '\n' ' ')
diag "kubelet: $events"
is "$events" "stopped-kube-apiserver.yaml stopped-etcd.yaml start-etcd.yaml start-kube-apiserver.yaml " \
    "  the kubelet stopped kube-apiserver, then etcd, and started etcd, then kube-apiserver"
is "$(ctl --json list-restores | jq -r '.[0].phase')" completed "  the restore is completed"

# ---- the agent killed while the manifests are hidden ---------------------------------------------
etcdctl_s put /registry/after v2 >/dev/null
keys_old=$(etcd_keys /registry)
hold pre 'etcd-backup-restore-*-swap-new.service'
p=$(restore_start "$backup") || p=/
ok "a second restore is held in swapping" wait_until 120 held 'pre etcd-backup-restore-.*-swap-new'
is "$(rprop "$p" Phase)" swapping "  in phase swapping"
is "$(manifests_listing)" ".etcd.yaml.etcd-backup-restore .kube-apiserver.yaml.etcd-backup-restore " \
    "  both manifests are hidden"
ok "  kube-apiserver is down" not apiserver_up
pid=$(agent_pid)
kill -KILL "$pid"
release
wait_until 60 bash -c "[ \"\$(systemctl --user show -P MainPID $AGENT_UNIT)\" != $pid ] && [ \"\$(systemctl --user show -P MainPID $AGENT_UNIT)\" != 0 ]" ||
    agent_start
phase=$(restore_wait "$p" 300)
is "$phase" rolled-back "  started again, the agent rolls the restore back"
is "$(rprop "$p" Resumed)" true "  Resumed=true"
ok "  etcd's manifest is back byte for byte" cmp "$T/etcd.yaml" "$manifests/etcd.yaml"
ok "  kube-apiserver's manifest is back byte for byte" cmp "$T/kube-apiserver.yaml" "$manifests/kube-apiserver.yaml"
is "$(manifests_listing)" "etcd.yaml kube-apiserver.yaml " "  no hidden manifest is left"
is "$(etcd_keys /registry)" "$keys_old" "  etcd runs on the data it had"
ok "  kube-apiserver answers again" wait_until 60 apiserver_up

agent_sane 1 # the SIGKILL above
