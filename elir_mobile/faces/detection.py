"""Face boxes with MediaPipe's BlazeFace (short range) under LiteRT, over tiles so small faces are found too.

The model sees a 128 x 128 letterboxed image and finds faces from about a tenth to three quarters of it; one pass
over a whole photo misses a face that is 40 px wide in a 1280 px group shot.  So it also runs over overlapping
square tiles whose side is a few times `min_face`, doubling the side up to the photo's, and the detections of all
passes are merged by weighted non-maximum suppression, as MediaPipe merges its own.  The decoding constants are
those of MediaPipe's ``face_detection_short_range.pbtxt`` / ``face_detection.pbtxt``.

Coordinates are continuous pixel coordinates: pixel (i, j) covers [i, i+1) x [j, j+1).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import numpy as np
from PIL import Image

from ..errors import ElirError

MODEL_SIZE = 128
STRIDES = (8, 16, 16, 16)  # one anchor layer per stride; equal strides share a feature map
ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 plus the interpolated scale (interpolated_scale_aspect_ratio 1.0)
MIN_SCORE = 0.5
NMS_IOU = 0.3
TILE_PER_MIN_FACE = 6  # a tile of 6 x min_face shows that face at ~21 px of the model's 128
KEYPOINTS = 6  # right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion


def model_path(name: str):
    return files(__package__).joinpath("models", name)


def interpreter(name: str, threads: int):
    """A LiteRT interpreter for one of the bundled models (needs the ``faces`` extra: ai-edge-litert)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise ElirError(f"face detection needs ai-edge-litert ({e}): pip install \"elir-mobile[faces]\"") from None
    from ..quiet import native_output

    with native_output():  # the first invoke creates the XNNPACK delegate, which says so on stderr
        it = Interpreter(model_path=str(model_path(name)), num_threads=threads)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        it.invoke()
    return it


def ssd_anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1], in the order of the model's outputs (MediaPipe's SsdAnchorsCalculator
    with fixed anchor size)."""
    centres = []
    i = 0
    while i < len(STRIDES):
        stride, per_cell = STRIDES[i], 0
        while i < len(STRIDES) and STRIDES[i] == stride:
            per_cell += ANCHORS_PER_LAYER
            i += 1
        cells = -(-MODEL_SIZE // stride)
        yy, xx = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xx + 0.5) / cells, (yy + 0.5) / cells], -1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


@dataclass
class Detection:
    box: np.ndarray  # (4,) x0, y0, x1, y1
    keypoints: np.ndarray  # (6, 2)
    score: float

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 threshold: float = NMS_IOU) -> list[Detection]:
    """MediaPipe's WEIGHTED suppression: each kept detection is the score-weighted mean of those it absorbs."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    alive = np.ones(len(scores), bool)
    kept = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (iou(boxes[i], boxes) > threshold)
        group[i] = True
        w = scores[group] / scores[group].sum()
        kept.append(Detection((boxes[group] * w[:, None]).sum(0), (keypoints[group] * w[:, None, None]).sum(0),
                              float(scores[i])))
        alive &= ~group
    return kept


def tile_starts(length: int, tile: int) -> list[int]:
    """Offsets of tiles of `tile` px over `length` px, half overlapping, the last one ending at the border."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile // 2))
    return starts + [length - tile]


class FaceDetector:
    """BlazeFace short range on whole photos: `detect(rgb_uint8, min_face)` -> merged detections."""

    def __init__(self, threads: int = 2):
        self.interpreter = interpreter("face_detection_short_range.tflite", threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self.regressors, self.classificators = outputs["regressors"], outputs["classificators"]
        self.anchors = ssd_anchors()

    def run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One letterboxed pass over `image` (H, W, 3) uint8: boxes, keypoints and scores above MIN_SCORE, in
        `image` pixels, before suppression."""
        height, width = image.shape[:2]
        scale = MODEL_SIZE / max(height, width)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        ox, oy = (MODEL_SIZE - w) // 2, (MODEL_SIZE - h) // 2
        canvas = np.zeros((MODEL_SIZE, MODEL_SIZE, 3), np.float32)  # zero border, as MediaPipe's letterbox
        canvas[oy:oy + h, ox:ox + w] = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR), np.float32)
        self.interpreter.set_tensor(self.input, (canvas / 127.5 - 1.0)[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.regressors)[0]
        logits = self.interpreter.get_tensor(self.classificators)[0, :, 0].astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -100.0, 100.0)))  # MediaPipe's score clipping
        keep = scores >= MIN_SCORE
        raw, anchors = raw[keep] / MODEL_SIZE, self.anchors[keep]
        centre, size = raw[:, :2] + anchors, raw[:, 2:4]
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) * MODEL_SIZE
        keypoints = (raw[:, 4:4 + 2 * KEYPOINTS].reshape(-1, KEYPOINTS, 2) + anchors[:, None]) * MODEL_SIZE
        offset = np.array([ox, oy], np.float32)
        return ((boxes - np.tile(offset, 2)) / scale, (keypoints - offset) / scale, scores[keep])

    def detect(self, image: np.ndarray, min_face: int = 32) -> list[Detection]:
        """Every face about `min_face` px wide or wider in `image` (H, W, 3) uint8, largest first."""
        height, width = image.shape[:2]
        sides = []
        side = max(int(TILE_PER_MIN_FACE * min_face), 16)
        while side < max(height, width):
            sides.append(side)
            side *= 2
        found = []
        for side in sides:
            for y in tile_starts(height, side):
                for x in tile_starts(width, side):
                    boxes, keypoints, scores = self.run(image[y:y + side, x:x + side])
                    found.append((boxes + [x, y, x, y], keypoints + [x, y], scores))
        found.append(self.run(image))
        boxes, keypoints, scores = (np.concatenate(parts) for parts in zip(*found))
        if not len(scores):
            return []
        return sorted(weighted_nms(boxes, keypoints, scores), key=lambda d: -d.width)
