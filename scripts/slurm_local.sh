#!/bin/sh
# slurm_local.sh: a one-node Slurm cluster on this machine, in one directory, for
# trying `lotto sweep --backend slurm` and for tests/test_slurm.sh. Needs root and
# Debian's slurmctld, slurmd, slurm-client and munge (make deps installs them).
#
#   sh scripts/slurm_local.sh start DIR   start munged, slurmctld, slurmd (state, logs, pid
#                                         files and a fresh munge key in DIR); prints the line
#                                         export SLURM_CONF=DIR/slurm.conf   (eval it)
#   sh scripts/slurm_local.sh stop DIR    cancel its jobs, stop its daemons (by pid)
#
# start exits 77 with a message when the cluster cannot start here (not root, a
# command missing, the node does not come up), 0 when the node is idle.
set -u
cmd=${1:-}
DIR=${2:-}
if [ -z "$cmd" ] || [ -z "$DIR" ] || [ "$cmd" = -h ] || [ "$cmd" = --help ]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  [ "$cmd" = -h ] || [ "$cmd" = --help ]
  exit $?
fi
cant() { echo "slurm_local: $*" >&2; exit 77; }

stop() {
  export SLURM_CONF="$DIR/slurm.conf"
  [ -f "$DIR/pids" ] || return 0
  if command -v scancel >/dev/null 2>&1; then
    scancel --quiet --user "$(id -un)" 2>/dev/null # this cluster's jobs only (SLURM_CONF)
    i=0; while [ $i -lt 50 ] && [ -n "$(squeue -h 2>/dev/null)" ]; do sleep 0.2; i=$((i + 1)); done
  fi
  pids=$(cat "$DIR/pids")
  for p in $pids; do kill "$p" 2>/dev/null; done
  for p in $pids; do
    i=0; while [ $i -lt 50 ] && kill -0 "$p" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  done
  rm -f "$DIR/pids"
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "slurm_local: unknown command '$cmd' (start or stop)" >&2; exit 2; }

[ "$(id -u)" = 0 ] || cant "starting munged, slurmctld and slurmd needs root"
for c in munged slurmctld slurmd sbatch squeue scancel sinfo; do
  command -v $c >/dev/null 2>&1 || cant "$c not found (make deps installs slurmctld slurmd slurm-client munge)"
done
[ -f "$DIR/pids" ] && cant "$DIR already runs a cluster (stop it first)"
mkdir -p "$DIR" && DIR=$(cd "$DIR" && pwd) || cant "cannot create $DIR"
chmod 711 "$DIR"
HOST=$(hostname -s)
# this node as slurmd sees it (CPUs, sockets, cores, memory), reached on the loopback
NODE=$(slurmd -C 2>/dev/null | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$HOST NodeAddr=127.0.0.1/")
case "$NODE" in NodeName=*CPUs=*) ;; *) cant "slurmd -C did not describe this node" ;; esac
PORT=$((20000 + $$ % 20000))
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/munge"
chmod 711 "$DIR/munge"
rm -f "$DIR/munge/munge.key"
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$DIR/munge/munge.key"
cat > "$DIR/slurm.conf" <<EOF
# written by lotto's scripts/slurm_local.sh: a one-node cluster for tests
ClusterName=lottotest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# no accounting database: sacct -c reads this job completion record
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=10
MailProg=/bin/true
$NODE State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$DIR/slurm.conf"

: > "$DIR/pids"
munged -F --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
  --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" \
  > "$DIR/munge/munged.out" 2>&1 &
echo $! >> "$DIR/pids"
i=0; while [ $i -lt 50 ] && [ ! -S "$DIR/munge/munge.socket" ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$DIR/munge/munge.socket" ] || { stop; cant "munged did not start: $(tail -2 "$DIR/munge/munged.out")"; }
slurmctld -D -i -f "$SLURM_CONF" > "$DIR/slurmctld.out" 2>&1 &
echo $! >> "$DIR/pids"
slurmd -D -f "$SLURM_CONF" -N "$HOST" > "$DIR/slurmd.out" 2>&1 &
echo $! >> "$DIR/pids"
i=0
until sinfo -h -o %T 2>/dev/null | grep -q '^idle'; do
  i=$((i + 1))
  if [ $i -gt 150 ]; then
    tail -5 "$DIR/slurmctld.log" "$DIR/slurmd.log" "$DIR/slurmctld.out" "$DIR/slurmd.out" >&2 2>/dev/null
    stop
    cant "the one-node cluster did not come up in 30 s (logs above)"
  fi
  sleep 0.2
done
echo "slurm_local: $(sinfo -h -o '%P %D node, %C cpus (alloc/idle/other/total), %T') in $DIR" >&2
echo "export SLURM_CONF=$DIR/slurm.conf"
