#!/usr/bin/env python3
"""Helper of scripts/compare_fmnist.sh (issue 8): standard library only.

  compare_fmnist.py flatten FILE [SECTION]   print a ropim YAML config as key=value lines for --set
  compare_fmnist.py select OUT CONFIGS SEED METHOD…   issue 17: per objective the sweep setting with the best
                                             held-out probe top-1; writes OUT/selection.json, prints the names
  compare_fmnist.py curves OUT               issue 17: OUT/curves/<method>/metrics.jsonl, k-NN top-1 (mean over
                                             seeds) per epoch with its pre-training hours at the bench's s/step
  compare_fmnist.py aggregate OUT            read OUT's run directories, write OUT/results.json and results.md

The layout of OUT (made by compare_fmnist.sh):
  OUT/settings.txt                      the knobs the study was started with
  OUT/<method>/seed<s>/pretrain/        ropim pretrain run (not for scratch)
  OUT/<method>/seed<s>/{knn,linprobe,finetune}/   downstream runs, each with summary.json
  OUT/pixels/{knn,linprobe}/            raw-pixel reference (once)
  OUT/pictures/                         reconstructions and the token-energy histogram
  OUT/logs/<step>.{cmd,log,wall}        the command, its output, its wall-clock seconds (one line per invocation)
  OUT/<method>/seed<s>/holdout/         issue 17's sweep: linear probe evaluated on held-out training images
  OUT/selection.json                    the sweep's choice per objective
  OUT/bench/round<r>/<method>.json      `ropim bench --json`, side by side, alternated
  OUT/curves/<method>/metrics.jsonl     k-NN top-1 per epoch against hours (for `ropim plot --x hours`)
  OUT/binary.txt                        the ropim binary of every invocation (sha256, git commit)
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


def method_label(configs, m):
    """A label for a method file: METHOD_LABELS, else what its method section sets."""
    if m in METHOD_LABELS:
        return METHOD_LABELS[m]
    try:
        cfg = dict(flatten(os.path.join(configs, m + ".yaml")))
    except (OSError, SystemExit):
        return m
    return describe(cfg) or m


def describe(cfg):
    """ "ROPIM, L1 (K'=14, iid)", "SimMIM masking (0.4)", "MAE (0.75)" from flattened method keys."""
    c = cfg.get("method.corruption")
    if c == "rop":
        return f"ROPIM, {cfg.get('method.loss', 'l1').upper()} (K'={cfg.get('method.sketch_size', '7')}, {cfg.get('method.sampler', 'balanced')})"
    if c == "mask":
        return f"SimMIM masking ({cfg.get('method.mask_ratio', '0.6')})"
    if c == "mae":
        return f"MAE ({cfg.get('method.mae_mask_ratio', '0.75')}, decoder {cfg.get('method.decoder_depth', '2')}×{cfg.get('method.decoder_embed_dim', '128')})"
    return None


OBJECTIVE_NAMES = {"rop": "ROPIM", "mask": "SimMIM", "mae": "MAE"}


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


# ---------------------------------------------------------------- issue 17: selection, bench, curves

def sweep_rows(out, configs, seed, methods):
    """Per sweep setting: objective, label, held-out probe top-1 (None while missing)."""
    rows = []
    for m in methods:
        cfg = dict(flatten(os.path.join(configs, m + ".yaml")))
        s = read_json(os.path.join(out, m, f"seed{seed}", "holdout", "summary.json"))
        rows.append({"method": m, "objective": cfg.get("method.corruption", "?"), "label": method_label(configs, m),
                     "holdout_top1": percent(s.get("top1")) if s else None,
                     "holdout_images": s.get("test_images") if s else None,
                     "evaluation": s.get("evaluation") if s else None})
    return rows


def select(out, configs, seed, methods):
    rows = sweep_rows(out, configs, seed, methods)
    missing = [r["method"] for r in rows if r["holdout_top1"] is None]
    if missing:
        sys.exit(f"select: no held-out probe result for {', '.join(missing)} (OUT/<method>/seed{seed}/holdout/summary.json)")
    wrong = [r["method"] for r in rows if r["evaluation"] != "held-out"]
    if wrong:
        sys.exit(f"select: the probe of {', '.join(wrong)} was not evaluated on held-out training images")
    groups = {}
    for r in rows:   # the first best in SWEEP order wins a tie
        g = groups.setdefault(r["objective"], {"settings": [], "selected": None})
        g["settings"].append(r)
        if g["selected"] is None or r["holdout_top1"] > next(x for x in g["settings"] if x["method"] == g["selected"])["holdout_top1"]:
            g["selected"] = r["method"]
    result = {"seed": seed, "criterion": "linear-probe top-1 on held-out training images (ropim linprobe --holdout)",
              "groups": groups}
    tmp = os.path.join(out, "selection.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "selection.json"))
    print(" ".join(g["selected"] for g in groups.values()))


def bench_stats(out):
    """Per method: the median over rounds of `ropim bench`'s median seconds per step, and every round's."""
    per = {}
    d = os.path.join(out, "bench")
    if not os.path.isdir(d):
        return per
    for rnd in sorted(os.listdir(d)):
        rd = os.path.join(d, rnd)
        if not os.path.isdir(rd):
            continue
        for name in sorted(os.listdir(rd)):
            if name.endswith(".json"):
                j = read_json(os.path.join(rd, name))
                if j and j.get("step_seconds"):
                    per.setdefault(name[:-5], []).append(float(j["step_seconds"]))
    return {m: {"step_seconds": statistics.median(v), "rounds": v} for m, v in per.items()}


def knn_along(out, m, seed):
    """(epoch, knn_top1) pairs a pre-training run logged with --knn-every."""
    rows = read_jsonl(os.path.join(out, m, f"seed{seed}", "pretrain", "metrics.jsonl"))
    found = {}
    for r in rows:
        if "knn_top1" in r and "epoch" in r:
            found[int(r["epoch"])] = float(r["knn_top1"])   # a resumed run may repeat an epoch: the last wins
    return sorted(found.items())


def curve_points(out, m, seeds, bench):
    """k-NN top-1 (mean ± std over the seeds that have it) per epoch, at epoch × steps/epoch × bench s/step."""
    if m not in bench:
        return []
    spe = None
    for s in seeds:
        p = pretrain_stats(out, m, s)
        if p and p.get("steps_per_epoch"):
            spe = p["steps_per_epoch"]
            break
    if spe is None:
        return []
    by_epoch = {}
    for s in seeds:
        for e, v in knn_along(out, m, s):
            by_epoch.setdefault(e, []).append(v)
    pts = []
    for e in sorted(by_epoch):
        st = mean_std(by_epoch[e])
        pt = {"epoch": e, "hours": e * spe * bench[m]["step_seconds"] / 3600, "knn_top1": st["mean"], "seeds": st["n"]}
        if st["std"] is not None:
            pt["knn_top1_std"] = st["std"]
        pts.append(pt)
    return pts


def curves(out):
    settings = read_settings(out)
    seeds = settings.get("SEEDS", "").split()
    methods = [m for m in settings.get("METHODS", "").split() + settings.get("SWEEP", "").split() if m != "scratch"]
    bench = bench_stats(out)
    for m in dict.fromkeys(methods):
        pts = curve_points(out, m, seeds, bench)
        if not pts:
            continue
        d = os.path.join(out, "curves", m)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "metrics.jsonl.tmp"), "w", encoding="utf-8") as f:
            for p in pts:
                f.write(json.dumps(p, sort_keys=True) + "\n")
        os.replace(os.path.join(d, "metrics.jsonl.tmp"), os.path.join(d, "metrics.jsonl"))


def binaries(out):
    try:
        with open(os.path.join(out, "binary.txt"), encoding="utf-8") as f:
            lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    except OSError:
        return []
    seen = {}
    for parts in lines:
        if len(parts) == 4:
            key = (parts[1], parts[2], parts[3])
            seen.setdefault(key, {"path": parts[1], "sha256": parts[2].replace("sha256 ", ""),
                                  "commit": parts[3].replace("commit ", ""), "first_used": parts[0]})
    return list(seen.values())


def aggregate(out):
    settings = read_settings(out)
    seeds = settings.get("SEEDS", "").split()
    methods = settings.get("METHODS", " ".join(METHOD_LABELS)).split()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    configs = os.path.join(out, "configs")   # the harness's copy of the configs the runs were made with
    bench = bench_stats(out)

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
            "label": method_label(configs, m),
            "knn_top1": col(lambda r: r["knn"]["top1"]),
            "linprobe_top1": col(lambda r: r["linprobe"]["top1"]),
            "finetune_top1": col(lambda r: r["finetune"]["top1"]),
            "finetune_best_top1": col(lambda r: r["finetune"]["best_top1"]),
            "pretrain_seconds": col(lambda r: r["pretrain"]["seconds"]),
            "pretrain_seconds_per_epoch": col(lambda r: r["pretrain"]["seconds_per_epoch"]),
            "pretrain_wall_seconds": col(lambda r: r["pretrain"]["wall_seconds"]),
            "bench_step_seconds": bench.get(m, {}).get("step_seconds"),
        }
        spe = next((runs[m][sd]["pretrain"]["steps_per_epoch"] for sd in seeds
                    if runs[m][sd]["pretrain"] and runs[m][sd]["pretrain"].get("steps_per_epoch")), None)
        if table[m]["bench_step_seconds"] and spe:
            table[m]["bench_seconds_per_epoch"] = table[m]["bench_step_seconds"] * spe

    sweep = None
    sweep_methods = settings.get("SWEEP", "").split()
    if sweep_methods and seeds:
        sel = read_json(os.path.join(out, "selection.json")) or {}
        chosen = {g["selected"] for g in sel.get("groups", {}).values()}
        rows = sweep_rows(out, configs, seeds[0], sweep_methods)
        for r in rows:
            p = pretrain_stats(out, r["method"], seeds[0])
            r["selected"] = r["method"] in chosen
            r["pretrain_seconds"] = p["seconds"] if p else None
            r["final_loss"] = p["final_loss"] if p else None
            r["knn_along"] = knn_along(out, r["method"], seeds[0])
            b = bench.get(r["method"])
            r["bench_step_seconds"] = b["step_seconds"] if b else None
            r["bench_seconds_per_epoch"] = b["step_seconds"] * p["steps_per_epoch"] if b and p and p.get("steps_per_epoch") else None
        sweep = {"seed": seeds[0], "holdout": settings.get("HOLDOUT"), "rows": rows, "selected": sorted(chosen)}
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
    if os.path.exists(os.path.join(pic_dir, "knn-vs-hours.png")):
        pictures.append({"label": "k-NN top-1 along pre-training, against hours (side-by-side s/step)", "path": "knn-vs-hours.png"})
    corruption_setting = None  # the first line of `ropim analyze corruption`'s summary: which K' and ratio it compared
    if os.path.exists(os.path.join(pic_dir, "corruption", "kept_energy.png")):
        pictures.append({"label": "Token energy kept: ROPIM vs masking at the same ratio", "path": "corruption/kept_energy.png"})
        summary = os.path.join(pic_dir, "corruption", "summary.txt")
        if os.path.exists(summary):
            with open(summary, encoding="utf-8") as f:
                corruption_setting = f.readline().strip() or None

    result = {
        "issue": 17 if sweep else 8,
        "title": ("Corruption-strength sweep, best settings over seeds, accuracy per pre-training hour: ROPIM vs SimMIM vs MAE on Fashion-MNIST"
                  if sweep else "ROPIM vs SimMIM masking vs no pre-training on Fashion-MNIST"),
        "smoke": settings.get("SMOKE") == "1",
        "settings": settings,
        "machine": machine(),
        "ropim": git_commit(root),
        "binaries": binaries(out),
        "corruption_setting": corruption_setting,
        "sweep": sweep,
        "bench": bench,
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
    L.append(f"# {r['title']} (issue {r['issue']})")
    L.append("")
    if r["smoke"]:
        L.append("> **SMOKE TEST** (`SMOKE=1`): a few optimizer steps on a few hundred images. It checks that the")
        L.append("> harness runs from start to finish; the numbers below mean nothing about the methods.")
        L.append("")
    L.append(f"Made by `scripts/compare_fmnist.sh` on {mach['date']}. Seeds: {', '.join(seeds)} "
             f"(n = {len(seeds)}); mean ± sample standard deviation over seeds. Accuracies are top-1 (%) on the "
             f"Fashion-MNIST test split{'' if s.get('TEST_SUBSET', '0') == '0' else ' (a seeded subset of ' + s['TEST_SUBSET'] + ' images)'}.")
    L.append("")
    def secs(x, d=1):
        return "—" if x is None else f"{x:.{d}f}"
    sw = r.get("sweep")
    if sw:
        L.append(f"## Sweep: corruption strength, seed {sw['seed']}, chosen by a linear probe on {sw['holdout']} held-out training images")
        L.append("")
        L.append("Every setting: the same model, optimizer, epochs and data; its linear probe trains on the pre-training images and is "
                 f"evaluated on {sw['holdout']} other training images (`ropim linprobe --holdout`), never on the test set. "
                 "**Bold**: the setting chosen per objective. s / epoch (bench): `ropim bench` run side by side, alternated "
                 "(median over rounds) × steps per epoch.")
        L.append("")
        L.append("| objective | setting | held-out probe top-1 (%) | k-NN along pre-training (epoch 1 → last) | final loss | s / epoch (bench) | pre-train s (shared CPU) |")
        L.append("|---|---|---|---|---|---|---|")
        for row in sw["rows"]:
            name = f"**{row['label']}**" if row["selected"] else row["label"]
            along = " → ".join(f"{v:.1f}" for _, v in row["knn_along"][:1] + row["knn_along"][-1:]) if row["knn_along"] else "—"
            L.append(f"| {OBJECTIVE_NAMES.get(row['objective'], row['objective'])} | {name} (`{row['method']}`) | {secs(row['holdout_top1'], 2)} | "
                     f"{along} | {secs(row['final_loss'], 4)} | {secs(row['bench_seconds_per_epoch'])} | {secs(row['pretrain_seconds'], 0)} |")
        L.append("")
        L.append("## At each objective's chosen setting")
        L.append("")
    L.append("| method | k-NN top-1 (%) | linear probe top-1 (%) | fine-tune top-1 (%) | pre-train (s) | s / epoch | s / epoch (bench) |")
    L.append("|---|---|---|---|---|---|---|")
    for m in methods:
        t = r["table"][m]
        L.append(f"| {t['label']} | {fmt(t['knn_top1'], 2)} | {fmt(t['linprobe_top1'], 2)} | {fmt(t['finetune_top1'], 2)} | "
                 f"{fmt(t['pretrain_seconds'], 0) if m != 'scratch' else '0'} | {fmt(t['pretrain_seconds_per_epoch'], 1) if m != 'scratch' else '—'} | "
                 f"{secs(t.get('bench_seconds_per_epoch')) if m != 'scratch' else '—'} |")
    px = r["pixels_reference"]
    L.append(f"| raw pixels (reference, seed 0) | {fmt({'mean': px['knn']['top1'], 'std': None}, 2) if px.get('knn') else '—'} | "
             f"{fmt({'mean': px['linprobe']['top1'], 'std': None}, 2) if px.get('linprobe') else '—'} | — | — | — | — |")
    L.append("")
    L.append("- **k-NN**: weighted 20-NN (cosine, T = 0.07) on the frozen encoder's mean-pooled final tokens; memory = the training images.")
    blocks = s.get("PROBE_LAST_BLOCKS", "1")
    L.append(f"- **Linear probe**: BatchNorm (no affine) + linear head on the same frozen features"
             f"{'' if blocks == '1' else f' of the last {blocks} blocks (each through the final norm, pooled, concatenated; the pixel row: the pixels)'}, "
             f"{s.get('PROBE_EPOCHS', '?')} epochs (SGD).")
    L.append(f"- **Fine-tune**: {plural(s.get('FINETUNE_EPOCHS', '?'), 'epoch')} with `{s.get('FINETUNE_CONFIG', '?')}`; top-1 after the last epoch "
             "(best epoch in results.json).")
    L.append("- **no pre-training**: the probes see a randomly initialized encoder of the same architecture (`--features random`); "
             "fine-tuning starts from a random initialization (per-block relative position bias, as a fine-tuned checkpoint gets).")
    L.append(f"- **pre-train (s)**: the training loop's wall-clock (metrics.jsonl `time`; data loading and checkpoint writing excluded, "
             f"they are in results.json as `wall_seconds`); **s / epoch** = that × steps per epoch / steps, "
             f"with {plural(s.get('PRETRAIN_EPOCHS', '?'), 'pre-training epoch')}{'' if s.get('PRETRAIN_MAX_STEPS', '0') == '0' else ' cut at ' + s['PRETRAIN_MAX_STEPS'] + ' steps'}.")
    if r.get("bench"):
        L.append("- **s / epoch (bench)**: seconds per pre-training step from `ropim bench` (synthetic batch of the same size, "
                 "no data loader), every method side by side in alternated rounds, median over rounds, × steps per epoch. "
                 "The runs themselves shared the CPU with other jobs, so their own seconds are not comparable across methods; "
                 "the k-NN-against-hours picture uses these.")
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
                 "keeps, against masking at the same kept ratio ρ = K'/K (paper Fig. 7a), whatever ratio the masking runs "
                 f"train with; here: {r.get('corruption_setting') or 'see summary.txt'}. CSV, SVG and summary.txt next to the PNG.")
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
    L.append(f"- scripts from ropim commit `{git['commit']}`{' (working tree with uncommitted changes)' if git['dirty'] else ''} on `{git['branch']}`")
    for b in r.get("binaries", []):
        L.append(f"- binary `{b['path']}` (sha256 {b['sha256']}…), built from commit `{b['commit']}`, first used {b['first_used']}")
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
    elif len(argv) >= 5 and argv[0] == "select":
        select(argv[1], argv[2], argv[3], argv[4:])
    elif len(argv) == 2 and argv[0] == "curves":
        curves(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
