"""Whole-photo faces: the template geometry, the round trip align -> paste, the mask, and the detector on photos
that ship with scikit-image (astronaut: one frontal face; coffee, chelsea, rocket: none)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from elir_mobile.faces.alignment import (FFHQ_TEMPLATE_512, FEATHER_FRACTION, align, apply, feather_mask,
                                         invert, paste, scale_of, similarity, template)
from elir_mobile.faces.pipeline import NoFaceFound, find_faces, input_size, restore_photo, to_uint8
from elir_mobile.restoration import restore_image
from elir_mobile.tasks import TASKS

EYE_DISTANCE_512 = float(np.linalg.norm(FFHQ_TEMPLATE_512[1] - FFHQ_TEMPLATE_512[0]))


def rotation(degrees: float, scale: float, centre) -> np.ndarray:
    a = math.radians(degrees)
    linear = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.concatenate([linear, np.asarray(centre, float)[:, None]], axis=1)


def face_points(centre, eye_distance: float, degrees: float = 0.0) -> np.ndarray:
    """The template's five points as a face `eye_distance` px between the eyes, rotated, centred at `centre`."""
    return apply(rotation(degrees, eye_distance / EYE_DISTANCE_512, centre), FFHQ_TEMPLATE_512 - 256.0)


def smooth_photo(height: int, width: int) -> torch.Tensor:
    """Low-frequency colour waves: resampling it is nearly exact, so the round trip can be held to 1/255."""
    yy, xx = torch.meshgrid(torch.arange(height) / 97.0, torch.arange(width) / 89.0, indexing="ij")
    return torch.stack([0.5 + 0.3 * torch.sin(xx + 0.3), 0.5 + 0.3 * torch.cos(yy - 0.2 * xx),
                        0.4 + 0.2 * torch.sin(xx + yy)])[None].float()


def faces_at(points: list[np.ndarray]):
    from elir_mobile.faces.landmarks import Face

    return [Face(p, np.concatenate([p, p]), 1.0) for p in points]


def test_similarity_recovers_a_transform_and_agrees_with_scikit_image():
    truth = rotation(-27.0, 0.37, (40.0, -12.5))
    src = np.random.default_rng(0).uniform(0, 500, (5, 2))
    assert np.allclose(similarity(src, apply(truth, src)), truth, atol=1e-9)
    transform = pytest.importorskip("skimage.transform", reason="scikit-image is in the dev extras")
    noisy = apply(truth, src) + np.random.default_rng(1).normal(0, 3, (5, 2))
    reference = transform.SimilarityTransform.from_estimate(src, noisy)
    assert np.allclose(similarity(src, noisy), reference.params[:2], atol=1e-6)


def test_the_crop_size_follows_the_task():
    assert {name: input_size(TASKS[name]) for name in ("bfr", "sr", "denoising", "inpainting")} == \
        {"bfr": 512, "sr": 32, "denoising": 256, "inpainting": 256}  # sr sees its face at 32 px, as in training
    assert np.allclose(template(256) * 2, FFHQ_TEMPLATE_512)


