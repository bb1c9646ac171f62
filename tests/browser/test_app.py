"""The built app in headless Chromium with WebGPU (SwiftShader) and a fake webcam.

    python3 tests/browser/test_app.py DIST_DIR DATA_DIR [SCREENSHOT_DIR]

Serves DIST_DIR on 127.0.0.1, drives Chromium through chromedriver (selenium), and checks:
the models load; the real carphone clip becomes one face track; a file that is not a video is
reported on its own card while the rest keeps working; a crop drawn by hand replaces the
detected one; the explorer plots every embedded face and lists a face's nearest neighbours;
the webcam (fed from carphone as y4m) delivers live embeddings, placed in the explorer too.
Prints one line per check and "browser: N passed, M failed" last; exits non-zero on failure.
"""
import functools
import http.server
import os
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

DIST, DATA = sys.argv[1], sys.argv[2]
SHOTS = sys.argv[3] if len(sys.argv) > 3 else None
TIMEOUT = float(os.environ.get("FABNET_BROWSER_TIMEOUT", "240"))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    handler = functools.partial(QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fake_webcam(tmp):
    y4m = os.path.join(tmp, "carphone.y4m")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", os.path.join(DATA, "carphone_pristine.mp4"),
                    "-pix_fmt", "yuv420p", y4m], check=True)
    return y4m


def browser(tmp, y4m):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ["--headless", "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--enable-unsafe-webgpu", "--window-size=1200,1600",
                f"--user-data-dir={tmp}/profile", "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={y4m}"]:
        opts.add_argument(arg)
    service = Service(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=opts, service=service)


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


def testid(driver, name):
    return driver.find_elements(By.CSS_SELECTOR, f"[data-testid={name}]")


def shot(driver, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def main():
    tmp = tempfile.mkdtemp()
    server = serve(DIST)
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

    def loads():
        driver.get(url)
        wait_for(driver, "the models to load", lambda d: testid(d, "model-ready"))
        assert "carphone" in driver.execute_script(
            "return document.querySelector('[data-testid=about-weights]').textContent"), "about panel names its data"
        shot(driver, "1-ready")

    def clip_becomes_a_track():
        testid(driver, "upload-input")[0].send_keys(os.path.join(DATA, "carphone_pristine.mp4"))
        summary = wait_for(driver, "the clip's face tracks", lambda d: testid(d, "clip-summary"))
        assert summary[0].text.startswith("1 face track"), summary[0].text
        track = testid(driver, "face-track")[0]
        frames = int(track.get_attribute("data-frames"))
        assert frames >= 30, f"{frames} frames in the track"
        assert len(track.find_elements(By.TAG_NAME, "img")) >= 4, "thumbnails"
        shot(driver, "2-clip")

    def bad_file_is_reported_alone():
        bad = os.path.join(tmp, "notes.mp4")
        with open(bad, "w") as f:
            f.write("this is not a video")
        testid(driver, "upload-input")[0].send_keys(bad)
        error = wait_for(driver, "an error for the bad file", lambda d: [e for e in testid(d, "error") if "notes.mp4" in e.text])
        assert "not a video" in error[0].text, error[0].text
        assert testid(driver, "clip-summary")[0].text.startswith("1 face track"), "the good clip is still there"
        shot(driver, "3-bad-file")

    def crop_by_hand():
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
        shot(driver, "4-manual-crop")

    def explorer_shows_points_and_neighbours():
        points = wait_for(driver, "points in the explorer", lambda d: len(testid(d, "explore-point")) >= 30 and testid(d, "explore-point"))
        testid(driver, "explore-plot")[0].location_once_scrolled_into_view
        ActionChains(driver).move_to_element(points[5]).click().perform()
        neighbours = wait_for(driver, "the nearest neighbours", lambda d: testid(d, "neighbour"))
        assert len(neighbours) == 6, f"{len(neighbours)} neighbours"
        assert "cosine" in neighbours[0].text, neighbours[0].text
        shot(driver, "5-explore")

    def webcam_embeds_live():
        testid(driver, "webcam-start")[0].click()
        wait_for(driver, "webcam embeddings", lambda d: int(testid(d, "webcam-frames")[0].text) >= 8 and testid(d, "webcam-embedding"))
        fps = float(testid(driver, "webcam-fps")[0].text)
        timing = testid(driver, "webcam-timing")[0].text
        print(f"     webcam: {fps:.1f} frames/s on SwiftShader; last frame: {timing}")
        assert testid(driver, "explore-live"), "the webcam's face is placed in the explorer"
        shot(driver, "6-webcam")
        testid(driver, "webcam-stop")[0].click()

    check("page loads the models", loads)
    check("a clip becomes a face track", clip_becomes_a_track)
    check("a bad file is reported alone", bad_file_is_reported_alone)
    check("a crop can be set by hand", crop_by_hand)
    check("the explorer shows points and neighbours", explorer_shows_points_and_neighbours)
    check("the webcam embeds live", webcam_embeds_live)
    driver.quit()
    server.shutdown()
    print(f"browser: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
