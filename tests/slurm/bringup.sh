#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, from Debian's packages, for tests/test_slurm.py.
#
#   tests/slurm/bringup.sh          # start whatever is not running yet (idempotent)
#   tests/slurm/bringup.sh status   # show what is up
#   tests/slurm/bringup.sh stop     # stop the daemons it starts (found by their pid files)
#
# Needs root and the packages: apt-get install slurm-wlm slurmdbd munge mariadb-server.
# Runs without systemd (CI containers, where policy-rc.d blocks package start-ups): each daemon
# is started here. Everything listens on 127.0.0.1 only: slurmctld 6817, slurmd 6818,
# slurmdbd 6819, MariaDB 3306. Accounting (slurmdbd + MariaDB) is needed because the SLURM
# executor plugin asks `sacct` for job states. The node declares one GPU backed by /dev/null,
# so jobs that request a GPU are scheduled and run (on the CPU) like on a GPU cluster.
set -euo pipefail

CLUSTER=sketchback
PARTITION=debug
ACCOUNT=sketchback
ETC=/etc/slurm            # the plugin's job wrapper drops SLURM_CONF: the config must live here
RUN=/run/slurm
LOG=/var/log/slurm
STATE=/var/lib/slurm

say() { printf '[slurm bring-up %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() {
    say "ERROR: $*" >&2
    for log in $LOG/slurmdbd.log $LOG/slurmctld.log $LOG/slurmd.log /var/log/mysql/error.log; do
        [[ -s $log ]] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
}

alive() {  # alive PIDFILE [NAME]: the process named in the pid file is running and is NAME
    # (default: the pid file's name); a pid file left from before a reboot may name a reused pid
    local name=${2:-$(basename "$1" .pid)}
    [[ $name == mysqld ]] && name=mariadbd
    [[ -s $1 ]] && [[ "$(ps -p "$(cat "$1")" -o comm= 2>/dev/null)" == "$name" ]]
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...: retry COMMAND until it succeeds
    local seconds=$1 what=$2
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$what did not come up within ${seconds}s"
}

stop() {
    for pidfile in $RUN/slurmd.pid $RUN/slurmctld.pid $RUN/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid; do
        if alive "$pidfile"; then
            say "stopping $(basename "$pidfile" .pid) (pid $(cat "$pidfile"))"
            kill "$(cat "$pidfile")"
        fi
    done
}

status() {
    scontrol ping || true
    sinfo -N -o '%N %P %T %c %m %G' || true
    sacctmgr -n show association format=cluster,account,user || true
}

case "${1:-start}" in
    stop) stop; exit 0 ;;
    status) status; exit 0 ;;
    start) ;;
    *) die "usage: $0 [start|status|stop]" ;;
esac

[[ $EUID -eq 0 ]] || die "run as root (the daemons need it)"
for tool in munged mariadbd slurmdbd slurmctld slurmd sacctmgr; do
    command -v "$tool" >/dev/null || die "$tool not found: apt-get install slurm-wlm slurmdbd munge mariadb-server"
done
mkdir -p $ETC $RUN $LOG $STATE/slurmctld $STATE/slurmd
chown slurm:slurm $RUN $LOG $STATE/slurmctld

# --- munge: the key must belong to munge (mode 400); munged refuses to run as root ---
if ! alive /run/munge/munged.pid; then
    [[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    say "starting munged"
    runuser -u munge -- munged
fi
wait_for 10 munged bash -c 'munge -n | unmunge'
say "munge is up"

# --- the node as slurmd sees it; one GPU backed by /dev/null ---
node_line=$(slurmd -C | head -1)
node=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$node_line")
[[ -n $node ]] || die "could not read the node from 'slurmd -C': $node_line"

cat >$ETC/slurm.conf.new <<EOF
# Written by tests/slurm/bringup.sh: a single-node test cluster on 127.0.0.1.
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
# No freezer cgroup in containers: track processes without cgroups.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job with no --mem takes the whole node's memory.
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=300
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
# sacct then shows the GPUs a job got (AllocTRES) and the rule it ran (Comment, set by Snakemake).
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
$node_line NodeAddr=127.0.0.1 Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
sed -i -E 's/ UpTime=[^ ]*//' $ETC/slurm.conf.new
mv $ETC/slurm.conf.new $ETC/slurm.conf
echo "NodeName=$node Name=gpu File=/dev/null" >$ETC/gres.conf

# --- MariaDB for accounting, loopback only ---
if ! alive /run/mysqld/mysqld.pid; then
    mkdir -p /run/mysqld /var/log/mysql
    chown mysql:mysql /run/mysqld /var/log/mysql
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        say "initialising the MariaDB data directory"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/var/log/mysql/install.log 2>&1
    fi
    chown -R mysql:mysql /var/lib/mysql
    say "starting mariadbd"
    setsid mariadbd --user=mysql --bind-address=127.0.0.1 --port=3306 --datadir=/var/lib/mysql \
        --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
        --log-error=/var/log/mysql/error.log </dev/null >/dev/null 2>&1 &
fi
wait_for 60 MariaDB mariadb --protocol=socket -e 'select 1'
say "MariaDB is up"

# --- slurmdbd (a fresh password for its database user on every start) ---
if ! alive $RUN/slurmdbd.pid; then
    password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mariadb --protocol=socket <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
    install -m 600 -o slurm -g slurm /dev/null $ETC/slurmdbd.conf
    cat >$ETC/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$password
StorageLoc=slurm_acct_db
EOF
    say "starting slurmdbd"
    slurmdbd
fi
wait_for 30 slurmdbd sacctmgr -n show cluster
sacctmgr -i -Q add cluster $CLUSTER >/dev/null 2>&1 || true
say "slurmdbd is up"

# --- slurmctld and slurmd ---
if ! alive $RUN/slurmctld.pid; then
    say "starting slurmctld"
    slurmctld
else
    scontrol reconfigure
fi
wait_for 30 slurmctld scontrol ping
if ! alive $RUN/slurmd.pid; then
    say "starting slurmd"
    slurmd
fi
node_ready() { sinfo -h -n "$node" -o %T | grep -Eq '^(idle|mixed|allocated)'; }
for ((i = 0; i < 150; i++)); do
    node_ready && break
    # a drained or down state persists across restarts
    if sinfo -h -n "$node" -o %T | grep -Eq 'drain|down'; then
        scontrol update nodename="$node" state=resume 2>/dev/null || true
    fi
    sleep 0.2
done
node_ready || die "node $node is not idle: $(sinfo -h -N -o '%T %E')"

# --- an account for the test user, so a named account can be checked and used ---
# (and the user who called sudo, who runs the tests)
sacctmgr -i -Q add account $ACCOUNT cluster=$CLUSTER description="Sketchback tests" >/dev/null 2>&1 || true
for user in $(id -un) ${SUDO_USER:-}; do
    sacctmgr -i -Q add user "$user" account=$ACCOUNT cluster=$CLUSTER >/dev/null 2>&1 || true
    sacctmgr -n show association user="$user" format=account | grep -qw $ACCOUNT ||
        die "could not add user $user to account $ACCOUNT"
done
say "cluster $CLUSTER is up: node $node, partition $PARTITION, account $ACCOUNT"
status
