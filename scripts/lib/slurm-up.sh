#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for tests/sweep_slurm.rs and docs/cluster-sweeps.md.
# Installs Debian's slurm-wlm and munge, writes /etc/slurm/slurm.conf (this host as controller and
# as its one node, with the CPUs and memory `slurmd -C` reads) and starts munged, slurmctld and
# slurmd: through systemd when it is PID 1, directly otherwise (no cgroups needed: linuxproc
# process tracking, no task plugin). Idempotent: a second run finds the daemons up and leaves them;
# a changed configuration restarts them. Needs root; as another user it re-runs itself with sudo.
# A slurm.conf this script did not write is left alone (that cluster is used as it is).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi

conf=/etc/slurm/slurm.conf
marker="# Written by testbed's scripts/lib/slurm-up.sh"
statedir=/var/lib/slurm/slurmctld   # Debian's package creates both, owned by the slurm user
spooldir=/var/lib/slurm/slurmd
logdir=/var/log/slurm
say() { echo "slurm-up: $*"; }
die() { echo "slurm-up: $*" >&2; exit 1; }

# --- packages: non-interactive, waiting for another apt's lock, three tries ---
apt_install() {
  local try
  for try in 1 2 3; do
    if apt-get -o DPkg::Lock::Timeout=300 update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@"; then
      return 0
    fi
    say "apt-get install $* failed (try $try of 3)"
    [ "$try" = 3 ] || sleep 10
  done
  return 1
}
need=()
for tool in slurmctld slurmd sbatch; do command -v "$tool" >/dev/null || need=(slurm-wlm); done
command -v munged >/dev/null || need+=(munge)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt_install "${need[@]}" || die "could not install ${need[*]}"
fi

# systemd as PID 1 runs the daemons through its units; anything else (a container, a VM whose
# init is not systemd) gets them started here.
systemd=0
[ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm=)" = systemd ] && systemd=1

# --- munge: a key, the daemon, and a credential that round-trips ---
if [ ! -s /etc/munge/munge.key ]; then
  say "creating the munge key"
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
  if [ $systemd = 1 ]; then
    systemctl enable --now munge
  else
    install -d -o munge -g munge -m 755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    say "started munged"
  fi
  for _ in $(seq 50); do munge_ok && break; sleep 0.2; done
  munge_ok || die "munged does not answer (see /var/log/munge/munged.log)"
fi
say "munge: a credential round-trips"

# --- slurm.conf: this host, its real CPUs and memory ---
host=$(hostname -s)
# e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
node=$(slurmd -C | grep -m1 '^NodeName=') || die "slurmd -C printed no NodeName line"
node_hw=${node#NodeName=* }
if [ -f "$conf" ] && ! head -n 1 "$conf" | grep -qF "$marker"; then
  say "$conf was not written by this script: using the cluster it describes as it is"
  sinfo || die "sinfo does not answer for the existing $conf"
  exit 0
fi
want=$(cat <<EOF
$marker: a single-node cluster for sweeps.
ClusterName=testbed
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$statedir
SlurmdSpoolDir=$spooldir
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$logdir/slurmctld.log
SlurmdLogFile=$logdir/slurmd.log
# No cgroups: this works without systemd's cgroup delegation (containers, VMs without systemd).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 $node_hw State=UNKNOWN
PartitionName=testbed Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)
changed=0
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  install -d -m 755 /etc/slurm
  printf '%s\n' "$want" >"$conf.new" && chmod 644 "$conf.new" && mv "$conf.new" "$conf"
  changed=1
  say "wrote $conf ($node_hw)"
fi
install -d -o slurm -g slurm -m 755 "$statedir" "$logdir"
install -d -m 755 "$spooldir"

# --- slurmctld and slurmd ---
# The pid of a running daemon, from its pid file (only when that pid really is the daemon).
running() {
  local pid
  pid=$(cat "/run/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}
for d in slurmctld slurmd; do
  if [ $systemd = 1 ]; then
    systemctl enable "$d" >/dev/null 2>&1 || true
    if [ $changed = 1 ]; then systemctl restart "$d"; else systemctl start "$d"; fi
    continue
  fi
  if pid=$(running "$d"); then
    [ $changed = 1 ] || { say "$d already running (pid $pid)"; continue; }
    say "restarting $d (pid $pid) for the new configuration"
    kill "$pid"
    for _ in $(seq 100); do running "$d" >/dev/null || break; sleep 0.1; done
    if running "$d" >/dev/null; then die "$d (pid $pid) did not stop within 10 s"; fi
  fi
  "/usr/sbin/$d"   # forks into the background and writes its pid file
  for _ in $(seq 50); do running "$d" >/dev/null && break; sleep 0.2; done
  pid=$(running "$d") || die "$d did not start: $(tail -n 20 "$logdir/$d.log" 2>/dev/null)"
  say "started $d (pid $pid)"
done

# --- the node takes jobs ---
state=""
for i in $(seq 60); do
  state=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -n 1 || true)
  case "$state" in
    idle | mixed | allocated | completing) break ;;
    # A node left down or drained by an earlier configuration: it registered since, so resume it.
    down* | drained* | draining*) [ "$i" -gt 5 ] && scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.5
done
case "$state" in
  idle | mixed | allocated | completing) ;;
  *)
    sinfo -N -l >&2 || true
    tail -n 20 "$logdir/slurmctld.log" "$logdir/slurmd.log" >&2 || true
    die "node $host is '${state:-unknown}' after 30 s, not taking jobs"
    ;;
esac
say "node $host is $state: $(sinfo -h -N -n "$host" -o '%c CPUs, %m MB')"