CASES = {
    "frontal": ((300, 420), [((210, 150), 60, 0)]),
    "rotated 25 degrees": ((300, 420), [((200, 160), 70, 25)]),
    "at the border": ((300, 420), [((30, 25), 60, -10)]),
    "photo smaller than the template": ((120, 90), [((45, 60), 30, 5)]),
    "several faces": ((320, 480), [((100, 110), 50, -20), ((300, 160), 70, 8), ((420, 260), 35, 30)]),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("task", ["bfr", "sr"])
def test_identity_restorer_gives_back_the_photo(case, task):
    (height, width), placed = CASES[case]
    photo = smooth_photo(height, width)
    points = [face_points(c, d, a) for c, d, a in placed]
    result = restore_photo(photo, faces_at(points), lambda crop: crop, TASKS[task])
    assert result.image.shape == photo.shape
    for crop, p in zip(result.crops, points):
        assert crop.aligned.shape[-1] == input_size(TASKS[task])
        assert np.allclose(apply(crop.matrix, p), template(input_size(TASKS[task])), atol=1e-6)
        assert crop.template_error < 1e-6
    # Within one crop pixel of the photo's border the crop saw the mirror padding's kink; `sr`'s 32 px crop is
    # coarser than the photo there, so that pixel is kept out of the bound.
    m = max(math.ceil(1 / scale_of(crop.matrix)) for crop in result.crops)
    assert (result.image - photo)[..., m:-m, m:-m].abs().max().item() < 1 / 255
    assert (result.image - photo).abs().max().item() < 2 / 255
    # Outside every face's crop the photo is untouched, bit for bit.
    covered = torch.zeros(height, width, dtype=torch.bool)
    for crop in result.crops:
        to_photo = invert(crop.matrix)
        size = crop.aligned.shape[-1]
        corners = apply(to_photo, np.array([[0, 0], [size, 0], [0, size], [size, size]], float))
        x0, y0 = np.floor(corners.min(0)).astype(int).clip(0)
        x1, y1 = np.ceil(corners.max(0)).astype(int)
        covered[y0:y1, x0:x1] = True
    assert torch.equal(result.image[..., ~covered], photo[..., ~covered])


def test_align_then_inverse_warp_returns_the_face_region():
    photo = smooth_photo(300, 420)
    points = face_points((200, 160), 70, 25)
    crop, matrix = align(photo, points, 512)
    canvas = torch.zeros_like(photo)
    paste(canvas, crop, matrix, torch.ones(1, 1, 512, 512))
    yy, xx = torch.meshgrid(torch.arange(300) + 0.5, torch.arange(420) + 0.5, indexing="ij")
    local = torch.from_numpy(apply(matrix, np.stack([xx.ravel().numpy(), yy.ravel().numpy()], 1))).reshape(300, 420, 2)
    inside = ((local > 8) & (local < 504)).all(-1)  # away from the crop's border
    assert inside.sum() > 5000
    assert (canvas - photo)[..., inside].abs().max().item() < 1 / 255


def test_upscaled_output_pastes_faces_at_that_scale():
    photo = smooth_photo(150, 200)
    points = face_points((90, 70), 30, 10)
    result = restore_photo(photo, faces_at([points]), lambda crop: crop, TASKS["sr"], upscale=3)
    assert result.image.shape[-2:] == (450, 600)
    reference = torch.nn.functional.interpolate(photo, size=(450, 600), mode="bicubic", antialias=True,
                                                align_corners=False)
    assert (result.image - reference).abs().max().item() < 2 / 255
    assert result.crops[0].restored.shape[-1] == 32


def worst_step(image: torch.Tensor) -> float:
    """Largest jump between neighbouring pixels, in 8-bit levels."""
    return 255 * max((image[..., 1:] - image[..., :-1]).abs().max().item(),
                     (image[..., 1:, :] - image[..., :-1, :]).abs().max().item())


def test_the_mask_edge_shows_no_step():
    photo = torch.full((1, 3, 300, 420), 0.3)
    points = face_points((200, 160), 70, 25)
    _, matrix = align(photo, points, 512)
    bright = torch.full((1, 3, 512, 512), 0.8)
    feathered = paste(photo.clone(), bright, matrix, feather_mask(512))
    hard = paste(photo.clone(), bright, matrix, torch.ones(1, 1, 512, 512))
    assert worst_step(hard) > 60  # the test sees a seam when there is one (0.5 = 127 levels, one pixel spread)
    feather_px = FEATHER_FRACTION * 512 / scale_of(matrix)
    slope = 255 * 0.5 * (math.pi / 2) / feather_px  # steepest point of the sin^2 ramp, in levels per pixel
    assert worst_step(feathered) < 1.3 * slope + 1
    assert feathered.max().item() > 0.79  # the middle is the restored crop
    mask = feather_mask(512)
    assert mask[..., 0, :].max() < 1e-3 and mask[..., 256, 256] == 1  # zero at the border, one inside


_NUMBER = re.compile(r"-?\d+\.\d*(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+")


def _same_source(stored: str, generated: str) -> None:
    """The same text but for the numbers, and the numbers within 1e-5: CPUs differ in the last bits of LAPACK and
    float32 kernels (1e-14 and 1e-6 seen between an AVX2 and an AVX-512 machine), and the phone tests hold their
    ports to these values within 2e-5."""
    assert _NUMBER.sub("#", stored) == _NUMBER.sub("#", generated)
    np.testing.assert_allclose([float(x) for x in _NUMBER.findall(generated)],
                               [float(x) for x in _NUMBER.findall(stored)], rtol=0, atol=1e-5)


def test_the_phone_cores_vectors_are_what_python_computes():
    """android_demo/core's FaceAlignTest and ios_demo's FaceAlignTests read these generated files; regenerate them
    with `python -m elir_mobile.faces.vectors` after a change to the geometry."""
    from elir_mobile.faces import vectors

    from elir_mobile.faces import warp_vectors

    for module in (vectors, warp_vectors):
        _same_source(module.KOTLIN.read_text(), module.kotlin())
        _same_source(module.SWIFT.read_text(), module.swift())


# ------------------------------------------------------------------------------------------- the detector

def finder():
    pytest.importorskip("ai_edge_litert", reason='face detection needs LiteRT: pip install "elir-mobile[faces]"')
    from elir_mobile.faces.landmarks import FaceFinder

    return FaceFinder(threads=2)


@pytest.fixture(scope="module")
def face_finder():
    return finder()


def photo_of(array: np.ndarray) -> torch.Tensor:
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)).astype(np.float32) / 255.0)[None]


