#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A restore the agent does not finish: the agent SIGKILLed in each phase from staging on
# (held there by lib/restore-test-hold or the stand-in's stop delay), then started again by
# systemd (Restart=on-failure); and the same with a "reboot": every process of etcd, the
# stand-in, the helper's units and the agent killed at once, then etcd, the stand-in and the
# agent started as a boot starts them. Each time the restore must end in a final phase with
# Resumed=true, and etcd and the stand-in must run on one consistent data dir, per the rule of
# the phase it was in (RESTORE-DESIGN.md "Crash safety"):
#   staging                        -> failed (Interrupted), nothing was stopped, old data
#   stopping, swapping             -> rolled-back, old data (a swap already made is undone)
#   starting-etcd, -control-plane  -> completed, restored data
#   rolling-back                   -> rolled-back, old data
# SIGTERM during a restore does not abandon it: the agent exits once it is completed.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/restore.sh"
sandbox_enter "$@"
plan_begin

restore_setup

sandbox_etcd_put_keys 20
etcdctl_s put /registry/before v1 >/dev/null
backup=$(ctl backup)
keys_backup=$(printf '%s\n' /registry/before $(seq -f '/registry/test/key-%06g' 1 20) | sort)
kills=0

# What the node is before each scenario: /registry/after makes the old data tell from the backup.
prepare() {
    release
    standin_switch_off stop-delay
    standin_switch_off fail-start
    etcdctl_s put /registry/after "$1" >/dev/null
    keys_old=$(etcd_keys /registry)
    member_inode=$(stat -c %i "$DATA_DIR/member")
    etcd_inv=$(invocation etcd.service)
    standin_inv=$(invocation "$STANDIN_UNIT")
}

# crash_agent : SIGKILL, as the OOM killer or a bug would; systemd starts it again.
crash_agent() {
    local pid
    pid=$(agent_pid)
    kill -KILL "$pid"
    kills=$((kills + 1))
    wait_until 10 not _sandbox_pid_alive "$pid"
}

# reboot : every process of the restore's units killed at once, as a power loss would; then, as
# a boot does (and /run emptied of the holds), etcd, the stand-in and the agent started in one go.
reboot() {
    mkdir -p "$USER_UNIT_DIR/$AGENT_UNIT.d"
    printf '[Service]\nRestart=no\n' >"$USER_UNIT_DIR/$AGENT_UNIT.d/zz-no-restart.conf"
    systemctl --user daemon-reload
    systemctl --user kill --signal=KILL "$AGENT_UNIT" etcd.service "$STANDIN_UNIT" 'etcd-backup-restore-*' || true
    wait_until 20 bash -c "! systemctl --user is-active --quiet $AGENT_UNIT etcd.service $STANDIN_UNIT 'etcd-backup-restore-*'" ||
        diag "units still active after the kill: $(systemctl --user list-units --no-legend --state=active 'etcd*' 'kube*')"
    release
    rm "$USER_UNIT_DIR/$AGENT_UNIT.d/zz-no-restart.conf"
    systemctl --user reset-failed etcd.service "$STANDIN_UNIT" 'etcd-backup-restore-*' 2>/dev/null || true
    systemctl --user daemon-reload
    systemctl --user start --no-block etcd.service "$STANDIN_UNIT" "$AGENT_UNIT"
}

# consistent PATH PHASE old|new DESC : the end a resumed restore must reach.
consistent() {
    local path=$1 phase=$2 data=$3 desc=$4 want
    wait_until 60 busctl --system get-property "$AGENT_NAME" "$path" "$RESTORE_IFACE" Phase
    is "$(restore_wait "$path" 180)" "$phase" "$desc: the restore ends $phase"
    is "$(rprop "$path" Resumed)" true "  Resumed is true"
    ok "  etcd is active" wait_until 30 active etcd.service
    ok "  the stand-in is active" wait_until 60 active "$STANDIN_UNIT"
    if [[ $data == old ]]; then want=$keys_old; else want=$keys_backup; fi
    is "$(etcd_keys /registry)" "$want" "  etcd serves the $data keys, all of them"
    if [[ $data == old ]]; then
        is "$(stat -c %i "$DATA_DIR/member")" "$member_inode" "  from the old member dir"
        is "$(restore_leftovers | grep -v '^member.before-restore-')" "" "  no staging dir is left"
    else
        is "$(restore_leftovers | grep -v '^member.before-restore-')" "" "  no staging dir is left"
        is "$(rprop "$path" PreviousData)" "$DATA_DIR/member.before-restore-$(rprop "$path" Id)" "  PreviousData is member.before-restore-ID"
        is "$(stat -c %i "$(rprop "$path" PreviousData)")" "$member_inode" "  PreviousData is the old member dir"
    fi
    is "$(stat -c '%U:%G %a' "$DATA_DIR/member")" "etcd:etcd 700" "  the member dir is etcd's"
    is "$(busctl --system get-property "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" RunningRestore)" 'o "/"' \
        "  the agent runs no restore any more"
    is "$(systemctl --user list-units --no-legend --all 'etcd-backup-restore-*' | grep -c 'activ')" 0 \
        "  no helper unit is left running"
}

