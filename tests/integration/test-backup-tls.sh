#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Backups from an etcd that requires client certificates (mutual TLS), and what an operator
# sees when the TLS part of agent.conf is wrong: a failed backup naming what to check, no file,
# the agent still up.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

agent_setup --tls
sandbox_etcd_put_keys 300
pki=/etc/kubernetes/pki/etcd

id=$(ctl backup)
ok "a backup over mutual TLS completes" test -n "$id"
file=$(ctl --json list-backups | jq -r '.[0].file')
zstd -q -d -c "$file" >"$T/snap.db"
etcdctl_s snapshot save "$T/etcdctl.db" >/dev/null 2>&1
ok "its snapshot is what etcdctl snapshot save writes over TLS" cmp "$T/snap.db" "$T/etcdctl.db"
ok "etcdctl snapshot status accepts it" env ETCDCTL_API=3 etcdctl snapshot status "$T/snap.db"
ok "verify says it is intact" ctl verify "$id"

# failing_backup NAME CONFIG ERROR_NAME PATTERN: with agent.conf's [Etcd] section replaced by
# CONFIG, a backup fails with ERROR_NAME and an Error matching PATTERN, and leaves no file.
failing_backup() {
    local name=$1 config=$2 error_name=$3 pattern=$4 path before
    agent_config "$config"
    agent_restart
    before=$(storage_files '*')
    path=$(busctl --system call $AGENT_NAME $AGENT_PATH $AGENT_MANAGER StartBackup s default | awk '{print $2}' | tr -d '"')
    wait_until 30 bash -c "[ \"\$(busctl --system get-property $AGENT_NAME $path $AGENT_BACKUP State)\" = 's \"failed\"' ]"
    is "$(prop "$path" ErrorName)" "$error_name" "$name: the backup fails with $error_name"
    diag "$(prop "$path" Error)"
    ok "$name: its Error says what to check" grep -Eq "$pattern" <<<"$(prop "$path" Error)"
    is "$(storage_files '*')" "$before" "$name: no file is left"
    ok "$name: the agent is still up" systemctl --user is-active --quiet "$AGENT_UNIT"
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/other-ca.key" \
    -out /etc/kubernetes/pki/etcd/other-ca.crt -days 1 -subj /CN=some-other-ca 2>/dev/null
failing_backup "a CA that did not sign etcd's certificate" "[Etcd]
Endpoint=$ETCD_ENDPOINT
TrustedCAFile=$pki/other-ca.crt
CertFile=$pki/healthcheck-client.crt
KeyFile=$pki/healthcheck-client.key" org.etcdbackup.Agent1.Error.EtcdUnavailable "TrustedCAFile="

failing_backup "no client certificate" "[Etcd]
Endpoint=$ETCD_ENDPOINT
TrustedCAFile=$pki/ca.crt" org.etcdbackup.Agent1.Error.EtcdUnavailable "$ETCD_ENDPOINT.*CertFile="

failing_backup "a client certificate that does not exist" "[Etcd]
Endpoint=$ETCD_ENDPOINT
TrustedCAFile=$pki/ca.crt
CertFile=$pki/missing.crt
KeyFile=$pki/healthcheck-client.key" org.etcdbackup.Agent1.Error.BadAgentConfig "Cannot read CertFile=$pki/missing.crt"

failing_backup "plain http to an etcd that wants TLS" "[Etcd]
Endpoint=${ETCD_ENDPOINT/https/http}" org.etcdbackup.Agent1.Error.EtcdUnavailable "https://"

agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT
TrustedCAFile=$pki/ca.crt
CertFile=$pki/healthcheck-client.crt
KeyFile=$pki/healthcheck-client.key"
agent_restart
ok "with the configuration fixed, backups work again" ctl backup
is "$(ctl --json list-backups | jq length)" 2 "two backups, all taken over TLS"

agent_sane
