#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-package.sh - the Debian package, as a user gets it: built with dpkg-buildpackage from a
# clean copy of the source tree (or PACKAGE_DEB=path/to.deb with its .changes next to it),
# lintian-clean, with the paths of INTERFACE.md in it and never /etc/systemd/system.control;
# then installed, removed and purged with dpkg inside the sandbox's overlays (nothing on the
# machine changes): the units and the bus policy land, the agent is enabled, remove takes the
# timers the agent made and their drop-ins away, purge its configurations and state, and a
# backup file stays through both.
#
# Between dpkg -i and dpkg -r the installed agent runs, from the installed files only (no meson
# install; lib/restore.sh's restore_setup --installed): a private system bus with the installed
# policy, a systemd user manager with the installed units, polkitd, etcd as user etcd and the
# stand-in kube-apiserver; etcd-backupctl sets the default configuration's schedule, takes a
# backup (verify, list-backups) and restores it. The agent then stops, and what it wrote for the
# user manager (its timer's drop-in in the control directory, the timer's enablement link) moves,
# unchanged, to where the system manager has it, for the package's scripts to handle.

# The build takes a few minutes on a loaded machine (DEB_BUILD_OPTIONS=nocheck: the unit suite
# runs in its own tests); meson's timeout for this test is 1800 s.
# Run as root: bash tests/integration/test-package.sh   (TAP on stdout)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib/sandbox.sh
. "$HERE/lib/sandbox.sh"
sandbox_enter "$@"
plan_begin

# --- build ---------------------------------------------------------------------------------
if [[ -n ${PACKAGE_DEB:-} ]]; then
    deb=$PACKAGE_DEB
    changes=$(ls "$(dirname "$deb")"/etcd-backup-agent_*.changes 2>/dev/null | head -n1)
else
    mkdir -p "$T/pkg/etcd-backup-agent"
    # A clean copy: the tree without build dirs or VCS data, as a release tarball has it.
    tar -C "$SRC" --exclude='./build*' --exclude='./obj-*' --exclude=./.git -cf - . |
        tar -C "$T/pkg/etcd-backup-agent" -xf -
    start=$SECONDS
    ok "dpkg-buildpackage -us -uc -b builds the package" \
        bash -c 'cd "$1" && DEB_BUILD_OPTIONS=nocheck nice dpkg-buildpackage -us -uc -b >"$2" 2>&1 || { tail -n 40 "$2"; exit 1; }' \
        _ "$T/pkg/etcd-backup-agent" "$SANDBOX_LOG_DIR/dpkg-buildpackage.log"
    diag "built in $((SECONDS - start)) s"
    deb=$(ls "$T"/pkg/etcd-backup-agent_*.deb 2>/dev/null | head -n1)
    changes=$(ls "$T"/pkg/etcd-backup-agent_*.changes 2>/dev/null | head -n1)
fi
[[ -f $deb ]] || sandbox_bail "no .deb (PACKAGE_DEB=${PACKAGE_DEB:-})"

# --- lintian: no error, no warning (an info tag is explained in debian/README.source) ------
if [[ -f $changes ]]; then
    lintian "$changes" >"$T/lintian.out" 2>&1
    ok "lintian: no error or warning" not grep -E '^[EW]: ' "$T/lintian.out"
    [[ -s $T/lintian.out ]] && diag "$(cat "$T/lintian.out")"
else
    skip "lintian: no error or warning" "no .changes next to $deb"
fi

# --- the file list -------------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' >"$T/files"
expected=(
    /usr/bin/etcd-backupctl
    /usr/libexec/etcd-backup/etcd-backupd
    /usr/libexec/etcd-backup/etcd-backup-restore-helper
    /lib/systemd/system/etcd-backupd.service
    /lib/systemd/system/etcd-backup@.service
    /lib/systemd/system/etcd-backup@.timer
    /usr/share/dbus-1/system.d/org.etcdbackup.Agent1.conf
    /usr/share/dbus-1/system-services/org.etcdbackup.Agent1.service
    /usr/share/dbus-1/interfaces/org.etcdbackup.Agent1.xml
    /usr/share/polkit-1/actions/org.etcdbackup.agent1.policy
    /usr/share/man/man1/etcd-backupctl.1.gz
    /usr/share/man/man5/etcd-backupd.conf.5.gz
    /usr/share/man/man8/etcd-backupd.8.gz
    /usr/share/bash-completion/completions/etcd-backupctl
    /usr/lib/systemd/catalog/etcd-backup.catalog
    /usr/share/doc/etcd-backup-agent/copyright
)
missing=()
for f in "${expected[@]}"; do grep -qxF "$f" "$T/files" || missing+=("$f"); done
is "${missing[*]}" "" "the package has every path of INTERFACE.md"
ok "the package owns nothing of systemd's control directory" not grep -E '^/etc/systemd' "$T/files"

