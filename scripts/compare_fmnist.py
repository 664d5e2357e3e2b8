#!/usr/bin/env python3
"""Helper of scripts/compare_fmnist.sh (issue 8): standard library only.

  compare_fmnist.py flatten FILE [SECTION]   print a ropim YAML config as key=value lines for --set
  compare_fmnist.py aggregate OUT            read OUT's run directories, write OUT/results.json and results.md

The layout of OUT (made by compare_fmnist.sh):
  OUT/settings.txt                      the knobs the study was started with
  OUT/<method>/seed<s>/pretrain/        ropim pretrain run (not for scratch)
  OUT/<method>/seed<s>/{knn,linprobe,finetune}/   downstream runs, each with summary.json
  OUT/pixels/{knn,linprobe}/            raw-pixel reference (once)
  OUT/pictures/                         reconstructions and the token-energy histogram
  OUT/logs/<step>.{cmd,log,wall}        the command, its output, its wall-clock seconds (one line per invocation)
"""

import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys

METHOD_LABELS = {
    "rop-l1": "ROPIM, L1 (K'=7)",
    "rop-mse": "ROPIM, MSE (K'=7)",
    "rop-l1-k20": "ROPIM, L1 (K'=20, i.i.d.)",
    "mask": "SimMIM masking (0.6)",
    "scratch": "no pre-training",
}


# ---------------------------------------------------------------- flatten

def flatten(path, section=None):
    """The restricted YAML ropim configs use (block mappings, scalar or flow-list values, # comments)
    as (dotted.key, value) pairs. Enough for the files in configs/; not a general YAML reader."""
    pairs, stack = [], []  # stack of (indent, key)
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = strip_comment(raw).rstrip()
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip(" "))
            m = re.match(r"^\s*([A-Za-z0-9_]+)\s*:\s*(.*)$", line)
            if not m:
                sys.exit(f"{path}:{n}: cannot read '{raw.rstrip()}' (expected 'key: value')")
            key, value = m.group(1), m.group(2).strip()
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if value == "":
                stack.append((indent, key))
                continue
            dotted = ".".join([k for _, k in stack] + [key])
            pairs.append((dotted, value))
    if section:
        pairs = [(k, v) for k, v in pairs if k.startswith(section + ".")]
    return pairs


def strip_comment(line):
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


# ---------------------------------------------------------------- reading runs

