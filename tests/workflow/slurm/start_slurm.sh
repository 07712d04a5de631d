#!/bin/sh
# Start (or stop) a private single-node SLURM cluster for the workflow tests.
#
#   start_slurm.sh start DIR   # munged, slurmctld, slurmd; all state, logs, sockets under DIR
#   start_slurm.sh stop DIR    # stop the three daemons started in DIR
#
# Needs Debian's `slurm-wlm` and `munge` packages and root (slurmd must run as
# root to start jobs). Idempotent: `start` on a DIR whose cluster answers does
# nothing. Its own munge socket and key (under DIR) and its own ports keep it
# apart from any system-wide munge daemon. Exit status 0 when the node is idle
# and accepting jobs; otherwise non-zero with the daemon logs' tail on stderr.
#
# /etc/slurm/slurm.conf becomes a symbolic link to DIR/slurm.conf (removed by
# `stop`): Snakemake's job-step executor (snakemake-executor-plugin-slurm-jobstep
# 0.6) deletes SLURM_CONF from the environment of the `srun` it runs inside each
# job, so that srun only finds the compiled-in default path. A real
# /etc/slurm/slurm.conf (not a link made here) is never touched: start fails.
set -eu

usage() { echo "usage: $0 start|stop DIR" >&2; exit 64; }
[ $# -eq 2 ] || usage
action=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
conf=$dir/slurm.conf
export SLURM_CONF="$conf"

stop_pidfile() {
    if [ -s "$1" ]; then
        pid=$(cat "$1")
        if kill "$pid" 2>/dev/null; then
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
        fi
        rm -f "$1"
    fi
}

fail() {
    echo "start_slurm.sh: $1" >&2
    for log in "$dir/munged.log" "$dir/slurmctld.log" "$dir/slurmd.log"; do
        [ -f "$log" ] && { echo "--- tail of $log" >&2; tail -n 15 "$log" >&2; }
    done
    exit 1
}

case $action in
stop)
    [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$conf" ] && rm -f /etc/slurm/slurm.conf
    stop_pidfile "$dir/slurmd.pid"
    stop_pidfile "$dir/slurmctld.pid"
    stop_pidfile "$dir/munge/munged.pid"
    exit 0
    ;;
start) ;;
*) usage ;;
esac

for cmd in munged slurmctld slurmd scontrol sinfo; do
    command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$cmd" >/dev/null 2>&1 || fail "'$cmd' not found (install: apt-get install slurm-wlm munge)"
done
[ "$(id -u)" -eq 0 ] || fail "must run as root (slurmd starts jobs as their owner)"

# Already up? Then nothing to do.
if [ -f "$conf" ] && [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$conf" ] && scontrol ping 2>/dev/null | grep -q UP \
    && sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
    exit 0
fi

host=$(hostname -s)
cpus=${VTRIAL_SLURM_CPUS:-2}
# Advertise a bit less than the machine has: slurmd drains a node whose real
# memory is below RealMemory.
mem=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')
port=${VTRIAL_SLURM_PORT:-6917}
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@USER@|root|g" \
    -e "s|@CTLD_PORT@|$port|g" -e "s|@SLURMD_PORT@|$((port + 1))|g" \
    -e "s|@CPUS@|$cpus|g" -e "s|@MEM@|$mem|g" -e "s|@PARTITION@|vtrial|g" \
    "$here/slurm.conf.in" > "$conf"
mkdir -p /etc/slurm
previous=$(readlink /etc/slurm/slurm.conf 2>/dev/null || true)
if [ -n "$previous" ] && [ "$previous" != "$conf" ] && grep -q '^ClusterName=vtrial-test$' "$previous" 2>/dev/null; then
    # A test cluster started from another folder holds the ports: stop it.
    sh "$0" stop "$(dirname "$previous")"
fi
if [ -L /etc/slurm/slurm.conf ]; then
    grep -q '^ClusterName=vtrial-test$' /etc/slurm/slurm.conf 2>/dev/null \
        || [ ! -e /etc/slurm/slurm.conf ] \
        || fail "/etc/slurm/slurm.conf links to a configuration not made by this script"
    ln -sfn "$conf" /etc/slurm/slurm.conf
elif [ -e /etc/slurm/slurm.conf ]; then
    fail "/etc/slurm/slurm.conf exists (a site configuration); not replacing it"
else
    ln -s "$conf" /etc/slurm/slurm.conf
fi

# munge: a private key and socket (the key only has to be shared between the
# daemons and clients of this one node).
if ! munge -n -S "$dir/munge/munge.socket" >/dev/null 2>&1; then
    stop_pidfile "$dir/munge/munged.pid"
    [ -s "$dir/munge/munge.key" ] || {
        dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
        chmod 400 "$dir/munge/munge.key"
    }
    munged --force -S "$dir/munge/munge.socket" --key-file "$dir/munge/munge.key" \
        --pid-file "$dir/munge/munged.pid" --log-file "$dir/munged.log" \
        --seed-file "$dir/munge/munged.seed" || fail "munged did not start"
fi

stop_pidfile "$dir/slurmd.pid"
stop_pidfile "$dir/slurmctld.pid"
# -c: start clean (no jobs or node state from an earlier run).
slurmctld -c -f "$conf" || fail "slurmctld did not start"
slurmd -f "$conf" || fail "slurmd did not start"

i=0
until sinfo -h -o %T 2>/dev/null | grep -Eq '^idle'; do
    i=$((i + 1))
    [ $i -le 60 ] || fail "node did not become idle within 30 s (sinfo: $(sinfo -h -o '%T %E' 2>&1))"
    sleep 0.5
done