# --- install, remove, purge in the overlays ------------------------------------------------
sandbox_overlay_system
# As in a chroot: no service is started or reloaded by a maintainer script (the machine's own
# dbus included); deb-systemd-invoke and invoke-rc.d both honour policy-rc.d.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

ok "dpkg -i installs the package" dpkg -i "$deb"
ok "the units are installed" test -f /lib/systemd/system/etcd-backupd.service -a -f /lib/systemd/system/etcd-backup@.timer
ok "the bus policy and activation file are installed" \
    test -f /usr/share/dbus-1/system.d/org.etcdbackup.Agent1.conf -a -f /usr/share/dbus-1/system-services/org.etcdbackup.Agent1.service
ok "the polkit actions are installed" test -f /usr/share/polkit-1/actions/org.etcdbackup.agent1.policy
ok "etcd-backupd.service is enabled" test -L /etc/systemd/system/multi-user.target.wants/etcd-backupd.service

# --- the installed agent, run: only the files dpkg put there ------------------------------
# The private system bus with the installed policy and activation file, a user manager with
# the installed units linked in, polkitd with the installed actions, an etcd as user etcd on
# Debian's data dir and the stand-in kube-apiserver: restore_setup, told the project is
# installed already (no meson install, no sanitizer drop-ins: this .deb is a plain build).
# shellcheck source=lib/agent.sh
. "$HERE/lib/agent.sh"
# shellcheck source=lib/restore.sh
. "$HERE/lib/restore.sh"
restore_setup --installed --default-timer
# StateDirectory= of a user manager is below $XDG_STATE_HOME; the system manager's is
# /var/lib/etcd-backup, where the package's scripts look: the agent's state goes there.
printf '[Service]\nEnvironment=STATE_DIRECTORY=%s\n' "$STORAGE" >"$USER_UNIT_DIR/$AGENT_UNIT.d/package.conf"
systemctl --user daemon-reload
agent_restart

is "$(readlink "/proc/$(agent_pid)/exe")" /usr/libexec/etcd-backup/etcd-backupd "the agent runs the installed etcd-backupd"
is "$(dpkg -S /usr/libexec/etcd-backup/etcd-backupd /usr/bin/etcd-backupctl /lib/systemd/system/etcd-backupd.service 2>&1 | cut -d: -f1 | sort -u)" \
    etcd-backup-agent "the agent, etcd-backupctl and the unit run are the package's files"
is "$(command -v etcd-backupctl)" /usr/bin/etcd-backupctl "etcd-backupctl is the installed one"

# The default configuration, rescheduled away from the next :00/:20/:40 (a backup of its own
# timer would race the restore below): the agent writes it and its timer's drop-in.
ok "set-config default --schedule= succeeds" ctl set-config default --schedule="@every 12h from 03:00"
ok "the agent wrote the default configuration" grep -qx 'Schedule=@every 12h from 03:00' /etc/etcd-backup/configs/default.conf
timer=etcd-backup@default.timer
ok "the default configuration's timer has the agent's drop-in" \
    wait_until 20 test -f "$CONTROL_DIR/$timer.d/50-etcd-backup.conf"
ok "  with its calendar" grep -qx "OnCalendar=03/12:00" "$CONTROL_DIR/$timer.d/50-etcd-backup.conf"
diag "$(cat "$CONTROL_DIR/$timer.d/50-etcd-backup.conf")"
is "$(systemctl --user is-enabled "$timer")" enabled "the default configuration's timer is enabled"
ok "  and listed by list-timers" wait_until 20 bash -c "systemctl --user list-timers --all --no-legend | grep -qF '$timer'"

