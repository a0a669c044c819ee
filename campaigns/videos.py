"""Uploaded videos for moments: an MP4 of at most 30 seconds and 10 MB
(wecom-api.md §1.2: "≤30 s, ≤10 MB, only 1 allowed").

The checks read the MP4 box structure (ISO/IEC 14496-12) by hand: the ``ftyp``
box says it is an MP4, the movie header (``moov/mvhd``) gives the duration, the
handlers (``trak/mdia/hdlr``) which track is the picture and the track headers
(``trak/tkhd``) its size. A fragmented MP4 (``mvex``/``moof``) is refused: its movie
header gives no length (0 s), only the sum of all its fragments does; a movie of no length
is damaged. The walk is iterative and bounded in depth and box count; a file with no
video track or an absurd picture (a side under 16 px, beyond 4K, longer than 1:20) is
refused with a sentence. Pillow does not read
video and ffmpeg would be a system dependency for three numbers; the file itself
is stored as uploaded (re-encoding video is out of scope), with a generated
poster as its thumbnail.
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
_CONTAINERS = {b"moov", b"trak", b"mdia"}  # the only boxes opened: the facts are in their children
# A real MP4 nests moov/trak/mdia/hdlr four deep and has a few dozen boxes on the path we walk
# (long files interleave a few hundred ``mdat``/``free``); anything past these is built to hurt.
MAX_BOX_DEPTH = 8
MAX_BOXES = 10_000
# The picture: WeCom suggests at most 1280×720 and transcodes what it gets, so only the
# absurd is refused: a side under 16 px, beyond 4K (4096×2160), or longer than 1:20.
MIN_EDGE = 16
MAX_LONG_EDGE, MAX_SHORT_EDGE = 4096, 2160
MAX_ASPECT = 20


class _TooComplex(ValueError):
    """Boxes nested deeper than MAX_BOX_DEPTH, or more than MAX_BOXES of them."""


class _Fragmented(ValueError):
    """A fragmented MP4 (``moov/mvex``, ``moof`` boxes): its movie header says nothing of the length,
    which only the sum of every fragment's samples gives; such a file could hide minutes behind "0 s"."""


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


def _movie_facts(data: bytes) -> tuple[float, list[dict]]:
    """The duration and, per track, its handler (``vide``, ``soun``…) and picture size.

    Walks the boxes with an explicit stack, never recursion: a file of 2,000 nested ``moov``
    boxes is a clear refusal at depth MAX_BOX_DEPTH, not a RecursionError."""
    seconds, tracks, seen = None, [], 0
    stack: list[tuple[int, int, int, int | None]] = [(0, len(data), 1, None)]  # start, end, depth, track
    while stack:
        start, end, depth, track = stack.pop()
        children = []
        for kind, body, stop in _boxes(data, start, end):
            seen += 1
            if seen > MAX_BOXES:
                raise _TooComplex
            if kind in _CONTAINERS:
                if depth >= MAX_BOX_DEPTH:
                    raise _TooComplex
                if kind == b"trak":
                    tracks.append({})
                children.append((body, stop, depth + 1, len(tracks) - 1 if kind == b"trak" else track))
            elif kind in (b"mvex", b"moof"):
                raise _Fragmented
            elif kind == b"mvhd":
                layout, fields = (">IQ", body + 20) if data[body] == 1 else (">II", body + 12)
                if fields + struct.calcsize(layout) > stop:
                    raise ValueError("a movie header shorter than its fields")
                timescale, duration = struct.unpack_from(layout, data, fields)
                if timescale:
                    seconds = duration / timescale
            elif kind == b"tkhd" and track is not None:
                if stop - body < (96 if data[body] == 1 else 84):
                    raise ValueError("a track header shorter than its fields")
                # The last 8 bytes are width and height as 16.16 fixed point.
                w, h = struct.unpack(">II", data[stop - 8 : stop])
                tracks[track]["size"] = (w >> 16, h >> 16)
            elif kind == b"hdlr" and track is not None:
                if stop - body < 12:
                    raise ValueError("a handler box shorter than its fields")
                tracks[track]["handler"] = data[body + 8 : body + 12]
        stack.extend(reversed(children))  # depth first, in file order
    if seconds is None:
        raise ValueError("no movie header")
    if seconds <= 0:
        raise ValueError("a movie of no length")
    return seconds, tracks


def _picture_size(tracks: list[dict]) -> tuple[int, int] | None:
    """The size of the first video track; None when there is none. A track without a handler box
    (hand-built files) counts as video when it has a picture size."""
    for track in tracks:
        if track.get("handler") == b"vide" or ("handler" not in track and any(track.get("size", (0, 0)))):
            return track.get("size", (0, 0))
    return None


def _check_picture(size: tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        raise ValidationError(
            _("The video has no picture (no video track): export it again as an MP4 with video and re-upload.")
        )
    width, height = size
    long, short = max(width, height), min(width, height)
    values = {"width": width, "height": height}
    if short < MIN_EDGE or long > MAX_ASPECT * short:
        raise ValidationError(
            _(
                "The video's picture is %(width)s×%(height)s, which moments cannot show: each side at least "
                "16 pixels and the long side at most 20 times the short one. Export it again and re-upload."
            )
            % values
        )
    if long > MAX_LONG_EDGE or short > MAX_SHORT_EDGE:
        raise ValidationError(
            _(
                "The video's picture is %(width)s×%(height)s; moments take at most 4096×2160 (WeCom suggests "
                "1280×720). Export it smaller and re-upload."
            )
            % values
        )
    return width, height


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
        seconds, tracks = _movie_facts(data)
    except _Fragmented:
        raise ValidationError(
            _(
                "This is a fragmented (streaming) MP4, whose length cannot be read before it plays: export it "
                "again as a regular MP4 (e.g. “Save as” or “Export” in your editor) and re-upload."
            )
        ) from None
    except _TooComplex:
        raise ValidationError(
            _("The video's structure is too deep or has too many parts to be read safely: export it again.")
        ) from None
    except (ValueError, struct.error, IndexError):
        raise ValidationError(_("The video is damaged or incomplete: export it again and re-upload.")) from None
    if seconds > MAX_SECONDS:
        raise ValidationError(
            _("The video lasts %(seconds).0f seconds; moments take at most %(max)s.")
            % {"seconds": seconds, "max": MAX_SECONDS}
        )
    width, height = _check_picture(_picture_size(tracks))
    return PreparedVideo(
        content=data, width=width, height=height, seconds=seconds, thumbnail=_poster(width, height),
        sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip
