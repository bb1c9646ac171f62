"""Time to a t-SNE and a UMAP layout in the app's layout worker (headless Chromium) beside the
same layouts natively (`fabnet layout`, on all cores and on one, as the browser's worker runs).

    python3 bench/layout_speed.py DIST_DIR FABNET_BIN [POINTS ...]

Defaults: 500 and 5000 points of 256-d embeddings in ten groups (made here, the same for both
sides). For each method and size: seconds to the finished layout, to the first drawn step, and
the k-NN agreement of the layout with the groups (chance 0.10). A benchmark, not a test.
"""
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "browser"))
DIST, FABNET = sys.argv[1], sys.argv[2]
SIZES = [int(a) for a in sys.argv[3:]] or [500, 5000]
sys.argv = sys.argv[:1] + [DIST, os.path.expanduser("~/.cache/fabnet-data")]
import test_app  # noqa: E402

DIM, GROUPS = 256, 10


def embeddings(n):
    rng = random.Random(7)
    centres = [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(GROUPS)]
    return [[c + rng.gauss(0, 1.2) for c in centres[i % GROUPS]] for i in range(n)], [i % GROUPS for i in range(n)]


RUN_IN_WORKER = """
const [method, parameter, dim, flat, done] = [arguments[0], arguments[1], arguments[2], arguments[3], arguments[arguments.length - 1]];
const worker = new Worker('/layout_loader.js', {type: 'module'});
let posted = 0, first = null;
worker.onerror = e => done({error: String(e.message)});
worker.onmessage = e => {
  const m = e.data;
  if (m.ready) { posted = performance.now(); worker.postMessage({id: 1, method, parameter, dim, points: new Float32Array(flat)}); return; }
  if (m.error) { done({error: m.error}); worker.terminate(); return; }
  if (first === null) first = (performance.now() - posted) / 1e3;
  if (m.epoch >= m.epochs) { done({seconds: (performance.now() - posted) / 1e3, first, xy: Array.from(m.xy)}); worker.terminate(); }
};
"""


def agreement(xy, labels, k=10):
    n, total = len(labels), 0.0
    for i in range(n):
        near = sorted(((xy[i][0] - xy[j][0]) ** 2 + (xy[i][1] - xy[j][1]) ** 2, j) for j in range(n) if j != i)[:k]
        total += sum(labels[j] == labels[i] for _, j in near) / k
    return total / n


def native(tensors, metadata, method, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads)) if threads else os.environ
    out = subprocess.run([FABNET, "layout", tensors, "--metadata", metadata, "--projection", method,
                          "--projection-out", tensors + "-" + method], capture_output=True, text=True, env=env, check=True).stderr
    seconds = float(re.search(r" in ([0-9.]+) s:", out).group(1))
    share = float(re.search(r"([0-9]+)% are of its clip", out).group(1)) / 100
    return seconds, share


def main():
    tmp = tempfile.mkdtemp()
    server = test_app.serve(DIST, test_app.host_headers(DIST))
    driver = test_app.browser(tmp, test_app.fake_webcam(tmp))
    driver.set_script_timeout(1800)
    # A page of the app's origin (the policy allows its workers), without the app's own work.
    driver.get(f"http://127.0.0.1:{server.server_address[1]}/layout_loader.js")
    print(f"{'method':>6} {'points':>6} | {'browser s':>9} {'first step':>10} {'agreement':>9} | "
          f"{'native s (all cores)':>20} {'native s (1 core)':>17} {'agreement':>9} | {'browser / native 1 core':>23}")
    for n in SIZES:
        points, labels = embeddings(n)
        tensors, metadata = os.path.join(tmp, f"tensors-{n}.tsv"), os.path.join(tmp, f"metadata-{n}.tsv")
        with open(tensors, "w") as f:
            f.writelines("\t".join(f"{v:.5f}" for v in p) + "\n" for p in points)
        with open(metadata, "w") as f:
            f.write("clip\n" + "".join(f"group{g}\n" for g in labels))
        flat = [v for p in points for v in p]
        for method, parameter in [("tsne", 30), ("umap", 15)]:
            started = time.time()
            got = driver.execute_async_script(RUN_IN_WORKER, method, parameter, DIM, flat)
            if "error" in got:
                raise SystemExit(f"{method} {n}: {got['error']} after {time.time() - started:.0f} s")
            xy = list(zip(got["xy"][0::2], got["xy"][1::2]))
            browser_share = agreement(xy, labels)
            all_cores, share = native(tensors, metadata, method, None)
            one_core, _ = native(tensors, metadata, method, 1)
            print(f"{method:>6} {n:>6} | {got['seconds']:>9.1f} {got['first']:>10.2f} {browser_share:>9.2f} | "
                  f"{all_cores:>20.1f} {one_core:>17.1f} {share:>9.2f} | {got['seconds'] / one_core:>23.2f}", flush=True)
    driver.quit()
    server.shutdown()


if __name__ == "__main__":
    main()