# A backup, through the installed etcd-backupctl.
sandbox_etcd_put_keys 5
id=$(ctl backup)
ok "etcd-backupctl backup prints a backup id" grep -Eqx '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}' <<<"$id"
backup=$(ctl --json list-backups | jq -r --arg id "$id" '.[] | select(.id == $id) | .file')
ok "list-backups shows it" test -n "$backup"
ok "its file is in $STORAGE" bash -c '[[ $1 == "$2"/default-*.db.zst && -f $1 ]]' _ "$backup" "$STORAGE"
ok "etcd-backupctl verify passes" ctl verify "$id"
ok "the agent wrote its state in $STORAGE" test -f "$STORAGE/last-backups"
sha_before=$(sha256sum <"$backup")

# A restore of it: the keys written after it go, the revision is bumped.
rev_b=$(backup_revision "$id")
keys_backup=$(etcd_keys /registry)
etcdctl_s put /registry/after v1 >/dev/null
out=$(ctl restore "$id" 2>"$T/restore.err") && rc=0 || rc=$?
is "$rc" 0 "etcd-backupctl restore exits 0"
[[ $rc == 0 ]] || diag "$out" "$(cat "$T/restore.err")"
is "$(ctl --json list-restores | jq -r '.[0].phase')" completed "  the restore is completed"
is "$(etcd_get /registry/after)" "" "  the key written after the backup is gone"
is "$(etcd_keys /registry)" "$keys_backup" "  the backup's keys are back"
is "$(etcd_revision)" "$(( rev_b + BUMP_DEFAULT ))" "  at the backup's revision plus the bump"
ok "  kube-apiserver's stand-in runs again" active "$STANDIN_UNIT"
ok "the agent wrote the restore's journal in $STORAGE/restores" \
    bash -c 'compgen -G "$1/restores/*" >/dev/null' _ "$STORAGE"
agent_sane
agent_stop

# What the agent wrote for the user manager goes where the system manager has it, unchanged:
# its control directory (below $XDG_CONFIG_HOME here) and timers.target.wants (the manager's
# enablement link), which is what the package's prerm handles.
control=/etc/systemd/system.control
wants=/etc/systemd/system/timers.target.wants
mkdir -p "$control" "$wants"
mv "$CONTROL_DIR/$timer.d" "$control/"
mv "$USER_UNIT_DIR/timers.target.wants/$timer" "$wants/"
printf '[Service]\nCPUWeight=50\n' >"$control/$timer.d/60-admin.conf"   # not ours
mkdir -p "$control/other.service.d"
printf '[Service]\nNice=5\n' >"$control/other.service.d/50-other.conf"  # not ours

# A reinstall runs the scripts of an upgrade (prerm upgrade): the agent's timers stay.
ok "dpkg -i again (an upgrade's scripts) succeeds" dpkg -i "$deb"
ok "upgrade: the timer the agent made stays enabled, with its drop-in" \
    test -L "$wants/$timer" -a -f "$control/$timer.d/50-etcd-backup.conf"

ok "dpkg -r removes the package" dpkg -r etcd-backup-agent
ok "remove: the unit files are gone" not test -e /lib/systemd/system/etcd-backup@.timer
ok "remove: the timer the agent made is disabled" not test -L "$wants/$timer"
ok "remove: its drop-in is gone" not test -e "$control/$timer.d/50-etcd-backup.conf"
ok "remove: drop-ins of others are kept" test -f "$control/$timer.d/60-admin.conf" -a -f "$control/other.service.d/50-other.conf"
ok "remove: the configurations stay (until purge)" test -f /etc/etcd-backup/configs/default.conf
ok "remove: the state stays (until purge)" test -f /var/lib/etcd-backup/last-backups -a -d /var/lib/etcd-backup/restores
is "$(sha256sum <"$backup" 2>&1)" "$sha_before" "remove: the backup file is kept, unchanged"

dpkg -P etcd-backup-agent >"$T/purge.out" 2>&1
ok "dpkg -P purges the package" not dpkg-query -W -f='${Status}\n' etcd-backup-agent
ok "purge: the configurations the agent made are gone" not test -e /etc/etcd-backup/configs
ok "purge: the state is gone" not test -e /var/lib/etcd-backup/last-backups -o -e /var/lib/etcd-backup/restores
is "$(sha256sum <"$backup" 2>&1)" "$sha_before" "purge: the backup file is kept, unchanged"
ok "purge: says that backups are kept" grep -q 'backups are never removed: /var/lib/etcd-backup is kept' "$T/purge.out"
ok "purge: systemd's control directory stays" test -d "$control/other.service.d"
