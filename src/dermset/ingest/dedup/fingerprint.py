"""Perceptual fingerprints of an image: a handful of 63-bit DCT-sign hashes.

Why several hashes and not one: a hash of the whole frame survives re-encoding, resizing (also
with a changed aspect ratio), brightness and colour shifts, 90° rotations and flips (these act on
the DCT as sign flips and a transpose, so :func:`dihedral_variants` derives the hash of every
rotated/flipped copy from the stored one), but not a crop or a slight rotation: dermoscopy frames
are dominated by the lesion and the dark vignette, and both move when the frame changes. So each
image also carries *local* hashes: windows around the strongest coarse-scale blobs (SIFT's
detector at 160 px), each window rotated to its blob's orientation and scaled to its blob's size,
so they move with the content under crops, rescaling and any rotation; a mirror image flips them
vertically (one more variant). Measured in benchmarks/bench_duplicates.py on the 347 real
originals in the shared data and 8 kinds of copies of them, every copy has a hash within
distance 5 of its original's (docs/duplicates.md).

Each hash is the sign of the 63 lowest 2-D DCT coefficients (8×8 minus DC) of a 32×32 window whose
grey levels were replaced by their ranks, which makes it invariant to any monotonic brightness,
contrast or gamma change.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

HASH_BITS = 63
VERSION = 1
#: local windows per image (the strongest blobs)
N_LOCAL = 24
#: the size (longest side, px) at which blobs are detected
DETECT_SIDE = 160
#: the size at which windows are sampled
SAMPLE_SIDE = 320
#: window half-size in units of the blob's radius
WINDOW_SCALE = 2.5
#: the centre window keeps this fraction of each side
CENTRE = 0.7
_WIN = 32
_K = 8

_U, _V = np.meshgrid(np.arange(_K), np.arange(_K), indexing="ij")
_SEL = (_U + _V) > 0  # 63 coefficients, row-major, DC excluded
_WEIGHTS = np.left_shift(np.uint64(1), np.arange(HASH_BITS, dtype=np.uint64))


def _mask(cond: np.ndarray) -> np.uint64:
    return np.uint64(int(_WEIGHTS[cond[_SEL]].sum()))


#: XOR masks: a left-right mirror negates coefficients of odd horizontal frequency, an up-down
#: mirror those of odd vertical frequency
FLIP_LR = _mask(_V % 2 == 1)
FLIP_UD = _mask(_U % 2 == 1)
#: bit i of a hash moves to _TRANSPOSE[i] when the window is transposed
_POS = {(int(u), int(v)): i for i, (u, v) in enumerate(zip(_U[_SEL], _V[_SEL], strict=True))}
_TRANSPOSE = np.array([_POS[(v, u)] for (u, v) in _POS], dtype=np.int64)

#: names of the eight symmetries of the square, in the order :func:`dihedral_variants` emits them
DIHEDRAL = (
    "identity",
    "flip_ud",
    "flip_lr",
    "rotate_180",
    "transpose",
    "rotate_90",
    "rotate_270",
    "transpose_anti",
)


def _transpose_bits(h: np.ndarray) -> np.ndarray:
    bits = ((h[:, None] >> np.arange(HASH_BITS, dtype=np.uint64)) & np.uint64(1)).astype(bool)
    moved = np.zeros_like(bits)
    moved[:, _TRANSPOSE] = bits
    return (moved.astype(np.uint64) * _WEIGHTS).sum(axis=1, dtype=np.uint64)


def dihedral_variants(h: np.ndarray) -> np.ndarray:
    """The hashes of the 8 rotated/mirrored copies of each hash in *h*: shape (8, len(h)).

    Row k is the hash the window would have after symmetry ``DIHEDRAL[k]`` (up to the naming of
    the direction of rotation, which does not matter for matching).
    """
    h = np.asarray(h, dtype=np.uint64)
    t = _transpose_bits(h)
    return np.stack(
        [
            h,
            h ^ FLIP_UD,
            h ^ FLIP_LR,
            h ^ FLIP_UD ^ FLIP_LR,
            t,
            t ^ FLIP_UD,
            t ^ FLIP_LR,
            t ^ FLIP_UD ^ FLIP_LR,
        ]
    )


def mirror_variants(h: np.ndarray) -> np.ndarray:
    """A local window's hash and its mirror image's (shape (2, len(h))).

    Local windows are rotated to their blob's orientation, so a mirrored image yields the
    up-down mirrored window.
    """
    h = np.asarray(h, dtype=np.uint64)
    return np.stack([h, h ^ FLIP_UD])


def popcount(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):  # numpy >= 2
        return np.bitwise_count(x)
    return np.unpackbits(x[..., None].view(np.uint8), axis=-1).sum(-1)


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """The perceptual hashes of one image (picklable, ~200 bytes stored).

    ``global_hashes``: whole frame and its central 70 %; ``local_hashes``: up to 24 blob windows.
    """

    global_hashes: np.ndarray
    local_hashes: np.ndarray
    width: int
    height: int

    def to_bytes(self) -> bytes:
        head = struct.pack(
            "<BBBII",
            VERSION,
            len(self.global_hashes),
            len(self.local_hashes),
            self.width,
            self.height,
        )
        body = np.concatenate([self.global_hashes, self.local_hashes]).astype("<u8").tobytes()
        return head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        version, n_global, n_local, width, height = struct.unpack_from("<BBBII", data)
        if version != VERSION:
            raise ValueError(f"fingerprint version {version} is not supported (expected {VERSION})")
        body = np.frombuffer(data, dtype="<u8", offset=struct.calcsize("<BBBII"))
        if len(body) != n_global + n_local:
            raise ValueError("fingerprint data is truncated")
        body = body.astype(np.uint64)
        return cls(body[:n_global].copy(), body[n_global:].copy(), width, height)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Fingerprint)
            and np.array_equal(self.global_hashes, other.global_hashes)
            and np.array_equal(self.local_hashes, other.local_hashes)
            and (self.width, self.height) == (other.width, other.height)
        )

    def distance(self, other: Fingerprint) -> int:
        """The smallest Hamming distance between any of our hashes and any symmetric copy of
        one of *other*'s (global with global under all 8 symmetries, local with local and its
        mirror)."""
        best = HASH_BITS
        if len(self.global_hashes) and len(other.global_hashes):
            v = dihedral_variants(other.global_hashes).ravel()
            best = min(best, int(popcount(self.global_hashes[:, None] ^ v[None]).min()))
        if len(self.local_hashes) and len(other.local_hashes):
            v = mirror_variants(other.local_hashes).ravel()
            best = min(best, int(popcount(self.local_hashes[:, None] ^ v[None]).min()))
        return best


#: the 8 lowest rows of the 32-point DCT-II (unnormalised: only signs matter)
_DCT = np.cos(np.pi * (2 * np.arange(_WIN)[None, :] + 1) * np.arange(_K)[:, None] / (2 * _WIN))


def _hashes(windows: np.ndarray) -> np.ndarray:
    """Hashes of a stack of 32×32 windows (n, 32, 32), in one vectorised pass."""
    n = len(windows)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    flat = windows.reshape(n, -1)
    ranks = np.empty(flat.shape, dtype=np.float64)
    order = np.argsort(flat, axis=1)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1], dtype=np.float64)[None, :], axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    coeffs = _DCT @ ranks.reshape(n, _WIN, _WIN) @ _DCT.T
    bits = coeffs[:, _SEL] > 1e-9
    return (bits.astype(np.uint64) * _WEIGHTS).sum(axis=1, dtype=np.uint64)


def _frame_window(gray: np.ndarray) -> np.ndarray:
    return cv2.resize(gray, (_WIN, _WIN), interpolation=cv2.INTER_AREA)


@cache
def _detector() -> cv2.SIFT:
    return cv2.SIFT_create(
        nfeatures=N_LOCAL, nOctaveLayers=3, contrastThreshold=0.004, edgeThreshold=10, sigma=1.6
    )


def _resize_long(gray: np.ndarray, side: int) -> tuple[np.ndarray, float, float]:
    h, w = gray.shape
    s = side / max(h, w)
    nw, nh = max(8, round(w * s)), max(8, round(h * s))
    return cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA), w / nw, h / nh


def _local_hashes(gray: np.ndarray) -> np.ndarray:
    base, _, _ = _resize_long(gray, SAMPLE_SIDE)
    # detect on a 2:1 reduction of the sampling image (cheap), unless that one was upscaled
    small, _, _ = _resize_long(base if max(gray.shape) >= SAMPLE_SIDE else gray, DETECT_SIDE)
    keypoints = _detector().detect(np.clip(small, 0, 255).astype(np.uint8), None)
    keypoints = sorted(keypoints, key=lambda k: -k.response)[:N_LOCAL]
    if not keypoints:
        return np.zeros(0, dtype=np.uint64)
    f = base.shape[1] / small.shape[1]
    fy = base.shape[0] / small.shape[0]
    levels: dict[int, np.ndarray] = {}
    windows = np.empty((len(keypoints), _WIN, _WIN), dtype=np.float32)
    for i, kp in enumerate(keypoints):
        x, y = kp.pt
        radius = WINDOW_SCALE * kp.size / 2 * f
        cx, cy = (x + 0.5) * f - 0.5, (y + 0.5) * fy - 0.5
        step = 2 * radius / _WIN
        # anti-alias: blur by about half the sampling step, from a few shared levels
        level = max(0, int(np.floor(np.log2(max(step, 1.0)))))
        if level not in levels:
            levels[level] = cv2.GaussianBlur(base, (0, 0), 0.5 * 2**level) if level else base
        angle = np.deg2rad(kp.angle)
        scale = _WIN / (2 * radius)
        rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]) * scale
        shift = np.array([(_WIN - 1) / 2, (_WIN - 1) / 2]) - rot @ np.array([cx, cy])
        m = np.hstack([rot, shift[:, None]]).astype(np.float32)
        windows[i] = cv2.warpAffine(
            levels[level],
            m,
            (_WIN, _WIN),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )
    return _hashes(windows)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Luma (float32) of an RGB, RGBA or grey uint8 array."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    if rgb.shape[2] == 4:
        rgb = rgb[..., :3]
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)


def fingerprint_image(rgb: np.ndarray) -> Fingerprint:
    """The fingerprint of an oriented RGB image (uint8 HxWx3, the pipeline's reduced decode)."""
    gray = to_gray(rgb)
    h, w = gray.shape
    ch, cw = max(1, round(h * CENTRE)), max(1, round(w * CENTRE))
    y, x = (h - ch) // 2, (w - cw) // 2
    global_hashes = _hashes(
        np.stack([_frame_window(gray), _frame_window(gray[y : y + ch, x : x + cw])])
    )
    local = _local_hashes(gray) if min(h, w) >= 16 else np.zeros(0, dtype=np.uint64)
    return Fingerprint(global_hashes, local, int(w), int(h))