def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_jsonl(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        pass  # a line cut by a kill
    except OSError:
        pass
    return rows


def percent(x):
    """summary.json accuracies (top1, top5, best_top1) are already in percent."""
    return None if x is None else float(x)


def wall_seconds(out, step):
    """Wall-clock of a step's command, summed over invocations (a resumed pre-training has several)."""
    try:
        with open(os.path.join(out, "logs", step + ".wall"), encoding="utf-8") as f:
            vals = [float(v) for v in f.read().split()]
        return sum(vals) if vals else None
    except (OSError, ValueError):
        return None


def pretrain_stats(out, method, seed):
    d = os.path.join(out, method, f"seed{seed}", "pretrain")
    if not os.path.exists(os.path.join(d, "checkpoint.safetensors")):
        return None
    rows = [r for r in read_jsonl(os.path.join(d, "metrics.jsonl")) if "loss" in r and "time" in r]
    if not rows:
        return None
    # "time" counts from the start of the training loop; a resumed run starts again at 0, and its
    # metrics.jsonl keeps the steps written before the checkpoint it resumed from. Sum the segments.
    seconds, seg_max, prev_t, prev_step = 0.0, 0.0, None, None
    for r in rows:
        if prev_t is not None and (r["time"] < prev_t or r["step"] <= prev_step):
            seconds += seg_max
            seg_max = 0.0
        seg_max = max(seg_max, r["time"])
        prev_t, prev_step = r["time"], r["step"]
    seconds += seg_max
    steps = rows[-1]["step"]
    steps_per_epoch = None
    log = os.path.join(out, "logs", f"{method}-seed{seed}-pretrain.log")
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            found = re.findall(r"(\d+) epochs × (\d+) steps", f.read())
        if found:
            steps_per_epoch = int(found[-1][1])
    except OSError:
        pass
    if steps_per_epoch is None:  # fall back on the metrics: the steps logged with epoch 1, if epoch 2 exists
        e1 = [r for r in rows if r.get("epoch") == 1]
        if any(r.get("epoch") == 2 for r in rows):
            steps_per_epoch = len(e1)
    cfg = {}
    for k, v in flatten(os.path.join(d, "config.yaml")):
        cfg[k] = v
    batch = int(cfg.get("optim.batch_size", "128")) * int(cfg.get("optim.accum_steps", "1"))
    # per-epoch wall-clock of every complete epoch (from the step times, within one segment)
    epoch_seconds, last_time, last_epoch_end = [], {}, {}
    for r in rows:
        last_time[r["epoch"]] = r["time"]
    epochs_seen = sorted(last_time)
    for e in epochs_seen:
        if steps_per_epoch and e * steps_per_epoch <= steps:
            start = last_time.get(e - 1, 0.0) if e > 1 else 0.0
            if last_time[e] >= start:
                epoch_seconds.append(last_time[e] - start)
    losses = [r["loss"] for r in rows]
    tail = losses[-steps_per_epoch:] if steps_per_epoch else losses[-max(1, len(losses) // 10):]
    return {
        "run_directory": d,
        "steps": steps,
        "steps_per_epoch": steps_per_epoch,
        "epochs_done": steps / steps_per_epoch if steps_per_epoch else None,
        "seconds": seconds,
        "seconds_per_epoch": seconds * steps_per_epoch / steps if steps_per_epoch and steps else None,
        "epoch_seconds": epoch_seconds,
        "images_per_second": steps * batch / seconds if seconds > 0 else None,
        "wall_seconds": wall_seconds(out, f"{method}-seed{seed}-pretrain"),
        "final_loss": sum(tail) / len(tail),
        "loss_kind": cfg.get("method.loss"),
        "corruption": cfg.get("method.corruption"),
    }


def downstream(out, d, step):
    s = read_json(os.path.join(d, "summary.json"))
    if s is None:
        return None
    r = {"run_directory": d, "top1": percent(s.get("top1")), "top5": percent(s.get("top5")),
         "seconds": s.get("seconds"), "wall_seconds": wall_seconds(out, step)}
    if "best_top1" in s:
        r["best_top1"] = percent(s.get("best_top1"))
    if "epochs" in s:
        r["epochs"] = s["epochs"]
    return r


def mean_std(values):
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else None, "n": len(vals)}


def fmt(stat, digits):
    if stat is None or stat["mean"] is None:
        return "—"
    s = f"{stat['mean']:.{digits}f}"
    if stat["std"] is not None:
        s += f" ± {stat['std']:.{digits}f}"
    if stat.get("missing"):
        s += f" (n={stat['n']})"
    return s


# ---------------------------------------------------------------- machine

def machine():
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    load = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return {"nproc": nproc, "cpu_model": model or platform.processor() or "unknown",
            "kernel": platform.platform(), "load_average": load,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def git_commit(root):
    def git(*args):
        try:
            return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None
    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if dirty is not None else None, "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


# ---------------------------------------------------------------- aggregate

def read_settings(out):
    settings = {}
    try:
        with open(os.path.join(out, "settings.txt"), encoding="utf-8") as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    settings[k] = v
    except OSError:
        pass
    return settings


def aggregate(out):
    settings = read_settings(out)
    seeds = settings.get("SEEDS", "").split()
    methods = settings.get("METHODS", " ".join(METHOD_LABELS)).split()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    runs, table = {}, {}
    for m in methods:
        runs[m] = {}
        for s in seeds:
            base = os.path.join(out, m, f"seed{s}")
            r = {"pretrain": pretrain_stats(out, m, s) if m != "scratch" else None}
            for step in ("knn", "linprobe", "finetune"):
                r[step] = downstream(out, os.path.join(base, step), f"{m}-seed{s}-{step}")
            runs[m][s] = r

        def col(get):
            vals = []
            for s in seeds:
                try:
                    vals.append(get(runs[m][s]))
                except (TypeError, KeyError):
                    vals.append(None)
            st = mean_std(vals)
            st["missing"] = st["n"] < len(seeds)
            st["values"] = vals
            return st
        table[m] = {
            "label": METHOD_LABELS.get(m, m),
            "knn_top1": col(lambda r: r["knn"]["top1"]),
            "linprobe_top1": col(lambda r: r["linprobe"]["top1"]),
            "finetune_top1": col(lambda r: r["finetune"]["top1"]),
            "finetune_best_top1": col(lambda r: r["finetune"]["best_top1"]),
            "pretrain_seconds": col(lambda r: r["pretrain"]["seconds"]),
            "pretrain_seconds_per_epoch": col(lambda r: r["pretrain"]["seconds_per_epoch"]),
            "pretrain_wall_seconds": col(lambda r: r["pretrain"]["wall_seconds"]),
        }
    pixels = {step: downstream(out, os.path.join(out, "pixels", step), f"pixels-{step}") for step in ("knn", "linprobe")}

    commands = []
    logs = os.path.join(out, "logs")
    if os.path.isdir(logs):
        for name in sorted(os.listdir(logs), key=lambda n: (os.path.getmtime(os.path.join(logs, n)), n)):
            if name.endswith(".cmd"):
                with open(os.path.join(logs, name), encoding="utf-8") as f:
                    commands.append({"step": name[:-4], "command": f.read().strip()})

    pictures = []  # (label, path relative to OUT/pictures), in METHODS order
    pic_dir = os.path.join(out, "pictures")
    for m in methods:
        if os.path.exists(os.path.join(pic_dir, f"reconstructions-{m}.png")):
            pictures.append({"label": f"Reconstructions, {METHOD_LABELS.get(m, m)}", "path": f"reconstructions-{m}.png"})
    if os.path.exists(os.path.join(pic_dir, "corruption", "kept_energy.png")):
        pictures.append({"label": "Token energy kept: ROPIM vs masking at the same ratio", "path": "corruption/kept_energy.png"})

    result = {
        "issue": 8,
        "title": "ROPIM vs SimMIM masking vs no pre-training on Fashion-MNIST",
        "smoke": settings.get("SMOKE") == "1",
        "settings": settings,
        "machine": machine(),
        "ropim": git_commit(root),
        "table": table,
        "pixels_reference": pixels,
        "runs": runs,
        "pictures": pictures,
        "commands": commands,
        "notes": [
            "accuracies in percent on the Fashion-MNIST test split (or its seeded TEST_SUBSET); mean ± sample std (n−1) over seeds",
            "pretrain_seconds: the training loop (metrics.jsonl 'time', summed over resumed segments); pretrain_wall_seconds: the whole command (data loading, checkpoints)",
            "seconds per epoch = pretrain_seconds × steps_per_epoch / steps",
        ],
    }
    with open(os.path.join(out, "results.json.tmp"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(os.path.join(out, "results.json.tmp"), os.path.join(out, "results.json"))
    md = markdown(result, seeds, methods)
    with open(os.path.join(out, "results.md.tmp"), "w", encoding="utf-8") as f:
        f.write(md)
    os.replace(os.path.join(out, "results.md.tmp"), os.path.join(out, "results.md"))
    complete = all(t[k]["n"] == len(seeds) for t in table.values()
                   for k in ("knn_top1", "linprobe_top1", "finetune_top1"))
    print(f"wrote {os.path.join(out, 'results.md')} and results.json{'' if complete else ' (some runs missing)'}")


def plural(n, word):
    return f"{n} {word}" + ("" if str(n) == "1" else "s")


def markdown(r, seeds, methods):
    s, mach, git = r["settings"], r["machine"], r["ropim"]
    L = []
    L.append("# ROPIM vs SimMIM masking vs no pre-training on Fashion-MNIST (issue 8)")
    L.append("")
    if r["smoke"]:
        L.append("> **SMOKE TEST** (`SMOKE=1`): a few optimizer steps on a few hundred images. It checks that the")
        L.append("> harness runs from start to finish; the numbers below mean nothing about the methods.")
        L.append("")
    L.append(f"Made by `scripts/compare_fmnist.sh` on {mach['date']}. Seeds: {', '.join(seeds)} "
             f"(n = {len(seeds)}); mean ± sample standard deviation over seeds. Accuracies are top-1 (%) on the "
             f"Fashion-MNIST test split{'' if s.get('TEST_SUBSET', '0') == '0' else ' (a seeded subset of ' + s['TEST_SUBSET'] + ' images)'}.")
    L.append("")
    L.append("| method | k-NN top-1 (%) | linear probe top-1 (%) | fine-tune top-1 (%) | pre-train (s) | s / epoch |")
    L.append("|---|---|---|---|---|---|")
    for m in methods:
        t = r["table"][m]
        L.append(f"| {t['label']} | {fmt(t['knn_top1'], 2)} | {fmt(t['linprobe_top1'], 2)} | {fmt(t['finetune_top1'], 2)} | "
                 f"{fmt(t['pretrain_seconds'], 0) if m != 'scratch' else '0'} | {fmt(t['pretrain_seconds_per_epoch'], 1) if m != 'scratch' else '—'} |")
    px = r["pixels_reference"]
    L.append(f"| raw pixels (reference, seed 0) | {fmt({'mean': px['knn']['top1'], 'std': None}, 2) if px.get('knn') else '—'} | "
             f"{fmt({'mean': px['linprobe']['top1'], 'std': None}, 2) if px.get('linprobe') else '—'} | — | — | — |")
    L.append("")
    L.append("- **k-NN**: weighted 20-NN (cosine, T = 0.07) on the frozen encoder's mean-pooled final tokens; memory = the training images.")
    L.append(f"- **Linear probe**: BatchNorm (no affine) + linear head on the same frozen features, {s.get('PROBE_EPOCHS', '?')} epochs (SGD).")
    L.append(f"- **Fine-tune**: {plural(s.get('FINETUNE_EPOCHS', '?'), 'epoch')} with `{s.get('FINETUNE_CONFIG', '?')}`; top-1 after the last epoch "
             "(best epoch in results.json).")
    L.append("- **no pre-training**: the probes see a randomly initialized encoder of the same architecture (`--features random`); "
             "fine-tuning starts from a random initialization (per-block relative position bias, as a fine-tuned checkpoint gets).")
    L.append(f"- **pre-train (s)**: the training loop's wall-clock (metrics.jsonl `time`; data loading and checkpoint writing excluded, "
             f"they are in results.json as `wall_seconds`); **s / epoch** = that × steps per epoch / steps, "
             f"with {plural(s.get('PRETRAIN_EPOCHS', '?'), 'pre-training epoch')}{'' if s.get('PRETRAIN_MAX_STEPS', '0') == '0' else ' cut at ' + s['PRETRAIN_MAX_STEPS'] + ' steps'}.")
    incomplete = [m for m in methods for k in ("knn_top1", "linprobe_top1", "finetune_top1") if r["table"][m][k]["missing"]]
    if incomplete:
        L.append(f"- **Incomplete**: some runs are missing for {', '.join(sorted(set(incomplete)))} (n shown where below {len(seeds)}).")
    L.append("")
    L.append("## Per seed")
    L.append("")
    L.append("| method | seed | k-NN | linear probe | fine-tune (last / best) | pre-train s | s / epoch | img/s | final loss |")
    L.append("|---|---|---|---|---|---|---|---|---|")

    def v(x, d=2):
        return "—" if x is None else f"{x:.{d}f}"
    for m in methods:
        for sd in seeds:
            run = r["runs"][m][sd]
            p = run["pretrain"] or {}
            ft = run["finetune"] or {}
            L.append(f"| {m} | {sd} | {v((run['knn'] or {}).get('top1'))} | {v((run['linprobe'] or {}).get('top1'))} | "
                     f"{v(ft.get('top1'))} / {v(ft.get('best_top1'))} | {v(p.get('seconds'), 0)} | {v(p.get('seconds_per_epoch'), 1)} | "
                     f"{v(p.get('images_per_second'), 0)} | {v(p.get('final_loss'), 4)} |")
    L.append("")
    L.append("Final loss: mean loss over the last pre-training epoch; L1, MSE and masked-L1 losses are not comparable with each other.")
    L.append("")
    L.append("## Pictures")
    L.append("")
    if r["pictures"]:
        L.append(f"Reconstructions: seed {seeds[0]}'s checkpoints, the same {s.get('VIS_COUNT', '?')} test images and corruption seed for "
                 "each method (`ropim visualize`; columns: original, corrupted input, decoder output, output with the kept part pasted "
                 "back, |error| where the loss looks; each grid's heat map has its own scale, printed under it). Token energy: "
                 f"`ropim analyze corruption` on {s.get('ANALYZE_COUNT', '?')} images: the fraction of each token's energy ROPIM "
                 "(K' = 7) keeps, against masking at the same kept ratio ρ = K'/K (paper Fig. 7a; "
                 "not the 0.6 ratio the SimMIM runs train with). CSV, SVG and summary.txt next to the PNG.")
        L.append("")
        for p in r["pictures"]:
            L.append(f"- [{p['label']}](pictures/{p['path']})")
        L.append("")
        for p in r["pictures"]:
            L.append(f"### {p['label']}")
            L.append("")
            L.append(f"![{p['label']}](pictures/{p['path']})")
            L.append("")
    else:
        L.append("(none yet)")
    L.append("")
    L.append("## Settings")
    L.append("")
    L.append("| knob | value |")
    L.append("|---|---|")
    for k, val in s.items():
        L.append(f"| {k} | `{val}` |")
    L.append("")
    L.append("## Machine and code")
    L.append("")
    L.append(f"- CPU: {mach['cpu_model']}; nproc {mach['nproc']}; load average at aggregation {mach['load_average']}")
    L.append(f"- {mach['kernel']}")
    L.append(f"- ropim commit `{git['commit']}`{' (working tree with uncommitted changes)' if git['dirty'] else ''} on `{git['branch']}`")
    L.append(f"- results written {mach['date']}")
    L.append("")
    L.append("## Commands")
    L.append("")
    L.append("Run from the repository root, in this order (each step's output: `logs/<step>.log` next to this file).")
    L.append("")
    L.append("```sh")
    for c in r["commands"]:
        L.append(f"# {c['step']}")
        L.append(c["command"])
    L.append("```")
    L.append("")
    return "\n".join(L)


def main(argv):
    if len(argv) >= 2 and argv[0] == "flatten":
        for k, v in flatten(argv[1], argv[2] if len(argv) > 2 else None):
            print(f"{k}={v}")
    elif len(argv) == 2 and argv[0] == "aggregate":
        aggregate(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
