#!/usr/bin/env bash
# bench.sh: the whole nightly job, `seftbot fetch`, against a baseline of
# standard tools doing the same job on the same seftsim data in the same run:
#   curl   fetching the files (seftsim --bench-direct, the session cookie),
#   7-Zip  `7zz a -mhe=on -m0=deflate` (password on stdin),
#   sftp   OpenSSH's client putting the archive on the same drop.
# Prints each part's time and the ratio. Target: seftbot <= 0.8x the baseline.
#
#   scripts/bench.sh            FILES=160 SIZE=1000000 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-160}
SIZE=${SIZE:-1000000}
for t in curl bc 7zz sftp chromium; do
  command -v "$t" >/dev/null || { echo "bench: $t missing (scripts/install-deps.sh; apt-get install curl bc)" >&2; exit 1; }
done

T=$(mktemp -d /tmp/bench.XXXXXX)
SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
go build -o "$T/" ./cmd/seftbot ./cmd/seftsim

D=$T/sim
mkdir -m 700 "$D"
"$T/seftsim" --dir "$D" --files "$FILES" --file-size "$SIZE" --bench-direct >"$T/sim.out" 2>"$T/sim.err" &
SIM_PID=$!
for _ in $(seq 1 300); do grep -q 'seftsim ready' "$T/sim.out" 2>/dev/null && break; sleep 0.05; done
grep -q 'seftsim ready' "$T/sim.out" || { cat "$T/sim.err" >&2; exit 1; }
ENV=$D/seftbot.env
envval() { sed -n "s/^$1=//p" "$ENV" | sed "s/^'\(.*\)'$/\1/"; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

# --- baseline: curl + 7-Zip + OpenSSH sftp -----------------------------------
B=$T/baseline
mkdir -m 700 "$B" "$B/files"
url=$(envval SEFTBOT_DOWNLOAD_URL)
(umask 077; envval SEFTBOT_DOWNLOAD_PASSWORD | tr -d '\n' >"$B/pass")
c=(curl -s --fail --cacert "$D/tls/ca.pem" -b "$B/jar" -c "$B/jar")
t0=$(now)
csrf=$("${c[@]}" "${url}login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p')
"${c[@]}" -o /dev/null --data-urlencode "csrf_token=$csrf" \
  --data-urlencode "username=$(envval SEFTBOT_DOWNLOAD_USER)" --data-urlencode "password@$B/pass" "${url}login"
"${c[@]}" -o "$B/files/#1.csv" "${url}direct/[1-$FILES]"
t1=$(now)
[ "$(ls "$B/files" | wc -l)" -eq "$FILES" ] || { echo "bench: curl fetched too few files" >&2; exit 1; }
head -c 24 /dev/urandom | base64 | 7zz a -mhe=on -m0=deflate -p "$B/baseline.7z" "$B/files/" >/dev/null
t2=$(now)
cat >"$B/batch" <<BATCH
put $B/baseline.7z /baseline.7z
BATCH
sftp -q -b "$B/batch" -P "$(envval SEFTBOT_SFTP_PORT)" -i "$(envval SEFTBOT_SFTP_KEY_FILE)" \
  -o UserKnownHostsFile="$(envval SEFTBOT_SFTP_KNOWN_HOSTS)" -o StrictHostKeyChecking=yes -o BatchMode=yes \
  "$(envval SEFTBOT_SFTP_USER)@$(envval SEFTBOT_SFTP_HOST)" >/dev/null
t3=$(now)

# --- seftbot fetch: download, archive, verify, relay, mail, wipe --------------
s0=$(now)
"$T/seftbot" --env-file "$ENV" --log-format json fetch >"$T/fetch.out" 2>"$T/fetch.log"
s1=$(now)
grep -q "^delivered $FILES file" "$T/fetch.out" || { cat "$T/fetch.out"; tail -5 "$T/fetch.log"; exit 1; } >&2

curl_s=$(secs "$t0" "$t1"); zip_s=$(secs "$t1" "$t2"); sftp_s=$(secs "$t2" "$t3"); base_s=$(secs "$t0" "$t3")
bot_s=$(secs "$s0" "$s1")
echo "bench: $FILES x $SIZE bytes, $(nproc) cores, $("$T/seftbot" doctor --offline 2>/dev/null | sed -n 's/^ok *chromium *//p' | cut -d';' -f1), $(7zz | sed -n 2p | cut -c1-30)"
printf '  baseline  curl %6.2fs + 7zz deflate %6.2fs + sftp %6.2fs = %6.2fs\n' "$curl_s" "$zip_s" "$sftp_s" "$base_s"
printf '  seftbot fetch (incl. verify, mail, wipe)              = %6.2fs\n' "$bot_s"
printf '  ratio seftbot / baseline = %.2f (target <= 0.80)\n' "$(echo "$bot_s / $base_s" | bc -l)"
# slog writes durations as integer nanoseconds in JSON.
sed -n 's/.*"msg":"stage done".*"stage":"\([a-z]*\)","duration":\([0-9]*\).*/\1 \2/p' "$T/fetch.log" |
  awk '{printf "  seftbot stage %-10s %6.2fs\n", $1, $2/1e9}'
