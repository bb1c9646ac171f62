"""How soon the webcam gives its first embedding after the page is opened, in headless Chromium.

    python3 bench/first_webcam.py DIST_DIR DATA_DIR [--runs N] [--frames N] [--click-after S]

Each run opens the page in a fresh profile (nothing stored, nothing compiled), presses "Start
camera" the moment it can be pressed (or `--click-after` seconds after navigation), and reads the page's own clock (performance.now(), 0 at
navigation) when the page was loaded, when the camera button could be pressed (the models are
ready) and when the first embedding was shown, with that frame's face and embedding times, and then the frames per second over the next
`--frames` frames. The fake camera plays the real carphone clip scaled and padded to 640x480, a
webcam's size. Prints one line per run; a benchmark, not a test.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "browser"))
p = argparse.ArgumentParser()
p.add_argument("dist")
p.add_argument("data")
p.add_argument("--runs", type=int, default=2)
p.add_argument("--frames", type=int, default=20)
p.add_argument("--click-after", type=float, default=0.0, help="press the button this many seconds after navigation at the earliest (a person reading the page first)")
a = p.parse_args()
# The browser test's server, browser and helpers, which read their arguments on import.
sys.argv = sys.argv[:1] + [a.dist, a.data]
import test_app  # noqa: E402

# Notes the page's clock when the first embedding bars appear, and that frame's timings.
WATCH = """
window.__firsts = {};
const seen = () => {
  const now = performance.now();
  if (!window.__firsts.embedding && document.querySelector('[data-testid=webcam-embedding]')) {
    window.__firsts.embedding = now;
    window.__firsts.timing = document.querySelector('[data-testid=webcam-timing]').textContent;
    const warm = document.querySelector('[data-testid=warm-up]');
    window.__firsts.warm = warm ? warm.textContent : '(no warm-up line)';
  }
};
new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def webcam_clip(tmp):
    y4m = os.path.join(tmp, "webcam-640x480.y4m")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", os.path.join(a.data, "carphone_pristine.mp4"),
                    "-vf", "scale=-2:480,pad=640:480:(ow-iw)/2:0", "-pix_fmt", "yuv420p", y4m], check=True)
    return y4m


def run_once(server, y4m):
    tmp = tempfile.mkdtemp()
    driver = test_app.browser(tmp, y4m)
    try:
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
        driver.execute_script(WATCH)
        button = test_app.wait_for(driver, "the camera button", lambda d: [b for b in test_app.testid(d, "webcam-start") if b.is_enabled()])[0]
        enabled = driver.execute_script("return performance.now()")
        time.sleep(max(0.0, a.click_after - enabled / 1000))
        clicked = driver.execute_script("return performance.now()")
        button.click()
        ready = driver.execute_script("return performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        test_app.wait_for(driver, "the first embedding", lambda d: d.execute_script("return window.__firsts.embedding"))
        firsts = driver.execute_script("return window.__firsts")
        start_frames = int(test_app.testid(driver, "webcam-frames")[0].text)
        t0 = time.time()
        test_app.wait_for(driver, f"{a.frames} more frames", lambda d: int(test_app.testid(d, "webcam-frames")[0].text) >= start_frames + a.frames)
        fps = a.frames / (time.time() - t0)
        timing = test_app.testid(driver, "webcam-timing")[0].text
        return ready, enabled, clicked, firsts, fps, timing
    finally:
        driver.quit()


def main():
    tmp = tempfile.mkdtemp()
    server = test_app.serve(a.dist, test_app.host_headers(a.dist))
    y4m = webcam_clip(tmp)
    print(f"{'run':>3} {'page, s':>8} {'button, s':>10} {'pressed, s':>11} {'first embedding, s':>19} {'after press, s':>15} {'then frames/s':>14}  first frame / last frame")
    for run in range(a.runs):
        ready, enabled, clicked, firsts, fps, timing = run_once(server, y4m)
        first = firsts["embedding"]
        print(f"{run + 1:>3} {ready / 1000:>8.1f} {enabled / 1000:>10.1f} {clicked / 1000:>11.1f} {first / 1000:>19.1f} {(first - clicked) / 1000:>15.1f} {fps:>14.1f}  {firsts['timing']} / {timing}", flush=True)
        print(f"     warm-up when the first embedding came: {firsts['warm']}")
    server.shutdown()


if __name__ == "__main__":
    main()
