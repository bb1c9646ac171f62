"""The browser beside native on the same software GPU: one benchmark (the model crate's
`fabnet::bench`), run by `fabnet bench` and by the app's Speed panel, on each adapter.

    python3 bench/same_adapter.py DIST_DIR DATA_DIR [--short] [--preset small] [--fabnet PATH]

Adapters (facts checked on this kind of machine):
  swiftshader  native: wgpu on Chromium's own SwiftShader (VK_ICD_FILENAMES); browser: headless
               Chromium's default WebGPU, which is that SwiftShader.
  lavapipe     native: `--backend wgpu:cpu` (Mesa's lavapipe); browser: Chromium's WebGPU on
               lavapipe through ANGLE, in WebGPU compatibility mode.

The fabnet binary must be built with `--features wgpu` for the native side; a build without it
(as CI's) measures natively on flex instead, labelled so, and prints no ratio for that row.
The detector rows run on one 480x270 frame of the real carphone clip (the face scaled and
padded as a talking-head video; the app brings every frame to 480 px at most). Prints one table per adapter; a benchmark, not a test.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "browser"))
p = argparse.ArgumentParser()
p.add_argument("dist")
p.add_argument("data")
p.add_argument("--short", action="store_true", help="one repetition, small batches: checks the script still runs (CI)")
p.add_argument("--preset", default="small")
p.add_argument("--encoder-batch", type=int, default=8)
p.add_argument("--train-batch", type=int, default=8)
p.add_argument("--views", type=int, default=2)
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--adapters", default="swiftshader,lavapipe")
p.add_argument("--fabnet", default=os.environ.get("FABNET_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "fabnet"))
a = p.parse_args()
if a.short:
    a.encoder_batch, a.train_batch, a.repeats = 2, 2, 1
# The browser test's server, browser and helpers, which read their arguments on import.
sys.argv = [sys.argv[0], a.dist, a.data]
import test_app  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json"
ADAPTERS = {
    "swiftshader": {"native": ("wgpu", {"VK_ICD_FILENAMES": SWIFTSHADER_ICD}), "browser": []},
    "lavapipe": {"native": ("wgpu:cpu", {}),
                 "browser": ["--use-angle=vulkan", "--use-webgpu-adapter=opengles", "--force-webgpu-compat"]},
}
# (label, path into the report, larger is better)
ROWS = [
    ("encoder images/s", ("encoder_images_per_s",), True),
    ("encoder first run, ms", ("encoder_first_ms",), False),
    ("train step, s", ("train_step_s",), False),
    ("train first step, ms", ("train_first_ms",), False),
    ("tiny kernel read back, ms", ("round_trip_ms",), False),
    ("one more kernel, us", ("kernel_us",), False),
    ("detector pass, ms", ("detector", "detect_ms"), False),
    ("detector first pass, ms", ("detector", "detect_first_ms"), False),
    ("live detector pass, ms", ("detector", "live_detect_ms"), False),
    ("webcam: follow, ms", ("detector", "follow_ms"), False),
    ("webcam: embed, ms", ("detector", "embed_ms"), False),
    ("webcam frame, ms", ("detector", "webcam_frame_ms"), False),
]


def bench_frame(tmp):
    """One frame of carphone (1 s in), scaled and padded as bench/clip_to_tracks.py does, at the
    480 px the app reads frames at (media::MAX_SIDE)."""
    path = os.path.join(tmp, "bench-frame.png")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", "1", "-i", os.path.join(a.data, "carphone_pristine.mp4"),
                    "-frames:v", "1", "-vf", "scale=-2:270,pad=480:270:(ow-iw)/2:0", path], check=True)
    return path


def native(backend, env, frame):
    args = [a.fabnet, "bench", "--backend", backend, "--preset", a.preset, "--encoder-batch", str(a.encoder_batch),
            "--train-batch", str(a.train_batch), "--views", str(a.views), "--steps", str(a.repeats), "--frame", frame]
    run = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True)
    if run.returncode != 0:
        return None, run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}"
    return json.loads(run.stdout.strip().splitlines()[-1]), backend


def browser(tmp, flags, frame):
    os.makedirs(tmp, exist_ok=True)
    server = test_app.serve(a.dist, test_app.host_headers(a.dist))
    driver = test_app.browser(tmp, test_app.fake_webcam(tmp), extra_flags=flags)
    try:
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
        test_app.wait_for(driver, "the models to load", lambda d: test_app.testid(d, "model-ready"))
        adapter = driver.execute_async_script(
            "const done = arguments[0]; navigator.gpu.requestAdapter().then(a => { const i = a && a.info;"
            " done(i ? [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') : 'no adapter'); },"
            " e => done('error: ' + e));")
        panel = test_app.testid(driver, "speed")[0]
        panel.find_element(By.CSS_SELECTOR, "summary").click()
        Select(test_app.testid(driver, "speed-preset")[0]).select_by_value(a.preset)
        for name, value in [("speed-encoder-batch", a.encoder_batch), ("speed-train-batch", a.train_batch),
                            ("speed-views", a.views), ("speed-repeats", a.repeats)]:
            field = test_app.testid(driver, name)[0]
            field.clear()
            field.send_keys(str(value) + "\t")
        test_app.testid(driver, "speed-frame")[0].send_keys(frame)
        test_app.wait_for(driver, "the frame to decode", lambda d: "480 x 270" in panel.text)
        test_app.testid(driver, "speed-run")[0].click()
        table = test_app.wait_for(driver, "the measurement", lambda d: test_app.testid(d, "speed-report"), timeout=1800)
        # Compatibility mode (ANGLE) leaves the adapter's info empty.
        return json.loads(table[0].get_attribute("data-json")), adapter.strip() or "adapter info empty (ANGLE, compatibility mode)"
    finally:
        driver.quit()
        server.shutdown()


def value(report, path):
    for key in path:
        report = (report or {}).get(key)
    return report


def table(name, native_report, native_label, browser_report, adapter):
    print(f"\n== {name}: {a.preset} preset, encoder batch {a.encoder_batch}, train batch {a.train_batch}, "
          f"{a.views} source views, {a.repeats} repetition(s)")
    print(f"   native: {native_label}; browser: {adapter}")
    same = native_label != "flex"
    print(f"{'':<26}{'native':>12}{'browser':>12}{'browser/native':>16}")
    for label, path, larger_better in ROWS:
        n, b = value(native_report, path), value(browser_report, path)
        ratio = ""
        if same and n and b:
            # Above 1 means the browser is faster, whichever way the figure runs.
            ratio = f"{(b / n if larger_better else n / b):.2f}"
        fmt = lambda v: "-" if v is None else f"{v:.3g}" if v < 100 else f"{v:.0f}"  # noqa: E731
        print(f"{label:<26}{fmt(n):>12}{fmt(b):>12}{ratio:>16}", flush=True)


def main():
    tmp = tempfile.mkdtemp()
    frame = bench_frame(tmp)
    for name in a.adapters.split(","):
        adapter = ADAPTERS[name]
        backend, env = adapter["native"]
        native_report, label = native(backend, env, frame)
        if native_report is None and "not available in this build" in label:
            # CI's CLI has no wgpu: the native side runs on flex, so the script itself is exercised.
            native_report, label = native("flex", {}, frame)
        if native_report is None:
            print(f"native {backend}: {label}")
        browser_report, description = browser(os.path.join(tmp, name), adapter["browser"], frame)
        table(name, native_report, label, browser_report, description)


if __name__ == "__main__":
    main()
