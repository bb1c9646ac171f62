"""`fabnet prepare` beside facenet-pytorch's MTCNN on the same 640x360 frames and cores.

    python3 bench/prepare_speed.py FABNET_BIN CARPHONE_MP4 [--seconds S] [--fps F]
                                   [--every 1 5] [--torch-python PY] [--threads N]

Makes a talking-head-sized clip (the real carphone clip looped, scaled and padded to 640x360,
as bench/clip_to_tracks.py does), then times, on the same frames:
  - `fabnet prepare` (a release build) end to end, once per `--every` value (`--detect-every`):
    decoding, detection, tracking and the written crops; wall time, CPU time (both cores?) and
    frames/s, with its detect and write passes' seconds from its own summary line;
  - facenet-pytorch 2.6.0's MTCNN (the same P-, R- and O-Net weights and thresholds) detecting
    every frame, one frame at a time and in batches of 16, with `torch.set_num_threads(N)`:
    decoding apart, so its frames/s is detection alone. Run with `--torch-python`, a Python that
    has torch, torchvision and facenet-pytorch (`pip install torch torchvision requests` and
    `pip install --no-deps facenet-pytorch==2.6.0`); without it that side is skipped.
Prints one JSON line per run and a table; a benchmark, not a test.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("fabnet")
p.add_argument("carphone")
p.add_argument("--seconds", type=float, default=10.0)
p.add_argument("--fps", type=float, default=25.0)
p.add_argument("--every", type=int, nargs="+", default=[1, 5])
p.add_argument("--torch-python", default=None)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--_facenet", default=None, help=argparse.SUPPRESS)
a = p.parse_args()

W, H = 640, 360


def facenet_side(frames_path, count, threads):
    """Runs inside the torch Python: facenet-pytorch's MTCNN on every frame."""
    import numpy as np
    import torch
    from facenet_pytorch import MTCNN

    torch.set_num_threads(threads)
    frames = np.fromfile(frames_path, dtype=np.uint8).reshape(count, H, W, 3)
    mtcnn = MTCNN(keep_all=True, device="cpu")  # min_face_size 20, thresholds 0.6/0.7/0.7, factor 0.709
    rows = []
    for batch in (1, 16):
        mtcnn.detect(frames[:batch])  # first call apart: allocations, oneDNN's primitive caches
        found = 0
        t, cpu = time.perf_counter(), time.process_time()
        for i in range(0, count, batch):
            chunk = frames[i:i + batch]
            boxes, _ = mtcnn.detect(chunk if batch > 1 else chunk[0])
            boxes = boxes if batch > 1 else [boxes]
            found += sum(1 for b in boxes if b is not None and len(b) > 0)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        rows.append({"side": f"facenet-pytorch MTCNN, batch {batch}", "frames": count, "wall_s": round(wall, 2),
                     "cpu_s": round(cpu, 2), "frames_per_s": round(count / wall, 2), "frames_with_face": found,
                     "what": "detection only (frames decoded beforehand)", "torch": torch.__version__, "threads": threads})
    for r in rows:
        print(json.dumps(r), flush=True)


if a._facenet:
    path, count = a._facenet.split(":")
    facenet_side(path, int(count), a.threads)
    sys.exit(0)


def run_timed(cmd):
    """(wall seconds, CPU seconds of the child, its stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc.stderr


rows = []
with tempfile.TemporaryDirectory() as tmp:
    clip = os.path.join(tmp, "talk", "clip.mp4")
    os.makedirs(os.path.dirname(clip))
    subprocess.run(["ffmpeg", "-loglevel", "error", "-stream_loop", "-1", "-i", a.carphone, "-t", str(a.seconds),
                    "-vf", f"fps={a.fps},scale=-2:{H},pad={W}:{H}:(ow-iw)/2:0", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-an", clip], check=True)
    count = int(round(a.seconds * a.fps))
    for every in a.every:
        out = os.path.join(tmp, f"out{every}")
        wall, cpu, err = run_timed([a.fabnet, "prepare", clip, "-o", out, "--detect-every", str(every)])
        written = re.search(r"(\d+) tracks, (\d+) frames", err)
        detect = re.search(r"detect: ([\d.]+) s", err)
        write = re.search(r"write: ([\d.]+) s", err)
        rows.append({"side": f"fabnet prepare --detect-every {every}", "frames": count, "wall_s": round(wall, 2),
                     "cpu_s": round(cpu, 2), "cores_busy": round(cpu / wall, 2), "frames_per_s": round(count / wall, 2),
                     "detect_pass_s": float(detect.group(1)) if detect else None,
                     "write_pass_s": float(write.group(1)) if write else None,
                     "tracks": int(written.group(1)) if written else 0, "crops": int(written.group(2)) if written else 0,
                     "what": "decode, detect and track, decode again, crop and write JPEGs"})
        print(json.dumps(rows[-1]), flush=True)
    if a.torch_python:
        raw = os.path.join(tmp, "frames.rgb")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", clip, "-f", "rawvideo", "-pix_fmt", "rgb24", raw], check=True)
        proc = subprocess.run([a.torch_python, __file__, a.fabnet, a.carphone, "--threads", str(a.threads),
                               "--_facenet", f"{raw}:{count}"], stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            sys.exit("the facenet-pytorch side failed (see above)")
        for line in proc.stdout.splitlines():
            rows.append(json.loads(line))
            print(line, flush=True)

print(f"\n{count} frames of {W}x{H}, {a.threads} threads")
print(f"{'':44} {'frames/s':>9} {'wall s':>8} {'CPU s':>7}  what")
for r in rows:
    print(f"{r['side']:44} {r['frames_per_s']:9.2f} {r['wall_s']:8.2f} {r['cpu_s']:7.2f}  {r['what']}")
