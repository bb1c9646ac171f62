"""Time and peak memory for the app to turn long clips into face tracks, in headless Chromium.

    python3 bench/clip_to_tracks.py DIST_DIR DATA_DIR [--seek] [SECONDS:FPS ...]

Defaults: a 20 s and a 2 min 640x360 clip (the real carphone clip looped, scaled and padded to
the size of a talking-head video) at the app's default 10 frames/s. For each clip: the seconds from upload
to its tracks, frames read, frames per second, and the peak resident memory of all of
Chromium's processes above what they held before the upload (the page, the worker, the GPU
process: SwiftShader's buffers live there). Prints one line per clip, and the page's own split of
the time between decoding frames and finding faces; a benchmark, not a test. `--seek` hides
WebCodecs from the page, so the same build decodes by seeking a `<video>`, as browsers without
WebCodecs do.
"""
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "browser"))
DIST, DATA = sys.argv[1], sys.argv[2]
SEEK = "--seek" in sys.argv[3:]
CLIPS = [tuple(float(v) for v in a.split(":")) for a in sys.argv[3:] if a != "--seek"] or [(20.0, 10.0), (120.0, 10.0)]
# The browser test's server, browser and helpers, which read their arguments on import.
sys.argv = sys.argv[:3]
import test_app  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


def chromium_processes(profile):
    """(pid, Chromium's process type) of every process started with this profile; "browser"
    for the one without a type."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                # Chromium rewrites its command lines, so the arguments may be space-separated.
                line = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if profile in line:
            kind = next((a.split("=", 1)[1] for a in line.split() if a.startswith("--type=")), "browser")
            # A utility process says what it serves (storage, audio, ...: Chromium starts some of
            # its own accord, such as its on-device model service, that the page never asked for).
            service = next((a.split("=", 1)[1] for a in line.split() if a.startswith("--utility-sub-type=")), "")
            yield pid, f"{kind} ({service.split('.')[-1]})" if service else kind


def chromium_rss_by_kind(profile):
    """Resident bytes of every process started with this profile, by Chromium's process type
    (renderer: the page and its worker; gpu-process: SwiftShader's buffers; browser: the rest)."""
    kinds = {}
    for pid, kind in chromium_processes(profile):
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) * 1024
            kinds[kind] = kinds.get(kind, 0) + rss
        except (OSError, StopIteration):
            pass
    return kinds


def wasm_memories(profile):
    """Resident MiB of each WebAssembly memory in Chromium's renderers (the page's, the engine
    worker's, the layout worker's). V8 reserves a wasm memory as one region of many GiB of
    address space and opens its first pages for reading and writing as the memory grows, so a
    memory is a read-write mapping that ends where a reservation of 4 GiB or more (no access)
    begins. A wasm memory never shrinks: this is its high-water mark."""
    found = []
    for pid, kind in chromium_processes(profile):
        if kind != "renderer":
            continue
        maps, current = [], None
        try:
            with open(f"/proc/{pid}/smaps") as f:
                for entry in f:
                    head = entry.split()
                    if "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                        start, end = (int(x, 16) for x in head[0].split("-"))
                        current = {"start": start, "end": end, "perms": head[1], "rss": 0}
                        maps.append(current)
                    elif head[0] == "Rss:" and current is not None:
                        current["rss"] = int(head[1])
        except OSError:
            continue
        for before, after in zip(maps, maps[1:]):
            if (before["end"] == after["start"] and before["perms"].startswith("rw")
                    and after["perms"].startswith("---") and after["end"] - after["start"] >= 4 * 2**30):
                found.append(before["rss"] / 1024)
    return sorted(found, reverse=True)


def chromium_rss(profile):
    """Resident bytes of every process started with this profile (and their children)."""
    return sum(chromium_rss_by_kind(profile).values())


class PeakMemory:
    def __init__(self, profile):
        self.profile, self.peak, self.running = profile, 0, True
        # Each kind's resident bytes when the total peaked.
        self.at_peak = {}
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while self.running:
            kinds = chromium_rss_by_kind(self.profile)
            if sum(kinds.values()) > self.peak:
                self.peak, self.at_peak = sum(kinds.values()), kinds
            time.sleep(0.25)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.peak


