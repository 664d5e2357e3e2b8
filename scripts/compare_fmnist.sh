#!/usr/bin/env bash
# Issue 8: "The paper's claim at small scale: ROPIM vs SimMIM masking vs no pre-training, on Fashion-MNIST".
#
# For every method in METHODS and every seed in SEEDS: pre-train (not for scratch), then k-NN, linear
# probe and fine-tuning on the Fashion-MNIST test split, each in its own run directory under OUT; a
# raw-pixel k-NN and linear probe once as a reference; reconstructions of seed SEEDS[0]'s ROPIM and
# SimMIM checkpoints and the token-energy histogram; then OUT/results.json and OUT/results.md (mean ± std
# over seeds, per-seed rows, commands, machine, git commit).
#
#   bash scripts/compare_fmnist.sh                       # the study (hours: see docs/RESULTS.md)
#   SMOKE=1 SEEDS="0 1" bash scripts/compare_fmnist.sh   # the harness itself, in about two minutes
#   STUDY=1 bash scripts/compare_fmnist.sh               # issue 17: sweep → best settings → 3 seeds → accuracy per hour
#   SMOKE=1 STUDY=1 bash scripts/compare_fmnist.sh       # the same harness, a few steps per run
#
# Issue 17 (STUDY=1 sets its knobs; each can also be set alone):
#   1. sweep: every method file in SWEEP is pre-trained with seed SEEDS[0] and probed on HOLDOUT training
#      images held out (`ropim linprobe --holdout`: the HOLDOUT images after the SUBSET ones in the same
#      seeded shuffle, so disjoint from the probe's training images and from the pre-training images);
#   2. selection: per objective (each file's method.corruption: rop, mask, mae) the setting with the best
#      held-out probe top-1 (OUT/selection.json); unless METHODS is given, METHODS = the selected ones + scratch;
#   3. the usual loop over SEEDS × METHODS (k-NN, linear probe, fine-tune); the selected setting's seed
#      SEEDS[0] pre-training is the sweep's run itself (same command: a finished step is never redone, and a
#      finished step whose recorded command differs stops the script);
#   4. accuracy against time: pre-training with --knn-every KNN_EVERY logs k-NN top-1 after each epoch; the
#      seconds per step of each method come from `ropim bench` run side by side, alternated, BENCH_ROUNDS
#      rounds (the wall-clock of runs that shared the CPU with other jobs is not comparable); the curve
#      places epoch e at e × steps per epoch × bench seconds per step (OUT/curves/, pictures/knn-vs-hours.png).
#
# Configs: configs/fmnist/base.yaml (model + pre-training optimizer, shared) is passed with --config and
# the method file (configs/fmnist/<method>.yaml, `method:` keys only) as --set overrides, because a
# config file cannot include another one; see the comment at the top of base.yaml.
#
# Resumable: a step whose run directory already holds its result (pretrain: checkpoint.safetensors;
# the others: summary.json; pictures: the PNG) is skipped, so running the same command again continues an
# interrupted study and then only re-aggregates. An interrupted pre-training resumes from its last
# ckpt-*/ (ropim does that for an unfinished --output directory); a half-written downstream directory is
# removed and the step runs again. OUT/settings.txt records the knobs; running again into the same OUT
# with different knobs stops instead of mixing results. Any failing command stops the script with the
# step, its exit code, the end of its log and the command.
#
# Knobs (environment variables; SMOKE=1 changes the defaults, an explicit value always wins):
#   SEEDS            "0 1 2"              SMOKE: "0 1"
#   METHODS          "rop-l1 rop-mse mask scratch"   (configs/fmnist/<name>.yaml; scratch = no pre-training)
#   OUT              runs/compare-fmnist  SMOKE: runs/compare-fmnist-smoke
#   PRETRAIN_EPOCHS  8                    SMOKE: 1 (and PRETRAIN_MAX_STEPS 3)
#   FINETUNE_EPOCHS  4                    SMOKE: 1 (and FINETUNE_MAX_STEPS 2)
#   PROBE_EPOCHS     100                  SMOKE: 2
#   SUBSET           20000 (training images, seeded subset, for every step; 0 = all 60 000)    SMOKE: 512
#   TEST_SUBSET      0 (all 10 000 test images)                        SMOKE: 256
#   THREADS          nproc                (ropim --threads; same seed + same threads ⇒ same numbers)
#   PRETRAIN_MAX_STEPS, FINETUNE_MAX_STEPS   0 = no cut
#   FINETUNE_CONFIG  configs/fmnist/finetune.yaml (the "light" recipe; finetune-reference.yaml = reference)
#   PICTURES         1 (0: no reconstructions / histogram)   VIS_COUNT 8   ANALYZE_COUNT 1000 (SMOKE: 200)
#   ROPIM            .build/release/ropim (built with `swift build -c release` first unless SKIP_BUILD=1);
#                    a copied binary may sit next to ROPIM.commit (the git commit it was built from), which
#                    OUT/binary.txt records with the binary's sha256 at every invocation
#   PYTHON           python3
#   STUDY            0; 1 = issue 17's defaults for the knobs below (and OUT runs/study-fmnist)
#   SWEEP            ""  (STUDY: rop-l1 rop-k14 rop-k21 rop-k28 mask-r40 mask mask-r75 mae-r60 mae-r75 mae-r90)
#   HOLDOUT          10000 training images held out for the sweep's probe        SMOKE: 128
#   PROBE_LAST_BLOCKS  1 (STUDY: 4): the linear probe's --last-blocks (sweep and test probes alike)
#   KNN_EVERY        0 (STUDY: 1): pre-training's --knn-every (k-NN top-1 along the run)
#   BENCH_ROUNDS     0 (STUDY: 3; SMOKE: 1): rounds of the side-by-side `ropim bench` of SWEEP and METHODS
#   BENCH_STEPS      10 (SMOKE: 2) timed steps per bench (median), after 3 warm-up steps (SMOKE: 1)
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0} STUDY=${STUDY:-0}
METHODS_GIVEN=${METHODS+1}   # METHODS set by the caller (else, with a sweep, the selection decides)
if [[ $SMOKE == 1 ]]; then
    if [[ $STUDY == 1 ]]; then   # two whole (tiny) epochs, so that the k-NN curve has points
        : "${BENCH_ROUNDS:=1}" "${OUT:=runs/study-fmnist-smoke}" "${PRETRAIN_EPOCHS:=2}" "${PRETRAIN_MAX_STEPS:=0}"
    fi
    : "${SEEDS:=0 1}" "${PRETRAIN_EPOCHS:=1}" "${PRETRAIN_MAX_STEPS:=3}"
    : "${FINETUNE_EPOCHS:=1}" "${FINETUNE_MAX_STEPS:=2}" "${PROBE_EPOCHS:=2}" "${SUBSET:=512}" "${TEST_SUBSET:=256}"
    : "${ANALYZE_COUNT:=200}" "${HOLDOUT:=128}" "${BENCH_STEPS:=2}" "${BENCH_WARMUP:=1}"
    : "${OUT:=runs/compare-fmnist-smoke}"
