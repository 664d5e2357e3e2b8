"""Lists what TensorBoard's own reader finds in a run directory's event files: every scalar tag (points, first
and last step, last value) and every image tag (count, steps, size, PNG check). Exits 1 when it finds nothing.

Usage: python3 scripts/tensorboard/read_events.py RUN_DIR      (pip install tensorboard)
"""
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run = sys.argv[1]
# 0 = keep every event (the default samples 10 000 scalars and 4 images per tag).
acc = EventAccumulator(run, size_guidance={"scalars": 0, "images": 0})
acc.Reload()
tags = acc.Tags()
found = 0
for tag in sorted(tags["scalars"]):
    events = acc.Scalars(tag)
    steps = [e.step for e in events]
    duplicated = len(steps) - len(set(steps))
    print(f"scalar {tag}: {len(events)} points, steps {steps[0]}..{steps[-1]}, last {events[-1].value:.6g}"
          + (f", {duplicated} repeated steps" if duplicated else ""))
    found += 1
for tag in sorted(tags["images"]):
    events = acc.Images(tag)
    png = all(e.encoded_image_string.startswith(b"\x89PNG\r\n\x1a\n") for e in events)
    last = events[-1]
    print(f"image {tag}: {len(events)} at steps {[e.step for e in events]}, last {last.width}x{last.height}, "
          f"{len(last.encoded_image_string)} bytes, {'PNG' if png else 'NOT PNG'}")
    found += 1
if not found:
    print(f"{run}: no TensorBoard scalars or images found", file=sys.stderr)
    sys.exit(1)