def astronaut() -> torch.Tensor:
    data = pytest.importorskip("skimage.data", reason="the test photos ship with scikit-image (dev extras)")
    return photo_of(data.astronaut())


# Hand-labelled boxes (x0, y0, x1, y1) in skimage's astronaut: each eye, the nose tip, each mouth corner.
ASTRONAUT_REGIONS = [(193, 96, 213, 107), (236, 98, 256, 109), (216, 118, 232, 134), (194, 132, 208, 145),
                     (238, 134, 252, 147)]


def test_astronaut_has_one_face_with_its_landmarks_in_place(face_finder):
    faces = find_faces(astronaut(), face_finder)
    assert len(faces) == 1
    for (x, y), (x0, y0, x1, y1) in zip(faces[0].points, ASTRONAUT_REGIONS):
        assert x0 <= x <= x1 and y0 <= y <= y1, (x, y)


def test_the_aligned_astronaut_has_her_eyes_on_the_template(face_finder):
    photo = astronaut()
    face = find_faces(photo, face_finder)[0]
    crop, matrix = align(photo, face.points, 512)
    again = face_finder.find(to_uint8(crop))
    assert len(again) == 1
    eyes = again[0].points[:2]
    assert np.abs(eyes - FFHQ_TEMPLATE_512[:2]).max() < 8  # px at 512: a few pixels


def test_every_face_of_a_group_photo_is_found(face_finder):
    """The benchmark's group photo: six astronaut heads, 40-140 px faces, one rotated 25 degrees, one cut by the
    top border."""
    pytest.importorskip("skimage.data", reason="the test photos ship with scikit-image (dev extras)")
    from benchmarks.faces import group_photo

    photo, centres = group_photo()
    faces = find_faces(photo, face_finder)
    assert len(faces) == len(centres)
    for cx, cy in centres:
        assert any(f.box[0] <= cx <= f.box[2] and f.box[1] <= cy <= f.box[3] for f in faces), (cx, cy)
    assert [f.width for f in faces] == sorted((f.width for f in faces), reverse=True)
    assert len(find_faces(photo, face_finder, which="largest")) == 1
    with pytest.raises(NoFaceFound, match="--aligned"):
        find_faces(photo, face_finder, min_face=400)


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_face_where_there_is_none(face_finder, name):
    data = pytest.importorskip("skimage.data", reason="the test photos ship with scikit-image (dev extras)")
    assert face_finder.find(to_uint8(photo_of(getattr(data, name)()))) == []


@pytest.mark.parametrize("task", ["bfr", "sr"])
def test_a_whole_photo_through_the_api(face_finder, task):
    """A photo in, a photo out, with a real model (the tiny architecture at the task's size, one tile): the face
    changes, the rest does not."""
    import elir_mobile
    from elir_mobile.testing import make_test_weights, tiny_config

    config = tiny_config(TASKS[task].image_size)
    model = elir_mobile.load_model(config=config, checkpoint=make_test_weights(config))
    photo = astronaut()
    faces = find_faces(photo, face_finder)
    result = restore_photo(photo, faces, lambda crop: restore_image(model, crop, TASKS[task], progress=False),
                           TASKS[task])
    assert result.image.shape == photo.shape
    assert result.crops[0].restored.shape[-1] == TASKS[task].image_size
    x0, y0, x1, y1 = faces[0].box.astype(int)
    assert (result.image - photo)[..., y0:y1, x0:x1].abs().mean() > 0.02
    assert torch.equal(result.image[..., 400:, :100], photo[..., 400:, :100])
    assert set(result.seconds) == {"align", "restore", "background", "paste"}