fi
if [[ $STUDY == 1 ]]; then
    : "${SWEEP:=rop-l1 rop-k14 rop-k21 rop-k28 mask-r40 mask mask-r75 mae-r60 mae-r75 mae-r90}"
    : "${OUT:=runs/study-fmnist}" "${PROBE_LAST_BLOCKS:=4}" "${KNN_EVERY:=1}" "${BENCH_ROUNDS:=3}"
fi
: "${SEEDS:=0 1 2}" "${OUT:=runs/compare-fmnist}" "${PRETRAIN_EPOCHS:=8}" "${PRETRAIN_MAX_STEPS:=0}"
: "${FINETUNE_EPOCHS:=4}" "${FINETUNE_MAX_STEPS:=0}" "${PROBE_EPOCHS:=100}" "${SUBSET:=20000}" "${TEST_SUBSET:=0}"
: "${ANALYZE_COUNT:=1000}" "${VIS_COUNT:=8}" "${PICTURES:=1}"
: "${SWEEP:=}" "${HOLDOUT:=10000}" "${PROBE_LAST_BLOCKS:=1}" "${KNN_EVERY:=0}" "${BENCH_ROUNDS:=0}"
: "${BENCH_STEPS:=10}" "${BENCH_WARMUP:=3}"
if [[ -n $SWEEP && -z $METHODS_GIVEN ]]; then
    METHODS=""   # filled in by the selection below