def main():
    tmp = tempfile.mkdtemp()
    server = test_app.serve(DIST, test_app.host_headers(DIST))
    driver = test_app.browser(tmp, test_app.fake_webcam(tmp))
    profile = f"{tmp}/profile"
    driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
    test_app.wait_for(driver, "the models to load", lambda d: test_app.testid(d, "model-ready"))
    if SEEK:
        driver.execute_script("delete window.VideoDecoder")
    source = os.path.join(DATA, "carphone_pristine.mp4")
    print(f"{'clip':>8} {'fps':>5} {'frames':>7} {'seconds':>8} {'frames/s':>9} {'peak RSS above idle':>20}")
    for seconds, fps in CLIPS:
        name = f"talk-{seconds:.0f}s.mp4"
        path = os.path.join(tmp, name)
        # carphone is 4 s of 176x144: looped as often as it takes, cut to the length asked.
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-stream_loop", str(int(seconds // 4) + 1), "-i", source,
                        "-t", str(seconds), "-vf", "scale=-2:360,pad=640:360:(ow-iw)/2:0", "-c:v", "libx264",
                        "-preset", "ultrafast", path], check=True)
        time.sleep(2)
        idle_kinds = chromium_rss_by_kind(profile)
        idle = sum(idle_kinds.values())
        idle_wasm = wasm_memories(profile)
        peak = PeakMemory(profile)
        Select(test_app.testid(driver, "clip-fps")[0]).select_by_value(f"{fps:g}")
        started = time.time()
        test_app.testid(driver, "upload-input")[0].send_keys(path)

        frames = test_app.finished_clip_card(driver, name, f"{name}'s tracks", timeout=seconds * fps * 10 + 300)["frames"]
        elapsed = time.time() - started
        top = peak.stop()
        print(f"{seconds:>7.0f}s {fps:>5g} {frames:>7} {elapsed:>8.1f} {frames / elapsed:>9.2f} {(top - idle) / 2**20:>17.0f} MiB"
              f"  (idle {idle / 2**20:.0f} MiB)", flush=True)
        by_kind = ", ".join(f"{k} {(v - idle_kinds.get(k, 0)) / 2**20:+.0f}" for k, v in sorted(peak.at_peak.items()))
        print(f"         at the peak, MiB above idle by process: {by_kind}", flush=True)
        # Garbage or held? A critical memory-pressure signal makes every isolate (the page's and
        # the workers') collect; what stays is held (or wasm memory, which never shrinks).
        after = chromium_rss(profile)
        driver.execute_cdp_cmd("Memory.simulatePressureNotification", {"level": "critical"})
        time.sleep(5)
        collected_kinds = chromium_rss_by_kind(profile)
        collected = sum(collected_kinds.values())
        print(f"         after the clip {(after - idle) / 2**20:.0f} MiB above idle; after a critical memory-pressure signal "
              f"{(collected - idle) / 2**20:.0f} MiB", flush=True)
        by_kind = ", ".join(f"{k} {(v - idle_kinds.get(k, 0)) / 2**20:+.0f}" for k, v in sorted(collected_kinds.items()))
        print(f"         then, MiB above idle by process: {by_kind}", flush=True)
        print(f"         wasm memories resident (MiB, largest first; before the clip: "
              f"{', '.join(f'{m:.0f}' for m in idle_wasm)}): {', '.join(f'{m:.0f}' for m in wasm_memories(profile))}", flush=True)
        for entry in driver.get_log("browser"):
            if name in entry["message"] and " frames in " in entry["message"]:
                print("         " + entry["message"].split('"', 1)[-1].rstrip('"'), flush=True)
        test_app.click_on_clip_card(driver, name, "clip-remove")
        time.sleep(2)
    driver.quit()
    server.shutdown()


if __name__ == "__main__":
    main()
