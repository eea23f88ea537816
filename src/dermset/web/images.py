"""Image bytes by registry image id, for people whose role and work involve the image.

``/images/{image_id}`` serves the stored (scrubbed) file, or a JPEG rendering of it when a
browser cannot show the stored format (a lossless PNG of a HEIC capture displays as is; TIFF
does not) or when the capture's orientation is still to be applied; ``?size=thumb`` a small
JPEG for lists. The id is looked up in the registry and nothing else: no path, no file name
ever reaches the store. An image the viewer may not see answers exactly like one that does not
exist (404), so ids cannot be probed.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from PIL import Image as PILImage
from sqlalchemy import select

from dermset.ingest.decode import open_stored
from dermset.registry.store import ContentStore, StoreError
from dermset.registry.tables import Acquisition, Image
from dermset.web.access import may_see_image
from dermset.web.deps import reading, signed_in, state
from dermset.web.sessions import Viewer

router = APIRouter()
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
BROWSER_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
THUMB_SIDE = 480


def _jpeg(data: bytes, orientation: int, side: int | None) -> bytes:
    if side is not None and data[:2] == b"\xff\xd8" and orientation == 1:
        with PILImage.open(io.BytesIO(data)) as im:
            im.draft("RGB", (side, side))  # DCT-domain downscale: a thumbnail decodes fast
            im = im.convert("RGB")
    else:  # the ingest's own opener: HEIF containers, the recorded orientation
        im = open_stored(data, orientation).convert("RGB")
    if side is not None:
        im.thumbnail((side, side))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85 if side else 92)
    return out.getvalue()


@lru_cache(maxsize=512)
def _rendered(store: ContentStore, sha: str, orientation: int, side: int | None) -> bytes:
    # content-addressed: the same key always has the same bytes, so caching is safe
    return _jpeg(store.get(sha), orientation, side)


def _not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="no such image")


@router.get("/images/{image_id}")
def image(
    request: Request, image_id: str, size: str = "full", viewer: Viewer = Depends(signed_in)
) -> Response:
    if not ID_PATTERN.match(image_id) or size not in ("full", "thumb"):
        raise _not_found()
    project = state(request).project
    with reading(request) as s:
        row = s.execute(
            select(Image, Acquisition.orientation)
            .outerjoin(Acquisition, Acquisition.image_id == Image.id)
            .where(Image.image_id == image_id)
        ).first()
        if row is None or row[0].sha256 is None:
            raise _not_found()
        img, orientation = row
        if not may_see_image(s, project, viewer, img):
            raise _not_found()
        sha, media_type = img.sha256, img.media_type or "application/octet-stream"
        public_id = img.image_id
    orientation = orientation or 1
    try:
        if size == "thumb":
            body, media_type = _rendered(project.store, sha, orientation, THUMB_SIDE), "image/jpeg"
        elif media_type in BROWSER_TYPES and orientation == 1:
            body = project.store.get(sha)
        else:
            body, media_type = _rendered(project.store, sha, orientation, None), "image/jpeg"
    except StoreError:
        raise HTTPException(
            status_code=503, detail="the image file is missing from the store (run dermset fsck)"
        ) from None
    ext = {"image/jpeg": "jpg", "image/png": "png"}.get(media_type, "bin")
    return Response(
        body,
        media_type=media_type,
        headers={
            # private: only this signed-in browser may keep it, and only briefly
            "Cache-Control": "private, max-age=600",
            "Content-Disposition": f'inline; filename="{public_id}.{ext}"',
        },
    )