else
    : "${METHODS:=rop-l1 rop-mse mask scratch}"
fi
: "${THREADS:=$(nproc)}"
: "${CONFIGS:=configs/fmnist}" "${FINETUNE_CONFIG:=$CONFIGS/finetune.yaml}"
: "${ROPIM:=.build/release/ropim}" "${PYTHON:=python3}" "${SKIP_BUILD:=0}"
HELPER=scripts/compare_fmnist.py
read -r -a SEED_LIST <<< "$SEEDS"
read -r -a METHOD_LIST <<< "$METHODS"
read -r -a SWEEP_LIST <<< "$SWEEP"

die() { echo "compare_fmnist: $*" >&2; exit 1; }
(( ${#SEED_LIST[@]} > 0 )) || die "SEEDS is empty"
for v in PRETRAIN_EPOCHS FINETUNE_EPOCHS PROBE_EPOCHS SUBSET TEST_SUBSET THREADS PRETRAIN_MAX_STEPS FINETUNE_MAX_STEPS \
         VIS_COUNT ANALYZE_COUNT HOLDOUT PROBE_LAST_BLOCKS KNN_EVERY BENCH_ROUNDS BENCH_STEPS BENCH_WARMUP; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number ≥ 0, got '${!v}'"
done
for v in PRETRAIN_EPOCHS FINETUNE_EPOCHS PROBE_EPOCHS VIS_COUNT ANALYZE_COUNT PROBE_LAST_BLOCKS BENCH_STEPS; do
    (( ${!v} > 0 )) || die "$v must be at least 1"
done
for v in STUDY SMOKE; do [[ ${!v} == 0 || ${!v} == 1 ]] || die "$v must be 0 or 1, got '${!v}'"; done
if (( ${#SWEEP_LIST[@]} > 0 )); then
    (( HOLDOUT > 0 )) || die "HOLDOUT must be at least 1 with a SWEEP (the sweep's probe evaluates on held-out training images)"
    (( SUBSET > 0 && SUBSET + HOLDOUT <= 60000 )) || die "SUBSET ($SUBSET) + HOLDOUT ($HOLDOUT) must be at most the 60 000 training images, with SUBSET ≥ 1"
fi
(( ${#METHOD_LIST[@]} > 0 || ${#SWEEP_LIST[@]} > 0 )) || die "METHODS is empty"
for s in "${SEED_LIST[@]}"; do [[ $s =~ ^[0-9]+$ ]] || die "SEEDS must be whole numbers, got '$s'"; done
for f in "$CONFIGS/base.yaml" "$FINETUNE_CONFIG"; do [[ -f $f ]] || die "missing config $f"; done
for m in "${METHOD_LIST[@]}" "${SWEEP_LIST[@]}"; do
    [[ $m == scratch || -f $CONFIGS/$m.yaml ]] || die "unknown method '$m': no $CONFIGS/$m.yaml"
done
for m in "${SWEEP_LIST[@]}"; do [[ $m != scratch ]] || die "SWEEP lists pre-training methods; scratch has nothing to sweep"; done
command -v "$PYTHON" > /dev/null || die "needs Python 3 ($PYTHON not found) for $HELPER"

if [[ $SKIP_BUILD != 1 && $ROPIM == .build/release/ropim ]]; then
    echo "building ropim (swift build -c release) …"
    swift build -c release > /dev/null || die "swift build -c release failed; run it to see why"
fi
[[ -x $ROPIM ]] || die "no ropim binary at $ROPIM (build it: swift build -c release)"
if [[ -f $ROPIM.commit ]]; then
    BINARY_COMMIT=$(head -n 1 "$ROPIM.commit")
elif [[ $ROPIM == .build/release/ropim ]]; then
    BINARY_COMMIT="$(git rev-parse HEAD 2> /dev/null || echo unknown)$([[ -n $(git status --porcelain --untracked-files=no 2> /dev/null) ]] && echo ' + uncommitted changes')"
else
    BINARY_COMMIT="unknown (no $ROPIM.commit)"
fi

# ---- the knobs of this study, one KEY=value line each (settings.txt); an existing OUT must have the same ones
mkdir -p "$OUT/logs" "$OUT/pictures"
SEEDS=${SEED_LIST[*]} METHODS=${METHOD_LIST[*]}
CONFIG_SHA256=$(cat "$CONFIGS"/*.yaml "$FINETUNE_CONFIG" | sha256sum | cut -c1-16)
SETTINGS=$(for v in SMOKE SEEDS METHODS PRETRAIN_EPOCHS PRETRAIN_MAX_STEPS FINETUNE_EPOCHS FINETUNE_MAX_STEPS PROBE_EPOCHS \
                    SUBSET TEST_SUBSET THREADS FINETUNE_CONFIG CONFIGS VIS_COUNT ANALYZE_COUNT CONFIG_SHA256; do
               echo "$v=${!v}"
           done
           # issue 17's knobs, only when used, so that an earlier study's OUT keeps its settings
           for v in SWEEP HOLDOUT PROBE_LAST_BLOCKS KNN_EVERY BENCH_ROUNDS BENCH_STEPS BENCH_WARMUP; do
               case $v in
                   SWEEP) [[ -n $SWEEP ]] && echo "SWEEP=${SWEEP_LIST[*]}" ;;
                   HOLDOUT) [[ -n $SWEEP ]] && echo "HOLDOUT=$HOLDOUT" ;;
                   PROBE_LAST_BLOCKS) (( PROBE_LAST_BLOCKS != 1 )) && echo "$v=${!v}" ;;
                   KNN_EVERY | BENCH_ROUNDS) (( ${!v} > 0 )) && echo "$v=${!v}" ;;
                   BENCH_STEPS | BENCH_WARMUP) (( BENCH_ROUNDS > 0 )) && echo "$v=${!v}" ;;
               esac
           done
           true)
# SEEDS and METHODS may change (more seeds, another method) without invalidating what is there.
# CONFIG_SHA256 is a hash of every config file (CONFIGS/*.yaml and FINETUNE_CONFIG): editing one mid-study
# is caught too (even a comment: then start a new OUT, or edit settings.txt if you are sure).
stable() { grep -v -e '^SEEDS=' -e '^METHODS=' -e '^BENCH_ROUNDS=' <<< "$1"; }
if [[ -f $OUT/settings.txt ]]; then
    if [[ "$(stable "$(cat "$OUT/settings.txt")")" != "$(stable "$SETTINGS")" ]]; then
        echo "compare_fmnist: $OUT was made with other settings:" >&2
        diff <(stable "$(cat "$OUT/settings.txt")") <(stable "$SETTINGS") | sed 's/^/  /' >&2 || true
        die "use another OUT=…, or delete $OUT to start again"
    fi
fi
# settings.txt lists every seed and method run into OUT so far (the aggregation reports them all), so a
# study can be run in parts: SEEDS="0" first, then SEEDS="1 2" into the same OUT.
merged() {   # merged KEY: the earlier invocations' KEY list, then this one's new entries (from $KEY)
    local all=() x
    for x in $(grep "^$1=" "$OUT/settings.txt" 2> /dev/null | cut -d= -f2-) ${!1}; do
        [[ " ${all[*]} " == *" $x "* ]] || all+=("$x")
    done
    echo "${all[*]}"
}
write_settings() {   # settings.txt with this invocation's SEEDS and METHODS merged into the earlier ones
    SETTINGS=$(sed -e "s/^SEEDS=.*/SEEDS=$(merged SEEDS)/" -e "s/^METHODS=.*/METHODS=$(merged METHODS)/" <<< "$SETTINGS")
    printf '%s\n' "$SETTINGS" > "$OUT/settings.txt.tmp"
    mv "$OUT/settings.txt.tmp" "$OUT/settings.txt"
}
write_settings
# which binary made the runs: one line per invocation (a rebuilt binary mid-study shows up here)
printf '%s\t%s\tsha256 %s\tcommit %s\n' "$(date -Is)" "$ROPIM" "$(sha256sum "$ROPIM" | cut -c1-16)" "$BINARY_COMMIT" >> "$OUT/binary.txt"
# a copy of the configs next to the results (what the numbers were made with)
mkdir -p "$OUT/configs"
cp "$CONFIGS"/*.yaml "$OUT/configs/"
[[ -f $OUT/configs/$(basename "$FINETUNE_CONFIG") ]] || cp "$FINETUNE_CONFIG" "$OUT/configs/"

# ---- one step: skip when done, clean a half-written directory, run, time, stop on failure
# run_step NAME DIR DONE_FILE PARTIAL -- command…   PARTIAL: what to do with DIR when DONE_FILE is missing:
#   resume (keep it if it holds ckpt-*/: ropim pretrain continues it), clean (delete it), keep (leave it)
run_step() {
    local name=$1 dir=$2 done_file=$3 partial=$4; shift 5
    local log=$OUT/logs/$name.log cmd
    cmd=$(printf '%q ' "$@" | sed 's/ $//')
    if [[ -e $dir/$done_file ]]; then
        # reused only when it is the same command (byte for byte): e.g. the sweep's pre-training as seed SEEDS[0]
        if [[ -f $OUT/logs/$name.cmd && "$(cat "$OUT/logs/$name.cmd")" != "$cmd" ]]; then
            die "step '$name' is done ($dir/$done_file) but was made by another command:
  was: $(cat "$OUT/logs/$name.cmd")
  now: $cmd
use another OUT=…, or delete $dir to run it again"
        fi
        echo "  skip $name (done: $dir/$done_file)"
        return 0
    fi
    if [[ -e $dir && $partial != keep ]]; then
        if [[ $partial == resume ]] && compgen -G "$dir/ckpt-*" > /dev/null; then
            echo "  resume $name ($dir holds an unfinished run)"
        else
            rm -rf "$dir"
            rm -f "$OUT/logs/$name.wall"   # the timing of a discarded attempt
        fi
    fi
    echo "$cmd" > "$OUT/logs/$name.cmd"
    echo "  run  $name  (log: $log)"
    { echo "=== $(date -Is)"; cat "$OUT/logs/$name.cmd"; } >> "$log"
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    if [[ -n ${STEP_STDOUT:-} ]]; then   # the command's stdout is its result (e.g. bench --json)
        "$@" > "$STEP_STDOUT.tmp" 2>> "$log" || rc=$?
        cat "$STEP_STDOUT.tmp" >> "$log"
        (( rc == 0 )) && mv "$STEP_STDOUT.tmp" "$STEP_STDOUT"
    else
        "$@" >> "$log" 2>&1 || rc=$?
    fi
    t1=$(date +%s.%N)
    # one line per invocation: a resumed pre-training's wall-clock is the sum (aggregation adds them up)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> "$OUT/logs/$name.wall"
    if (( rc != 0 )); then
        echo >&2
        echo "compare_fmnist: step '$name' FAILED (exit $rc). End of $log:" >&2
        tail -n 15 "$log" | tr '\r' '\n' | tail -n 15 | sed 's/^/  | /' >&2
        echo "command: $(cat "$OUT/logs/$name.cmd")" >&2
        if (( rc == 130 || rc == 143 )); then
            echo "interrupted: run scripts/compare_fmnist.sh again with the same settings (OUT=$OUT) to continue where it stopped." >&2
        fi
        exit 1
    fi
    [[ -e $dir/$done_file ]] || die "step '$name' finished but left no $dir/$done_file"
    echo "       $name done in $(tail -n 1 "$OUT/logs/$name.wall") s"
}

sets_from() {   # sets_from FILE SECTION ARRAY: FILE's keys (under SECTION, "" = all) as --set k=v … in ARRAY
    local -n into=$3
    local flat kv
    flat=$("$PYTHON" "$HELPER" flatten "$1" ${2:+"$2"}) || die "cannot read $1"
    [[ -n $flat ]] || die "$1 sets nothing${2:+ under '$2:'}"
    into=()
    while IFS= read -r kv; do into+=(--set "$kv"); done <<< "$flat"
}

MODEL_SETS=() METHOD_SETS=() ROP_SETS=()
sets_from "$CONFIGS/base.yaml" model MODEL_SETS
# from-scratch fine-tuning: the architecture a fine-tuned checkpoint gets (shared relative bias → per block;
# drop path stays the fine-tuning default, as ropim finetune does for a checkpoint)
SCRATCH_FT_SETS=()
for ((i = 0; i < ${#MODEL_SETS[@]}; i += 2)); do
    kv=${MODEL_SETS[i + 1]}
    [[ $kv == model.drop_path_rate=* ]] && continue
    [[ $kv == model.rel_pos_bias=shared ]] && kv=model.rel_pos_bias=per-block
    SCRATCH_FT_SETS+=(--set "$kv")
done

COMMON=(--threads "$THREADS" --subset "$SUBSET")
DOWN=("${COMMON[@]}" --test-subset "$TEST_SUBSET")
PRE_EXTRA=(); (( PRETRAIN_MAX_STEPS > 0 )) && PRE_EXTRA=(--max-steps "$PRETRAIN_MAX_STEPS")
FT_EXTRA=(); (( FINETUNE_MAX_STEPS > 0 )) && FT_EXTRA=(--max-steps "$FINETUNE_MAX_STEPS")
if (( PROBE_EPOCHS <= 10 )); then   # the probe's default warm-up is 10 epochs: keep it below the run
    PROBE_EXTRA=(--set "probe.warmup_epochs=$(( PROBE_EPOCHS > 1 ? PROBE_EPOCHS / 2 : 0 ))")
else
    PROBE_EXTRA=()
fi

BLOCKS=(); (( PROBE_LAST_BLOCKS > 1 )) && BLOCKS=(--last-blocks "$PROBE_LAST_BLOCKS")   # encoders only, not pixels
KNN_EXTRA=(); (( KNN_EVERY > 0 )) && KNN_EXTRA=(--knn-every "$KNN_EVERY")

echo "compare_fmnist: $([[ -n $SWEEP ]] && echo "sweep ${SWEEP_LIST[*]}; ")methods ${METHOD_LIST[*]:-(from the sweep)}; seeds ${SEED_LIST[*]}; OUT $OUT$([[ $SMOKE == 1 ]] && echo ' (SMOKE)')"
echo "  pre-train $PRETRAIN_EPOCHS epochs, fine-tune $FINETUNE_EPOCHS, probe $PROBE_EPOCHS; subset $SUBSET, test subset $TEST_SUBSET; $THREADS threads"

# ---- reference: a linear model and k-NN on the normalized pixels (once, seed 0)
run_step pixels-linprobe "$OUT/pixels/linprobe" summary.json clean -- \
    "$ROPIM" linprobe --features pixels --epochs "$PROBE_EPOCHS" "${PROBE_EXTRA[@]}" "${DOWN[@]}" --seed 0 --output "$OUT/pixels/linprobe"
run_step pixels-knn "$OUT/pixels/knn" summary.json clean -- \
    "$ROPIM" knn --features pixels "${DOWN[@]}" --seed 0 --output "$OUT/pixels/knn"

# pretrain METHOD SEED: the one pre-training command of a method and seed (sweep and seeds alike)
pretrain() {
    local m=$1 seed=$2 sets=()
    sets_from "$CONFIGS/$m.yaml" "" sets
    run_step "$m-seed$seed-pretrain" "$OUT/$m/seed$seed/pretrain" checkpoint.safetensors resume -- \
        "$ROPIM" pretrain --config "$CONFIGS/base.yaml" "${sets[@]}" --epochs "$PRETRAIN_EPOCHS" \
        "${PRE_EXTRA[@]}" "${KNN_EXTRA[@]}" "${COMMON[@]}" --seed "$seed" --output "$OUT/$m/seed$seed/pretrain"
}

# ---- issue 17, 1–2: the sweep (seed SEEDS[0]) and the selection by a probe on held-out training images
if (( ${#SWEEP_LIST[@]} > 0 )); then
    s0=${SEED_LIST[0]}
    for m in "${SWEEP_LIST[@]}"; do
        pretrain "$m" "$s0"
        d=$OUT/$m/seed$s0
        run_step "$m-seed$s0-holdout" "$d/holdout" summary.json clean -- \
            "$ROPIM" linprobe --pretrained "$d/pretrain/checkpoint.safetensors" --features pretrained --epochs "$PROBE_EPOCHS" \
            "${PROBE_EXTRA[@]}" "${BLOCKS[@]}" "${COMMON[@]}" --holdout "$HOLDOUT" --seed "$s0" --output "$d/holdout"
    done
    SELECTED=$("$PYTHON" "$HELPER" select "$OUT" "$CONFIGS" "$s0" "${SWEEP_LIST[@]}") || die "the selection failed (see above)"
    echo "  selected by the held-out probe: $SELECTED (OUT/selection.json)"
    if [[ -z $METHODS_GIVEN ]]; then
        read -r -a METHOD_LIST <<< "$SELECTED scratch"
        METHODS=${METHOD_LIST[*]}
        write_settings
    fi
fi

# ---- issue 17, 4: seconds per step of every method, side by side: rounds of one short bench each,
# alternated (the order rotates every round); the medians place the k-NN curve on the time axis
if (( BENCH_ROUNDS > 0 )); then
    BENCH_LIST=()
    for m in "${SWEEP_LIST[@]}" "${METHOD_LIST[@]}"; do
        [[ $m == scratch || " ${BENCH_LIST[*]} " == *" $m "* ]] || BENCH_LIST+=("$m")
    done
    n=${#BENCH_LIST[@]}
    for ((r = 1; r <= BENCH_ROUNDS; r++)); do
        for ((i = 0; i < n; i++)); do
            m=${BENCH_LIST[(i + r - 1) % n]}
            sets=()
            sets_from "$CONFIGS/$m.yaml" "" sets
            mkdir -p "$OUT/bench/round$r"
            STEP_STDOUT=$OUT/bench/round$r/$m.json run_step "bench-round$r-$m" "$OUT/bench/round$r" "$m.json" keep -- \
                "$ROPIM" bench --config "$CONFIGS/base.yaml" "${sets[@]}" --steps "$BENCH_STEPS" --warmup "$BENCH_WARMUP" \
                --threads "$THREADS" --json
        done
    done
fi

# ---- the seeds: each method's pre-training (not for scratch), k-NN, linear probe, fine-tuning
for seed in "${SEED_LIST[@]}"; do
    for m in "${METHOD_LIST[@]}"; do
        d=$OUT/$m/seed$seed
        if [[ $m == scratch ]]; then
            SRC=(--features random "${MODEL_SETS[@]}")
            FT_SRC=("${SCRATCH_FT_SETS[@]}")
        else
            pretrain "$m" "$seed"
            SRC=(--pretrained "$d/pretrain/checkpoint.safetensors" --features pretrained)
            FT_SRC=(--pretrained "$d/pretrain/checkpoint.safetensors")
        fi
        run_step "$m-seed$seed-knn" "$d/knn" summary.json clean -- \
            "$ROPIM" knn "${SRC[@]}" "${DOWN[@]}" --seed "$seed" --output "$d/knn"
        run_step "$m-seed$seed-linprobe" "$d/linprobe" summary.json clean -- \
            "$ROPIM" linprobe "${SRC[@]}" --epochs "$PROBE_EPOCHS" "${PROBE_EXTRA[@]}" "${BLOCKS[@]}" "${DOWN[@]}" --seed "$seed" \
            --output "$d/linprobe"
        run_step "$m-seed$seed-finetune" "$d/finetune" summary.json clean -- \
            "$ROPIM" finetune "${FT_SRC[@]}" --config "$FINETUNE_CONFIG" --epochs "$FINETUNE_EPOCHS" "${FT_EXTRA[@]}" \
            "${DOWN[@]}" --seed "$seed" --output "$d/finetune"
    done
done

# ---- pictures: the first seed's checkpoints, the same images and corruption seed for every method
if [[ $PICTURES == 1 ]]; then
    s0=${SEED_LIST[0]}
    for m in "${METHOD_LIST[@]}"; do
        [[ $m == scratch ]] && continue
        run_step "$m-reconstructions" "$OUT/pictures" "reconstructions-$m.png" keep -- \
            "$ROPIM" visualize --checkpoint "$OUT/$m/seed$s0/pretrain" --split test --count "$VIS_COUNT" --seed 0 \
            --threads "$THREADS" --output "$OUT/pictures/reconstructions-$m.png"
    done
    rop=""
    for m in "${METHOD_LIST[@]}"; do [[ $m == rop-* ]] && { rop=$m; break; }; done
    [[ -n $rop ]] && sets_from "$CONFIGS/$rop.yaml" method ROP_SETS
    run_step corruption-histogram "$OUT/pictures/corruption" kept_energy.png clean -- \
        "$ROPIM" analyze corruption --config "$CONFIGS/base.yaml" "${ROP_SETS[@]}" --count "$ANALYZE_COUNT" --seed 0 \
        --output "$OUT/pictures/corruption"
fi

# ---- issue 17, 4: k-NN top-1 against pre-training hours (mean over the seeds at each epoch)
if (( KNN_EVERY > 0 && BENCH_ROUNDS > 0 )); then
    "$PYTHON" "$HELPER" curves "$OUT" || die "writing OUT/curves failed (see above)"
    curve_dirs=()
    for m in "${METHOD_LIST[@]}"; do [[ -f $OUT/curves/$m/metrics.jsonl ]] && curve_dirs+=("$OUT/curves/$m"); done
    if (( ${#curve_dirs[@]} > 0 )); then
        "$ROPIM" plot "${curve_dirs[@]}" --metric knn_top1 --x hours \
            --title "k-NN top-1 (%) vs pre-training hours (bench s/step)" \
            --output "$OUT/pictures/knn-vs-hours" > "$OUT/logs/plot-knn-vs-hours.log" 2>&1 \
            || die "ropim plot failed: see $OUT/logs/plot-knn-vs-hours.log"
    fi
fi

"$PYTHON" "$HELPER" aggregate "$OUT"
