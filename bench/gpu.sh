#!/usr/bin/env bash
# FAb-Net on a real GPU, beside PyTorch on the same GPU and the same CPU cores: one prepared run
# for a machine lent with an accelerator (no internet there, so everything it needs is bundled
# here first). Not a test, and never part of CI.
#
#   bench/gpu.sh bundle DIR     here: a release `fabnet` (gzip) with Burn's Vulkan backend (wgpu with
#                               SPIR-V kernels) and autotune, the benchmark frame (480x360,
#                               carphone scaled and padded: a webcam frame as the app reads it)
#                               and the Debian packages of the Vulkan loader and the GL dispatch
#                               libraries NVIDIA's driver needs, in DIR (about 25 MB)
#   bench/gpu.sh run DIR [OUT]  there: `fabnet bench` on the GPU (small and paper presets: encoder,
#                               train step, detector and webcam frame), bench/torch_bench.py on
#                               CUDA with the same networks and batches, then both on the CPU cores
#                               (flex against PyTorch); one JSON line per measurement, in OUT/gpu.jsonl
#                               too, and a table at the end
#
# Where the GPU machine has PyTorch (as the lent one does), its python3 runs the PyTorch side;
# without it those rows are left out. Each measurement has its own time limit, so one that hangs
# costs only its own row.
set -uo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
bundle)
  dir="${2:?bench/gpu.sh bundle DIR}"
  mkdir -p "$dir"
  target="${CARGO_TARGET_DIR:-target}"
  cargo build --locked --release -p fabnet --bin fabnet --features vulkan,autotune || exit 1
  # Compressed: the stripped binary is ~90 MB, over what travels to the GPU machine (64 MiB).
  strip -o "$dir/fabnet" "$target/release/fabnet" && gzip -9 -f "$dir/fabnet" || exit 1
  data="$(tests/data/fetch.sh)"
  ffmpeg -loglevel error -y -ss 1 -i "$data/carphone_pristine.mp4" -frames:v 1 \
    -vf "scale=-2:360,pad=480:360:(ow-iw)/2:0" "$dir/frame.png" || exit 1
  # The Vulkan loader, libvulkan.so.1, which wgpu opens at run time, and the GL dispatch
  # libraries NVIDIA's Vulkan driver (libGLX_nvidia) links to: the GPU machine's image may lack them.
  lists="$(mktemp -d)"
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  mkdir -p "$lists/partial"
  apt-get "${o[@]}" update -qq && (cd "$dir" && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
  rm -rf "$lists"
  ls -l "$dir"
  ;;
run)
  dir="$(cd "${2:?bench/gpu.sh run DIR [OUT]}" && pwd)"
  out="${3:-${OUT:-$(mktemp -d)}}"
  mkdir -p "$out"
  log="$out/gpu.jsonl"
  : >"$log"
  if ! ldconfig -p | grep -q libGLdispatch.so.0 || ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in "$dir"/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  # The NVIDIA driver's Vulkan manifest, where the image keeps it outside the usual folders.
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
  loader="$(ldconfig -p | grep -m1 'libvulkan.so.1' | sed 's/.*=> //')"
  manifests="${VK_DRIVER_FILES:-$(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | xargs)}"
  echo "vulkan: loader ${loader:-missing}; driver manifests: ${manifests:-none}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
  echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  has_torch=false
  python3 -c "import torch" 2>/dev/null && has_torch=true

  # One measurement: a label, a time limit, a command printing one JSON line last.
  measure() {
    local label="$1" limit="$2"
    shift 2
    local line status why
    timeout "$limit" "$@" >"$out/stdout.txt" 2>"$out/stderr.txt"
    status=$?
    line="$(tail -n 1 "$out/stdout.txt")"
    if [[ "$line" == "{"* ]]; then
      echo "{\"label\": \"$label\", \"result\": $line}" | tee -a "$log"
    else
      why="$(grep -i -m1 'error' "$out/stderr.txt" || tail -n 1 "$out/stderr.txt")"
      [ "$status" = 124 ] && why="timed out after $limit s; $why"
      echo "{\"label\": \"$label\", \"error\": \"$(echo "$why" | tr -d '"\\' | cut -c1-300)\"}" | tee -a "$log"
    fi
  }
  fabnet="$(mktemp -d)/fabnet"
  gunzip -c "$dir/fabnet.gz" >"$fabnet" && chmod +x "$fabnet" || exit 1
  # Most wanted first, so that a row which hangs costs only what follows it. GPU: the small
  # preset (what the browser trains) with the webcam frame, then the paper's; each beside PyTorch.
  $has_torch || echo "no PyTorch here: its rows are left out"
  torch() { $has_torch && measure "$@"; }
  # With autotune, a first run times every kernel variant for each shape: 70-90 s for the paper's
  # step on an H200, longer where the detector's many shapes come first.
  measure "gpu fabnet small b32" 240 "$fabnet" bench --backend wgpu --preset small --encoder-batch 64 --train-batch 32 --views 2 --steps 20 --frame "$dir/frame.png"
  torch "gpu torch small b32" 90 python3 bench/torch_bench.py --device cuda --size 64 --width 8 --embedding 64 --encoder-batch 64 --train-batch 32 --views 2 --steps 20
  measure "gpu fabnet paper b8" 200 "$fabnet" bench --backend wgpu --preset paper --encoder-batch 32 --train-batch 8 --views 3 --steps 10
  torch "gpu torch paper b8" 90 python3 bench/torch_bench.py --device cuda --encoder-batch 32 --train-batch 8 --views 3 --steps 10
  # CPU: the paper's train step on every core, flex against PyTorch.
  measure "cpu fabnet paper b8" 120 "$fabnet" bench --backend flex --preset paper --encoder-batch 8 --train-batch 8 --views 3 --steps 2
  torch "cpu torch paper b8" 90 python3 bench/torch_bench.py --device cpu --threads "$(nproc)" --encoder-batch 8 --train-batch 8 --views 3 --steps 2
  # The paper's batch size on the GPU.
  measure "gpu fabnet paper b32" 200 "$fabnet" bench --backend wgpu --preset paper --encoder-batch 32 --train-batch 32 --views 3 --steps 5
  torch "gpu torch paper b32" 90 python3 bench/torch_bench.py --device cuda --encoder-batch 32 --train-batch 32 --views 3 --steps 5
  rm -f "$out/stdout.txt" "$out/stderr.txt"
  python3 - "$log" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"\n{'':<24}{'encoder img/s':>14}{'step s':>10}{'samples/s':>11}{'first step ms':>15}{'detect ms':>11}{'webcam frame ms':>17}")
for r in rows:
    m = r.get("result")
    if not m:
        print(f"{r['label']:<24}  failed: {r.get('error', '')}")
        continue
    d = m.get("detector") or {}
    f = lambda v, p=1: "-" if v is None else f"{v:.{p}f}"  # noqa: E731
    print(f"{r['label']:<24}{f(m['encoder_images_per_s']):>14}{f(m['train_step_s'], 4):>10}{f(m['train_samples_per_s']):>11}"
          f"{f(m['train_first_ms'], 0):>15}{f(d.get('detect_ms')):>11}{f(d.get('webcam_frame_ms')):>17}")
EOF
  ;;
*)
  sed -n '2,19p' "$0"
  exit 2
  ;;
esac
