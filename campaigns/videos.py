"""Uploaded videos for moments: an MP4 of at most 30 seconds and 10 MB
(wecom-api.md §1.2: "≤30 s, ≤10 MB, only 1 allowed").

The checks read the MP4 box structure (ISO/IEC 14496-12) by hand: the ``ftyp``
box says it is an MP4, the movie header (``moov/mvhd``) gives the duration and
the track headers (``trak/tkhd``) the picture size. Pillow does not read video
and ffmpeg would be a system dependency for three numbers; the file itself is
stored as uploaded (re-encoding video is out of scope), with a generated poster
as its thumbnail.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw

from campaigns.images import upload_size_check

MAX_SECONDS = 30
MP4_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash", b"MSNV"}
_CONTAINERS = {b"moov", b"trak", b"mdia"}


@dataclass(frozen=True)
class PreparedVideo:
    content: bytes
    width: int
    height: int
    seconds: float
    thumbnail: bytes
    sha256: str


def looks_like_mp4(data: bytes) -> bool:
    return len(data) >= 12 and data[4:8] == b"ftyp"


def _boxes(data: bytes, start: int, end: int):
    """(type, payload start, payload end) of each box in data[start:end]."""
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            if offset + 16 > end:
                return
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise ValueError("a box runs past the end of the file")
        yield kind, offset + header, offset + size
        offset += size


def _movie_facts(data: bytes) -> tuple[float, int, int]:
    seconds, width, height = None, 0, 0

    def walk(start: int, end: int) -> None:
        nonlocal seconds, width, height
        for kind, body, stop in _boxes(data, start, end):
            if kind in _CONTAINERS:
                walk(body, stop)
            elif kind == b"mvhd":
                version = data[body]
                if version == 1:
                    timescale, duration = struct.unpack(">IQ", data[body + 20 : body + 32])
                else:
                    timescale, duration = struct.unpack(">II", data[body + 12 : body + 20])
                if timescale:
                    seconds = duration / timescale
            elif kind == b"tkhd":
                # The last 8 bytes are width and height as 16.16 fixed point.
                w, h = struct.unpack(">II", data[stop - 8 : stop])
                if w >> 16 and h >> 16:
                    width, height = max(width, w >> 16), max(height, h >> 16)

    walk(0, len(data))
    if seconds is None:
        raise ValueError("no movie header")
    return seconds, width, height


def _poster(width: int, height: int) -> bytes:
    """A neutral poster with a play symbol (we do not decode video frames)."""
    ratio = (width / height) if width and height else 16 / 9
    size = (320, max(1, round(320 / ratio))) if ratio >= 1 else (max(1, round(320 * ratio)), 320)
    image = Image.new("RGB", size, (40, 40, 48))
    draw = ImageDraw.Draw(image)
    cx, cy, r = size[0] / 2, size[1] / 2, min(size) / 6
    draw.polygon([(cx - r * 0.6, cy - r), (cx - r * 0.6, cy + r), (cx + r, cy)], fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def video_prepare(*, data: bytes) -> PreparedVideo:
    """Check one uploaded video; raises ValidationError with a plain message."""
    upload_size_check(data)
    if not looks_like_mp4(data) or data[8:12] not in MP4_BRANDS:
        raise ValidationError(_("Moments take MP4 videos: this file is not one."))
    try:
        seconds, width, height = _movie_facts(data)
    except (ValueError, struct.error, IndexError):
        raise ValidationError(_("The video is damaged or incomplete: export it again and re-upload.")) from None
    if seconds > MAX_SECONDS:
        raise ValidationError(
            _("The video lasts %(seconds).0f seconds; moments take at most %(max)s.")
            % {"seconds": seconds, "max": MAX_SECONDS}
        )
    return PreparedVideo(
        content=data, width=width, height=height, seconds=seconds, thumbnail=_poster(width, height),
        sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip
