#!/usr/bin/env bash
# Fault trials a developer can rerun (issue 14): every interrupted run must end cleanly and resume to the
# same bits as an uninterrupted one; two writers must not share a run directory; a full disk must give a
# clean error; and the per-format fuzzers (random mutations of valid files) must never trap.
#
#   bash scripts/faults.sh                 # 50 signal trials, 16 kill -9 trials, two writers, disk full, fuzzers
#   SIGNALS=10 KILLS=4 FUZZ=0 bash scripts/faults.sh    # a quick pass
#
# Needs a release build (swift build -c release) and Fashion-MNIST (/usr/share/datasets/fashion-mnist).
# The disk-full trial mounts a 1 MiB tmpfs (root only; skipped with a message otherwise).
# Last line: "faults: N trials, C crashes, H hangs, W silent wrong, R/K resumes bit-exact".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
R=${ROPIM:-$root/.build/release/ropim}
SIGNALS=${SIGNALS:-50}; KILLS=${KILLS:-16}; FUZZ=${FUZZ:-1}
[ -x "$R" ] || { echo "faults: no release binary at $R; run swift build -c release first" >&2; exit 2; }
work=$(mktemp -d /tmp/ropim-faults-XXXX)
trap 'mountpoint -q "$work/fs" 2>/dev/null && umount "$work/fs"; rm -rf "$work"' EXIT
cd "$work"

# 16 optimizer steps (batch 32 of a seeded 512-image subset), one thread, a checkpoint after every step.
RUN=(pretrain --threads 1 --subset 512 --batch-size 32 --epochs 1 --seed 5 --set run.save_every=1)
trials=0 crashes=0 hangs=0 wrong=0 exact=0 resumed=0
digest() { python3 "$root/scripts/golden/digest.py" "$1" | grep '^tensor'; }
crashed() { grep -qE "Program crashed|Fatal error|Illegal instruction|Segmentation|corrupted|double free" "$1"; }

"$R" "${RUN[@]}" --output ref > ref.log 2>&1 || { echo "faults: the reference run failed, see $work/ref.log" >&2; cat ref.log >&2; exit 1; }
digest ref > ref.digest

# One interrupted run: start it, send $1 after a random delay, check how it ended, resume it to the end
# (rerunning with the same --output resumes an unfinished run) and compare the final weights with the
# uninterrupted reference.
trial() {
  local sig=$1 i=$2 out=run-$2
  "$R" "${RUN[@]}" --output "$out" > "$out.log" 2>&1 &
  local pid=$!
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.3 + (r % 500) / 100 }')"
  kill -s "$sig" "$pid" 2>/dev/null
  local waited=0
  while kill -0 "$pid" 2>/dev/null && [ $waited -lt 600 ]; do sleep 0.1; waited=$((waited + 1)); done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"; hangs=$((hangs + 1)); echo "trial $i ($sig): HANG"; return
  fi
  wait "$pid" 2>/dev/null; local rc=$?
  trials=$((trials + 1))
  local expected="130"; [ "$sig" = KILL ] && expected="137"
  if crashed "$out.log" || { [ "$rc" != 0 ] && [ "$rc" != "$expected" ]; }; then
    crashes=$((crashes + 1)); echo "trial $i ($sig): CRASH rc=$rc: $(grep -m1 -E 'crashed|Fatal|Error' "$out.log")"; return
  fi
  local rc2=0
  if [ "$rc" != 0 ]; then   # rc 0: the run finished before the signal; nothing to resume
    timeout 300 "$R" "${RUN[@]}" --output "$out" > "$out.resume.log" 2>&1; rc2=$?
  fi
  resumed=$((resumed + 1))
  if [ $rc2 -ne 0 ] || crashed "$out.resume.log" 2>/dev/null; then
    crashes=$((crashes + 1)); echo "trial $i ($sig): resume failed rc=$rc2: $(grep -m1 -E 'crashed|Fatal|Error' "$out.resume.log")"; return
  fi
  if digest "$out" | cmp -s - ref.digest; then exact=$((exact + 1)); else
    wrong=$((wrong + 1)); echo "trial $i ($sig): resumed weights differ from the uninterrupted run"
  fi
  rm -rf "$out" "$out.log" "$out.resume.log"
}

# (bash's own "Killed" job notices go to stderr, silenced here; the trials report on stdout)
for i in $(seq 1 "$SIGNALS"); do trial "$([ $((i % 2)) = 0 ] && echo TERM || echo INT)" "s$i" 2>/dev/null; done
echo "signals: $SIGNALS trials done"
for i in $(seq 1 "$KILLS"); do trial KILL "k$i" 2>/dev/null; done
echo "kill -9: $KILLS trials done"

# Two writers on one run directory: the second must stop naming the first's pid; the first must finish
# with every step's metrics.
"$R" "${RUN[@]}" --output shared > a.log 2>&1 & a=$!
sleep 1.5
"$R" "${RUN[@]}" --output shared > b.log 2>&1; brc=$?
wait $a; arc=$?
trials=$((trials + 1))
if [ $brc -ne 0 ] && grep -q "in use by another ropim process (pid $a)" b.log && [ $arc -eq 0 ] \
   && [ "$(grep -c '"step"' shared/metrics.jsonl)" = 16 ]; then echo "two writers: ok (second stopped: $(grep -m1 -o 'in use.*pid [0-9]*)' b.log))"
else wrong=$((wrong + 1)); echo "two writers: WRONG (a rc=$arc, b rc=$brc: $(head -c 200 b.log))"; fi

# A full disk while metrics.jsonl is appended: a clean error, no trap.
mkdir fs
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m tmpfs fs 2>/dev/null; then
  dd if=/dev/zero of=fs/fill bs=4096 count=254 2>/dev/null
  "$R" "${RUN[@]}" --set run.log_every=1 --output fs/run > full.log 2>&1; rc=$?
  trials=$((trials + 1))
  if crashed full.log || [ $rc -ne 1 ] || ! grep -q "^Error: .*space" full.log; then
    crashes=$((crashes + 1)); echo "disk full: rc=$rc $(head -c 300 full.log)"
  else echo "disk full: ok ($(grep -m1 '^Error' full.log | cut -c1-120))"; fi
  umount fs
else
  echo "disk full: skipped (needs root to mount a tmpfs)"
fi

# Per-format fuzzers: seeded random mutations of valid files, "clean error or success, never a trap".
if [ "$FUZZ" != 0 ]; then
  ( cd "$root" && swift build --build-tests > "$work/fuzz-build.log" 2>&1 \
    && swift test --skip-build --filter 'Fuzz' > "$work/fuzz.log" 2>&1 ); frc=$?
  fuzz=$(grep -E "Executed [0-9]+ tests" fuzz.log | tail -1)
  trials=$((trials + 1))
  if [ $frc -ne 0 ]; then crashes=$((crashes + 1)); echo "fuzzers: FAILED ($fuzz); see $work/fuzz.log"; tail -20 fuzz.log
  else echo "fuzzers: ok ($(echo "$fuzz" | sed -E 's/^[[:space:]]*//'))"; fi
fi

echo "faults: $trials trials, $crashes crashes, $hangs hangs, $wrong silent wrong, $exact/$resumed resumes bit-exact"
[ $crashes -eq 0 ] && [ $hangs -eq 0 ] && [ $wrong -eq 0 ] && [ $exact -eq $resumed ]
