#!/usr/bin/env bash
# A one-node Slurm cluster for CI and for trying deploy/slurm/ on one machine, as root, without
# systemd. Everything it writes (munge key and socket, slurm.conf, state, spool, logs, pid files)
# lies in one folder, so it touches no system-wide daemon and two clusters do not meet.
#
#   scripts/slurm-cluster.sh start DIR   install slurm-wlm and munge if missing, start munged,
#                                        slurmctld and slurmd; print `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm-cluster.sh stop DIR    cancel its jobs, scontrol shutdown, then stop each daemon by its pid file
#
# The node has this machine's cores (nproc) and one partition, `grading`, the default.
# Ports: SLURMCTLD_PORT / SLURMD_PORT, or two free ones.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf=$dir/slurm.conf

install_if_missing() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  "$(dirname "$0")/apt-install.sh" slurm-wlm munge || {
    echo "$0: slurm-wlm and munge are missing; install them as root: apt-get install slurm-wlm munge" >&2
    exit 1
  }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait up to $1 seconds for the command that follows to succeed.
wait_for() {
  local limit=$1; shift
  local t=0
  until "$@" >/dev/null 2>&1; do
    t=$((t + 1))
    if [ "$t" -ge "$((limit * 5))" ]; then return 1; fi
    sleep 0.2
  done
}

stop_pid_file() {
  local file=$1 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait_for 10 bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

start() {
  if [ "$(id -u)" != 0 ]; then
    echo "$0: the one-node cluster runs its daemons as root (SlurmUser=root); run it as root" >&2
    exit 1
  fi
  install_if_missing
  if [ -s "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    echo "$0: a cluster already runs from $dir; stop it first" >&2
    exit 1
  fi
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir/munge"

  # munge: a fresh key (1024 random bytes, mode 400) and a private socket.
  head -c 1024 /dev/urandom > "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  chown -R munge:munge "$dir/munge" 2>/dev/null || true
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
  wait_for 10 test -S "$dir/munge/munge.socket" || { echo "$0: munged did not start; see $dir/log/munged.log" >&2; exit 1; }

  local host cpus mem_mb ctld_port d_port
  host=$(hostname -s)
  cpus=$(nproc)
  mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
  ctld_port=${SLURMCTLD_PORT:-$(free_port)}
  d_port=${SLURMD_PORT:-$(free_port)}
  cat > "$conf" <<EOF
# Written by scripts/slurm-cluster.sh: a one-node cluster in $dir.
ClusterName=grading
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SchedulerParameters=sched_interval=1
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=grading Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

  slurmctld -f "$conf"
  wait_for 20 env SLURM_CONF="$conf" scontrol ping \
    || { echo "$0: slurmctld did not answer; see $dir/log/slurmctld.log" >&2; exit 1; }
  slurmd -f "$conf"
  wait_for 30 bash -c "SLURM_CONF='$conf' sinfo -h -N -o %t | grep -qE '^(idle|mix|alloc)'" \
    || { echo "$0: the node did not come up; see $dir/log/slurmd.log and slurmctld.log" >&2; exit 1; }
  echo "export SLURM_CONF=$conf"
}

stop() {
  if [ -f "$conf" ] && [ -s "$dir/slurmctld.pid" ]; then
    # Cancel what still runs (its steps get SIGTERM, then SIGKILL after KillWait), then stop.
    SLURM_CONF=$conf scancel --quiet --user="$(id -un)" 2>/dev/null || true
    wait_for 30 bash -c "[ -z \"\$(SLURM_CONF='$conf' squeue -h 2>/dev/null)\" ]" || true
    SLURM_CONF=$conf scontrol shutdown >/dev/null 2>&1 || true
  fi
  stop_pid_file "$dir/slurmd.pid"
  stop_pid_file "$dir/slurmctld.pid"
  stop_pid_file "$dir/munge/munged.pid"
}

case $action in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
