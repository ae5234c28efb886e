# shellcheck shell=bash
#
# kubeadm.sh - a kubeadm-shaped node inside the sandbox of sandbox.sh and agent.sh (source it
# after both), shared by the kubeadm tests.
#
#   kubeadm_setup [--apiserver-standin]
#       the usual sandbox stopped and made kubeadm's, with no agent.conf: etcd's certificates in
#       /etc/kubernetes/pki/etcd, its data in /var/lib/etcd (a hostPath), etcd.yaml and
#       kube-apiserver.yaml in /etc/kubernetes/manifests run by the kubelet stand-in
#       (kubelet.service, lib/kubelet-standin.py), ETCD_* set for etcdctl_s. kube-apiserver is
#       `sleep infinity`, or with --apiserver-standin lib/kube-apiserver-standin.py on port
#       $aport (events in $T/apiserver.log, switches in $T/apiserver-switch). Returns once etcd
#       is healthy. $T/etcd.yaml is a copy of etcd's manifest.
#
#   static_pod_manifest FILE NAME COMMAND...
#       a Pod manifest as kubeadm's are shaped: one container NAME running COMMAND, hostNetwork
#   kubelet_standin_start DIR
#       kubelet.service: lib/kubelet-standin.py running the static pods of DIR
#
# Variables: pki, manifests, cport, pport, mport, aport.

[[ -n ${_KUBEADM_SH_LOADED:-} ]] && return 0
_KUBEADM_SH_LOADED=1

KUBEADM_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

static_pod_manifest() {
    local file=$1 name=$2; shift 2
    {
        printf '%s\n' 'apiVersion: v1' 'kind: Pod' 'metadata:' "  name: $name" '  namespace: kube-system' 'spec:' \
            '  containers:' '  - command:'
        printf '    - %s\n' "$@"
        printf '%s\n' "    name: $name" '  hostNetwork: true' '  terminationGracePeriodSeconds: 10'
    } >"$file"
}

kubelet_standin_start() {
    sandbox_user_unit kubelet.service <<UNIT
[Unit]
Description=kubelet stand-in (static pods of $1)
[Service]
ExecStart=/usr/bin/python3 $KUBEADM_LIB/kubelet-standin.py $1 0.5
KillMode=mixed
TimeoutStopSec=40
UNIT
    systemctl --user start kubelet.service
}

kubeadm_setup() {
# The usual sandbox (its etcd unit gives the certificates), then the node made kubeadm's.
agent_setup --tls
agent_stop
systemctl --user stop etcd.service
rm -f /etc/etcd-backup/agent.conf
pki=/etc/kubernetes/pki/etcd
manifests=/etc/kubernetes/manifests
mkdir -p "$pki" "$manifests"
cp "$T/pki/ca.crt" "$pki/ca.crt"
cp "$T/pki/server.crt" "$pki/server.crt"; cp "$T/pki/server.key" "$pki/server.key"
cp "$T/pki/server.crt" "$pki/peer.crt"; cp "$T/pki/server.key" "$pki/peer.key"
cp "$T/pki/client.crt" "$pki/healthcheck-client.crt"; cp "$T/pki/client.key" "$pki/healthcheck-client.key"
install -d -m 0700 /var/lib/etcd
cport=$(sandbox_free_port); pport=$(sandbox_free_port); mport=$(sandbox_free_port)

# As kubeadm writes it (kubeadm 1.29), with the test's ports; a few flags in the "--flag value"
# form. The advertised URL is not the loopback one, as on a real node.
cat >"$T/etcd.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://192.0.2.10:$cport
  creationTimestamp: null
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - /usr/bin/etcd
    - --advertise-client-urls=https://192.0.2.10:$cport
    - --cert-file=$pki/server.crt
    - --client-cert-auth=true
    - --data-dir
    - /var/lib/etcd
    - --initial-advertise-peer-urls=https://127.0.0.1:$pport
    - --initial-cluster=kubeadm-cp=https://127.0.0.1:$pport
    - --key-file=$pki/server.key
    - --listen-client-urls=https://127.0.0.1:$cport
    - --listen-metrics-urls=http://127.0.0.1:$mport
    - --listen-peer-urls=https://127.0.0.1:$pport
    - --name
    - kubeadm-cp
    - --peer-cert-file=$pki/peer.crt
    - --peer-client-cert-auth=true
    - --peer-key-file=$pki/peer.key
    - --peer-trusted-ca-file=$pki/ca.crt
    - --snapshot-count=10000
    - --trusted-ca-file=$pki/ca.crt
    - --logger=zap
    image: registry.k8s.io/etcd:3.5.12-0
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 127.0.0.1
        path: /health?exclude=NOSPACE&serializable=true
        port: $mport
        scheme: HTTP
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    name: etcd
    resources:
      requests:
        cpu: 100m
        memory: 100Mi
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
    - mountPath: $pki
      name: etcd-certs
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  terminationGracePeriodSeconds: 10
  volumes:
  - hostPath:
      path: $pki
      type: DirectoryOrCreate
    name: etcd-certs
  - hostPath:
      path: /var/lib/etcd
      type: DirectoryOrCreate
    name: etcd-data
status: {}
YAML
# kube-apiserver: `sleep infinity`, or the stand-in serving on its --secure-port.
local -a cmd=(/usr/bin/sleep infinity)
if [[ ${1:-} == --apiserver-standin ]]; then
    aport=$(sandbox_free_port)
    mkdir -p "$T/apiserver-switch"
    : >"$T/apiserver.log"
    cmd=(/usr/bin/python3 "$KUBEADM_LIB/kube-apiserver-standin.py" "--endpoint=https://127.0.0.1:$cport"
         "--cacert=$pki/ca.crt" "--cert=$pki/healthcheck-client.crt" "--key=$pki/healthcheck-client.key"
         "--log=$T/apiserver.log" "--switch-dir=$T/apiserver-switch" --start-timeout=60 --gone-timeout=600
         "--secure-port=$aport")
fi
static_pod_manifest "$manifests/kube-apiserver.yaml" kube-apiserver "${cmd[@]}"
cp "$T/etcd.yaml" "$manifests/etcd.yaml"

kubelet_standin_start "$manifests"
export ETCD_ENDPOINT=https://127.0.0.1:$cport ETCD_CACERT=$pki/ca.crt ETCD_CERT=$pki/healthcheck-client.crt \
    ETCD_KEY=$pki/healthcheck-client.key
wait_until 30 etcdctl_s endpoint health >/dev/null 2>&1 ||
    sandbox_bail "the kubelet stand-in's etcd is not healthy (see $SANDBOX_LOG_DIR/kubelet.service.log)"
}