# scenario PHASE HOLD_WHEN HOLD_GLOB HELD_REGEX crash|reboot : a restore held in PHASE, then the
# crash. Sets p to the restore's path.
scenario() {
    local phase=$1 when=$2 glob=$3 regex=$4 how=$5
    hold "$when" "$glob"
    p=$(restore_start "$backup") || p=/
    if ! wait_until 90 held "$regex"; then
        diag "$phase: the restore was never held at '$regex' (phase $(rprop "$p" Phase))"
    fi
    is "$(rprop "$p" Phase)" "$phase" "$how in phase $phase"
    if [[ $how == crash ]]; then crash_agent; release; else reboot; fi
}

for how in crash reboot; do
    # staging: held after the helper's stage step, before the agent read what it staged
    prepare "$how-staging"
    scenario staging post 'etcd-backup-restore-*-stage*' 'post etcd-backup-restore-.*-stage' "$how"
    consistent "$p" failed old "$how in staging"
    is "$(rprop "$p" ErrorName)" "$E.Interrupted" "  ErrorName Interrupted"
    if [[ $how == crash ]]; then
        is "$(invocation etcd.service) $(invocation "$STANDIN_UNIT")" "$etcd_inv $standin_inv" \
            "  etcd and the stand-in were never stopped"
    fi

    # stopping: the stand-in takes 5 s to stop
    prepare "$how-stopping"
    standin_switch stop-delay 5
    : >"$STANDIN_LOG"
    p=$(restore_start "$backup") || p=/
    ok "$how in phase stopping: the stand-in is stopping" wait_until 60 grep -q '^stop ' "$STANDIN_LOG"
    is "$(rprop "$p" Phase)" stopping "  the restore is in phase stopping"
    if [[ $how == crash ]]; then crash_agent; else reboot; fi
    standin_switch_off stop-delay
    consistent "$p" rolled-back old "$how in stopping"

    # swapping: held after the helper's swap, before the agent knows it is done
    prepare "$how-swapping"
    scenario swapping post 'etcd-backup-restore-*-swap*' 'post etcd-backup-restore-.*-swap' "$how"
    consistent "$p" rolled-back old "$how in swapping (the swap made)"

    # starting-etcd: etcd's start held
    prepare "$how-starting-etcd"
    scenario starting-etcd pre etcd.service 'pre etcd.service' "$how"
    consistent "$p" completed new "$how in starting-etcd"

    # starting-control-plane: the stand-in's start held
    prepare "$how-starting-control-plane"
    scenario starting-control-plane pre "$STANDIN_UNIT" "pre $STANDIN_UNIT" "$how"
    consistent "$p" completed new "$how in starting-control-plane"

    # rolling-back: the stand-in fails to start once; the rollback's start of etcd is held
    prepare "$how-rolling-back"
    hold pre "$STANDIN_UNIT"
    p=$(restore_start "$backup") || p=/
    wait_until 90 held "pre $STANDIN_UNIT" || diag "rolling-back: never held at the stand-in's start"
    standin_switch fail-start once
    hold pre etcd.service
    release pre "$STANDIN_UNIT"
    wait_until 60 held 'pre etcd.service' || diag "rolling-back: never held at etcd's start"
    is "$(rprop "$p" Phase)" rolling-back "$how in phase rolling-back"
    if [[ $how == crash ]]; then crash_agent; release; else reboot; fi
    consistent "$p" rolled-back old "$how in rolling-back"
    ok "  with an ErrorName" test -n "$(rprop "$p" ErrorName)"
    if [[ $how == crash ]]; then
        # Not NRestarts: a busctl call right after a kill can bus-activate the agent before
        # systemd's own restart, and such a start resets the count. What matters is that the
        # agent never ended by itself: no failed exit, abort or crash, only the kills.
        ok "the agent exited only for the $kills kills" not grep -Eq \
            "$AGENT_UNIT: Main process exited, code=(dumped|exited, status=[1-9]|killed, status=(6|11)/)" \
            "$SANDBOX_LOG_DIR/user-manager.log"
    fi
done

# ---- SIGTERM -----------------------------------------------------------------------------------

prepare sigterm
hold pre "$STANDIN_UNIT"
p=$(restore_start "$backup") || p=/
wait_until 90 held "pre $STANDIN_UNIT" || diag "SIGTERM: never held at the stand-in's start"
pid=$(agent_pid)
systemctl --user stop --no-block "$AGENT_UNIT"
sleep 3
ok "SIGTERM during a restore: the agent is still there 3 s later" _sandbox_pid_alive "$pid"
is "$(rprop "$p" Phase)" starting-control-plane "  the restore goes on"
release
ok "  the agent exits once the restore is over" wait_until 120 not _sandbox_pid_alive "$pid"
is "$(systemctl --user show -P Result "$AGENT_UNIT")" success "  cleanly (not killed by a stop timeout)"
agent_start
is "$(rprop "$p" Phase)" completed "  the restore completed"
is "$(rprop "$p" Resumed)" false "  not by a resumed agent"
is "$(etcd_keys /registry)" "$keys_backup" "  etcd serves the restored keys"

restore_sane
