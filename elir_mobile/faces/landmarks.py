"""Five alignment points per face from MediaPipe's Face Mesh (468 landmarks), and `find_faces`, the whole search.

BlazeFace's own six keypoints have no mouth corners, so each detection is refined by the mesh model the way
MediaPipe's ``face_detection_front_detection_to_roi.pbtxt`` and ``face_landmark_cpu.pbtxt`` do: a square region
1.5 x the box, rotated so the eyes are level, sampled to 192 x 192 in [0, 1]; its face flag (sigmoid > 0.5)
rejects what is not a face.  The five points are the ones the FFHQ template names: each eye's centre (mean of its
16 contour landmarks), the nose tip (landmark 1) and the mouth corners (61, 291), in image order (the eye that
appears on the left first).  The same indices hold for MediaPipe Tasks' 478-point face landmarker on Android.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .detection import Detection, FaceDetector, interpreter, iou

MESH_SIZE = 192
ROI_SCALE = 1.5
MIN_PRESENCE = 0.5
DUPLICATE_IOU = 0.5
# Subject's right eye (left in the picture) and left eye: MediaPipe's FACEMESH_RIGHT_EYE / FACEMESH_LEFT_EYE rings.
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
NOSE_TIP = 1
MOUTH_RIGHT, MOUTH_LEFT = 61, 291


def five_points(mesh: np.ndarray) -> np.ndarray:
    """(5, 2) eye centres, nose tip, mouth corners from (>= 468, 2) mesh landmarks."""
    return np.stack([mesh[list(RIGHT_EYE)].mean(0), mesh[list(LEFT_EYE)].mean(0), mesh[NOSE_TIP],
                     mesh[MOUTH_RIGHT], mesh[MOUTH_LEFT]]).astype(np.float64)


def roi_matrix(detection: Detection) -> np.ndarray:
    """2 x 3 affine from mesh-input pixels to image pixels: the eye-levelled square 1.5 x the box."""
    centre = (detection.box[:2] + detection.box[2:]) / 2
    side = max(detection.box[2] - detection.box[0], detection.box[3] - detection.box[1]) * ROI_SCALE
    right_eye, left_eye = detection.keypoints[0], detection.keypoints[1]
    angle = np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
    k = side / MESH_SIZE
    linear = k * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.concatenate([linear, (centre - linear @ np.full(2, MESH_SIZE / 2))[:, None]], axis=1)


@dataclass
class Face:
    """One face found in a photo: its five alignment points and the mesh it came from, in photo pixels."""

    points: np.ndarray  # (5, 2)
    mesh: np.ndarray  # (468, 2)
    presence: float

    @property
    def box(self) -> np.ndarray:
        return np.concatenate([self.mesh.min(0), self.mesh.max(0)])

    @property
    def width(self) -> float:
        return float(self.mesh[:, 0].max() - self.mesh[:, 0].min())


class FaceMesh:
    """The Face Mesh model: `landmarks(image, detection)` -> Face, or None when its face flag says no face."""

    def __init__(self, threads: int = 2):
        self.interpreter = interpreter("face_landmark.tflite", threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        by_width = sorted(self.interpreter.get_output_details(), key=lambda d: int(np.prod(d["shape"])))
        self.flag, self.points = by_width[0]["index"], by_width[1]["index"]

    def landmarks(self, image: np.ndarray, detection: Detection) -> Face | None:
        matrix = roi_matrix(detection)
        crop = Image.fromarray(image).transform((MESH_SIZE, MESH_SIZE), Image.AFFINE, data=tuple(matrix.ravel()),
                                                resample=Image.BILINEAR)
        self.interpreter.set_tensor(self.input, (np.asarray(crop, np.float32) / 255.0)[None])
        self.interpreter.invoke()
        presence = float(1.0 / (1.0 + np.exp(-self.interpreter.get_tensor(self.flag).ravel()[0])))
        if presence < MIN_PRESENCE:
            return None
        local = self.interpreter.get_tensor(self.points).reshape(-1, 3)[:, :2].astype(np.float64)
        mesh = local @ matrix[:, :2].T + matrix[:, 2]
        return Face(five_points(mesh), mesh, presence)


class FaceFinder:
    """Detector and mesh loaded once; `find(image, min_face)` -> faces, largest first."""

    def __init__(self, threads: int = 2):
        self.detector = FaceDetector(threads)
        self.mesh = FaceMesh(threads)

    def find(self, image: np.ndarray, min_face: int = 32) -> list[Face]:
        """Every face at least `min_face` px wide (mesh extent) in `image` (H, W, 3) uint8.

        Tiles can each see part of one face; their meshes land on the same face, so meshes whose boxes overlap by
        more than half are one face (the more confident kept).
        """
        faces = [f for f in (self.mesh.landmarks(image, d) for d in self.detector.detect(image, min_face))
                 if f is not None and f.width >= min_face]
        faces.sort(key=lambda f: -f.presence)
        kept: list[Face] = []
        for face in faces:
            if not kept or iou(face.box, np.stack([k.box for k in kept])).max() <= DUPLICATE_IOU:
                kept.append(face)
        return sorted(kept, key=lambda f: -f.width)
