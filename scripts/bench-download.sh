#!/usr/bin/env bash
# bench-download.sh: `seftbot download` of N x SIZE files (default 160 x 1 MB)
# from seftsim, against a raw HTTP baseline fetching the same files with the
# same session cookie (seftsim --bench-direct, curl, one connection), in the
# same run. Prints the ratio and the per-file overhead (mean, and median from
# the gaps between files), once per tab count, then seftbot's own peak RSS
# (VmHWM of the seftbot process; Chromium is a separate process and excluded)
# for N x 20 MB.
#
#   scripts/bench-download.sh [TABS...]     (default: 1 2 3 4)
#   FILES=160 SIZE=1000000 BIG=20000000 scripts/bench-download.sh 2
#   SKIP_RSS=1 scripts/bench-download.sh 2 4   (skip the slow peak-RSS run)
#   KEEP_LOGS=DIR ...                          (copy each run's seftbot log to DIR)
#   LATENCY=50ms ...    (seftsim adds this to every portal response, as a
#                        distant portal would; the baseline pays it too)
#   MARKUP=v3 [PAGING=append|inplace] ...   (seftsim's single-page app, driven
#                        by internal/portal/testdata/profile-v3.json)
#   MARKUP=v4 [V4_DELAY=2s] ...   (seftsim's file-transfer product: every file
#                        starts from a page in a new tab V4_DELAY later; driven
#                        by internal/portal/testdata/profile-v4.json)
#   MARKUP=v4 V4_FRAME=cross|same ...   (the list in an iframe of another site, or of the
#                        portal's origin; driven by profile-v4-frame.json)
#   MARKUP=v4 V4_PREPARE_EVERY=1 [V4_PREPARE_TIME=2s] ...   (every n-th file must be
#                        requested and prepared first, V4_PREPARE_TIME each, default
#                        1-3 s at random; driven by profile-v4-prepare.json)
#
# Targets (2 cores): median overhead <= 40 ms per file (160 x 1 MB plus login
# in <= 8 s); peak RSS <= 100 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${FILES:-160}
SIZE=${SIZE:-1000000}
BIG=${BIG:-20000000}
TABS=("$@")
[ ${#TABS[@]} -eq 0 ] && TABS=(1 2 3 4)

T=$(mktemp -d /tmp/bench-download.XXXXXX)
# Staging on tmpfs, as in production (SEFTBOT_STAGING_DIR defaults to /dev/shm).
SHM=$(mktemp -d /dev/shm/bench-download.XXXXXX)
SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$T" "$SHM"
}
trap cleanup EXIT

go build -o "$T/" ./cmd/seftbot ./cmd/seftsim

# start_sim DIR SIZE: seftsim in the background, ready when it says so.
start_sim() {
  local dir=$1 size=$2
  mkdir -p "$dir"
  local markup=(--markup "${MARKUP:-v1}")
  [ "${MARKUP:-v1}" = v3 ] && markup+=(--paging "${PAGING:-append}")
  [ "${MARKUP:-v1}" = v4 ] && markup+=(--v4-interstitial-delay "${V4_DELAY:-2s}")
  [ -n "${V4_FRAME:-}" ] && markup+=(--v4-frame "$V4_FRAME")
  [ -n "${V4_PREPARE_EVERY:-}" ] && markup+=(--v4-prepare-every "$V4_PREPARE_EVERY")
  [ -n "${V4_PREPARE_TIME:-}" ] && markup+=(--v4-prepare-time "$V4_PREPARE_TIME")
  "$T/seftsim" --dir "$dir" --files "$FILES" --file-size "$size" --bench-direct --latency "${LATENCY:-0s}" \
    "${markup[@]}" >"$dir/sim.out" 2>"$dir/sim.err" &
  SIM_PID=$!
  for _ in $(seq 1 200); do
    grep -q 'seftsim ready' "$dir/sim.out" 2>/dev/null && return
    sleep 0.05
  done
  echo "bench-download: seftsim did not start" >&2; cat "$dir/sim.err" >&2; exit 1
}
stop_sim() { kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=; }

envval() { sed -n "s/^$1=//p" "$2" | sed "s/^'\(.*\)'$/\1/"; }

# baseline DIR: log in with curl, then GET /download/direct/1..N on one
# connection; prints seconds.
baseline() {
  local dir=$1 env=$1/seftbot.env jar=$1/jar url user pass csrf start end
  url=$(envval SEFTBOT_DOWNLOAD_URL "$env"); user=$(envval SEFTBOT_DOWNLOAD_USER "$env")
  pass=$(envval SEFTBOT_DOWNLOAD_PASSWORD "$env")
  local c=(curl -s --cacert "$dir/tls/ca.pem" -b "$jar" -c "$jar")
  if [ "${MARKUP:-v1}" = v3 ]; then
    # The single-page app's JSON API: account, passphrase, notice.
    csrf=$("${c[@]}" "${url}api/session" | sed -n 's/.*"csrf": *"\([^"]*\)".*/\1/p')
    local j=(-H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf")
    "${c[@]}" -o /dev/null "${j[@]}" --data "{\"account\":\"$user\"}" "${url}api/account"
    # The password goes to curl through a private file, never its argv.
    (umask 077; printf '{"account":"%s","passphrase":"%s"}' "$user" "$pass" >"$dir/pass")
    csrf=$("${c[@]}" "${j[@]}" --data-binary "@$dir/pass" "${url}api/passphrase" | sed -n 's/.*"csrf": *"\([^"]*\)".*/\1/p')
    "${c[@]}" -o /dev/null -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" --data '{"read":true}' "${url}api/notice"
  else
    csrf=$("${c[@]}" "${url}login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p')
    # The password goes to curl through a private file, never its argv.
    (umask 077; printf '%s' "$pass" >"$dir/pass")
    "${c[@]}" -o /dev/null --data-urlencode "csrf_token=$csrf" --data-urlencode "username=$user" \
      --data-urlencode "password@$dir/pass" "${url}login"
  fi
  mkdir -p "$dir/raw"
  start=$(date +%s.%N)
  "${c[@]}" --fail -o "$dir/raw/#1" "${url}direct/[1-$FILES]"
  end=$(date +%s.%N)
  local n; n=$(ls "$dir/raw" | wc -l)
  [ "$n" -eq "$FILES" ] || { echo "bench-download: baseline fetched $n of $FILES" >&2; exit 1; }
  echo "$end - $start" | bc -l
}

# median_gap LOG: median time between consecutive "fetched" log lines, in ms.
median_gap() {
  grep '"msg":"fetched"' "$1" | sed 's/.*"time":"\([^"]*\)".*/\1/' |
    while read -r ts; do date -d "$ts" +%s.%N; done |
    awk 'NR>1{print ($1-prev)*1000} {prev=$1}' | sort -n |
    awk '{a[NR]=$1} END{if(NR==0){print "n/a"; exit} m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'
}

PROFILE=()
if [ "${MARKUP:-v1}" = v3 ]; then
  # The in-place pager is the same profile with its one "more" line changed.
  sed 's/"more": {[^}]*}/"more": {"mode": "in_place", "control": "role=button[name=\\"Older\\"]"}/' \
    internal/portal/testdata/profile-v3.json >"$T/profile-inplace.json"
  PROFILE=(--profile internal/portal/testdata/profile-v3.json)
  [ "${PAGING:-append}" = inplace ] && PROFILE=(--profile "$T/profile-inplace.json")
elif [ "${MARKUP:-v1}" = v4 ] && [ -n "${V4_FRAME:-}" ] && [ -n "${V4_PREPARE_EVERY:-}" ]; then
  echo "bench-download: V4_FRAME and V4_PREPARE_EVERY together have no profile here" >&2; exit 2
elif [ "${MARKUP:-v1}" = v4 ] && [ -n "${V4_FRAME:-}" ]; then
  PROFILE=(--profile internal/portal/testdata/profile-v4-frame.json)
elif [ "${MARKUP:-v1}" = v4 ] && [ -n "${V4_PREPARE_EVERY:-}" ]; then
  PROFILE=(--profile internal/portal/testdata/profile-v4-prepare.json)
elif [ "${MARKUP:-v1}" = v4 ]; then
  PROFILE=(--profile internal/portal/testdata/profile-v4.json)
fi
echo "bench-download: $FILES x $SIZE bytes, markup ${MARKUP:-v1} ${PAGING:-}${V4_FRAME:+ frame $V4_FRAME}${V4_PREPARE_EVERY:+ prepare-every $V4_PREPARE_EVERY (${V4_PREPARE_TIME:-1-3s})}, latency ${LATENCY:-0s}, $(nproc) cores, $("$T/seftbot" doctor --offline 2>/dev/null | sed -n 's/^ok *chromium *//p' | cut -d';' -f1)"
printf '%-5s %10s %10s %8s %14s %16s\n' tabs seftbot_s raw_s ratio mean_ovh_ms median_file_ms
run=0
for tabs in "${TABS[@]}"; do
  run=$((run + 1))
  d="$T/run-$run"
  start_sim "$d" "$SIZE"
  raw=$(baseline "$d")
  start=$(date +%s.%N)
  "$T/seftbot" --env-file "$d/seftbot.env" --log-format json download --out "$SHM/$run" \
    --concurrency "$tabs" "${PROFILE[@]}" >"$d/bot.out" 2>"$d/bot.log"
  end=$(date +%s.%N)
  stop_sim
  grep -q "^new $FILES," "$d/bot.out" || { echo "bench-download: $(cat "$d/bot.out")" >&2; exit 1; }
  # Same bytes as the baseline.
  (cd "$d/raw" && for i in $(seq 1 "$FILES"); do sha256sum "$i"; done) | awk '{print $1}' | sort >"$d/raw.sums"
  sha256sum "$SHM/$run"/* | awk '{print $1}' | sort >"$d/bot.sums"
  cmp -s "$d/raw.sums" "$d/bot.sums" || { echo "bench-download: bytes differ from the baseline" >&2; exit 1; }
  bot=$(echo "$end - $start" | bc -l)
  printf '%-5s %10.2f %10.3f %8.1f %14.1f %16s\n' "$tabs" "$bot" "$raw" \
    "$(echo "$bot / $raw" | bc -l)" "$(echo "($bot - $raw) * 1000 / $FILES" | bc -l)" "$(median_gap "$d/bot.log")"
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$d/bot.log" "$KEEP_LOGS/tabs-$tabs.log"; fi
  rm -rf "$d/raw" "${SHM:?}/$run"
done

# Peak RSS of seftbot itself for N x BIG (staging on disk: 3.2 GB by default):
# sample VmHWM until it exits. SKIP_RSS=1 skips it (on by default).
if [ "${SKIP_RSS:-0}" = 1 ]; then
  echo "peak RSS run skipped (SKIP_RSS=1)"
  exit 0
fi
d="$T/rss"
start_sim "$d" "$BIG"
"$T/seftbot" --env-file "$d/seftbot.env" --log-format json download --out "$d/staging" \
  --concurrency "${TABS[0]}" >"$d/bot.out" 2>"$d/bot.log" &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  v=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
  sleep 0.2
done
wait "$pid" || { echo "bench-download: RSS run failed: $(tail -3 "$d/bot.log")" >&2; exit 1; }
stop_sim
echo "peak RSS of seftbot (without Chromium), $FILES x $BIG bytes: $((peak / 1024)) MB ($(cat "$d/bot.out"))"
