#!/usr/bin/env bash
# bench-relay.sh: relay a 1 GiB archive on loopback to a real OpenSSH sshd with
# `seftbot relay`, and in the same run put the same file with OpenSSH's own
# `sftp -b` to the same sshd. Prints each throughput, the ratio (target >= 0.9x
# OpenSSH) and seftbot's peak RSS for a small and the large file (target: flat).
#
#   scripts/bench-relay.sh [SIZE_MIB] [RUNS]     (default 1024 MiB, 2 runs each)
#
# Throughput is end to end: connect, upload, verify, rename. OpenSSH's put
# verifies nothing, so seftbot runs with --verify size for the like-for-like
# ratio, and with --verify sha256 (the server hashes the whole file) as well.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${1:-1024}
RUNS=${2:-2}
SMALL_MIB=64
[ -x /usr/sbin/sshd ] || { echo "bench-relay: /usr/sbin/sshd missing (apt-get install openssh-server)" >&2; exit 1; }
command -v sftp >/dev/null || { echo "bench-relay: sftp missing (apt-get install openssh-client)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-relay: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }

T=$(mktemp -d /tmp/bench-relay.XXXXXX)
SSHD_PID=
cleanup() {
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

go build -o "$T/seftbot" ./cmd/seftbot

ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$T/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$T/client_ed25519"
cp "$T/client_ed25519.pub" "$T/authorized_keys"
mkdir "$T/drop"
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
for _ in $(seq 1 100); do
  port=$(( 20000 + RANDOM % 40000 ))
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || break
done
cat > "$T/sshd_config" <<CFG
HostKey $T/host_ed25519
AuthorizedKeysFile $T/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
ListenAddress 127.0.0.1
Port $port
PidFile $T/sshd.pid
Subsystem sftp internal-sftp
LogLevel ERROR
CFG
/usr/sbin/sshd -D -e -f "$T/sshd_config" 2>"$T/sshd.log" &
SSHD_PID=$!
for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
ssh-keyscan -p "$port" -t ed25519 127.0.0.1 2>/dev/null > "$T/known_hosts"

cat > "$T/relay.env" <<ENV
SEFTBOT_PROJECT_ID=BENCH
SEFTBOT_SFTP_HOST=127.0.0.1
SEFTBOT_SFTP_PORT=$port
SEFTBOT_SFTP_USER=$(id -un)
SEFTBOT_SFTP_KEY_FILE=$T/client_ed25519
SEFTBOT_SFTP_KNOWN_HOSTS=$T/known_hosts
SEFTBOT_SFTP_REMOTE_DIR=$T/drop
SEFTBOT_LOG_FORMAT=json
ENV
chmod 600 "$T/relay.env"

mkarchive() { # mkarchive FILE MIB: a 7z signature then random bytes
  { printf '7z\274\257\047\034'; head -c $(( $2 * 1048576 - 6 )) /dev/urandom; } > "$1"
}
mkarchive "$T/big.7z" "$SIZE_MIB"
mkarchive "$T/small.7z" "$SMALL_MIB"
BYTES=$(stat -c %s "$T/big.7z")

now() { date +%s.%N; }
# sshd_cpu: CPU seconds of sshd's reaped session processes so far (cutime+cstime).
sshd_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($16 + $17) / hz }' "/proc/$SSHD_PID/stat"; }
mibps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1048576 / s }'; }

# measure CMD...: runs it into an empty drop and prints
# "wall_seconds cpu_seconds(client+server) client_maxrss_kib client_cpu server_cpu"
measure() {
  rm -f "$T"/drop/*
  local t0 t1 c0 c1
  c0=$(sshd_cpu); t0=$(now)
  /usr/bin/time -f '%M %U %S' -o "$T/time" "$@" >/dev/null 2>"$T/log"
  t1=$(now)
  sleep 0.2 # let sshd reap the session
  c1=$(sshd_cpu)
  read -r rss u s < "$T/time"
  awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v u="$u" -v s="$s" -v rss="$rss" \
    'BEGIN { printf "%.3f %.2f %d %.2f %.2f\n", t1 - t0, u + s + c1 - c0, rss, u + s, c1 - c0 }'
}

run_seftbot() { # run_seftbot FILE [--verify MODE]
  measure "$T/seftbot" --env-file "$T/relay.env" relay "$@"
}

run_sftp() { # run_sftp FILE [ssh options...]
  local f=$1; shift
  echo "put $f $T/drop/openssh.7z" > "$T/batch"
  measure sftp -q -b "$T/batch" -i "$T/client_ed25519" -P "$port" \
    -o BatchMode=yes -o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes "$@" \
    "$(id -un)@127.0.0.1"
}

echo "bench-relay: $SIZE_MIB MiB, $RUNS runs each, loopback sshd ($(/usr/sbin/sshd -V 2>&1 | head -1)), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  (MiB/s is wall clock, best of the runs; cpu is client+sshd CPU seconds, lower is better, and steadier on a shared machine)"
declare -A wall cpu
for i in $(seq 1 "$RUNS"); do
  for k in openssh openssh-gcm seftbot-size seftbot-sha256; do
    case $k in
      openssh) r=$(run_sftp "$T/big.7z") ;;
      openssh-gcm) r=$(run_sftp "$T/big.7z" -c aes128-gcm@openssh.com) ;;
      seftbot-size) r=$(run_seftbot "$T/big.7z" --verify size) ;;
      seftbot-sha256) r=$(run_seftbot "$T/big.7z" --verify sha256) ;;
    esac
    read -r w c rss cc sc <<<"$r"
    printf '  run %d %-15s %7.1f MiB/s  cpu %6.2fs (client %5.2fs, sshd %5.2fs)  peak RSS %4d MiB\n' "$i" "$k" "$(mibps "$BYTES" "$w")" "$c" "$cc" "$sc" $(( rss / 1024 ))
    if [ -z "${wall[$k]:-}" ] || awk -v a="$w" -v b="${wall[$k]}" 'BEGIN { exit !(a < b) }'; then wall[$k]=$w; fi
    if [ -z "${cpu[$k]:-}" ] || awk -v a="$c" -v b="${cpu[$k]}" 'BEGIN { exit !(a < b) }'; then cpu[$k]=$c; fi
    [ "$k" = seftbot-size ] && rss_big=$rss
  done
done
read -r _ _ rss_small _ _ <<<"$(run_seftbot "$T/small.7z" --verify size)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "best of $RUNS (ratio = seftbot throughput / OpenSSH throughput; target >= 0.90):"
for k in openssh openssh-gcm seftbot-size seftbot-sha256; do
  printf '  %-15s %7.1f MiB/s  cpu %6.2fs\n' "$k" "$(mibps "$BYTES" "${wall[$k]}")" "${cpu[$k]}"
done
echo "  seftbot (size check) vs openssh:         $(ratio "${wall[openssh]}" "${wall[seftbot-size]}")x wall, $(ratio "${cpu[openssh]}" "${cpu[seftbot-size]}")x cpu"
echo "  seftbot (size check) vs openssh aes-gcm: $(ratio "${wall[openssh-gcm]}" "${wall[seftbot-size]}")x wall, $(ratio "${cpu[openssh-gcm]}" "${cpu[seftbot-size]}")x cpu"
echo "  seftbot (sha256 check) vs openssh:       $(ratio "${wall[openssh]}" "${wall[seftbot-sha256]}")x wall (includes the server's sha256sum of the whole file)"
echo "  seftbot peak RSS: $(( rss_small / 1024 )) MiB for $SMALL_MIB MiB, $(( rss_big / 1024 )) MiB for $SIZE_MIB MiB (flat = about equal)"
