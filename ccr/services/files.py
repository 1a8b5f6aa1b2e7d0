"""What an uploaded file is and how it may be shown: its type read from the bytes, a thumbnail,
a safe name, and the headers it is served with. Pure functions, no I/O.

The type never comes from the file's name or the client's Content-Type: a page named
`cat.png` is text to us, and is downloaded, not rendered. SVG is not an image here: it can
carry script, so it is a download like any other text.
"""

from __future__ import annotations

import codecs
import io
import os.path
import unicodedata
import warnings
from dataclasses import dataclass
from urllib.parse import quote

import filetype
from PIL import Image, ImageOps

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
INLINE_TYPES = IMAGE_TYPES | {"application/pdf"}
NAME_MAX = 200
THUMBNAIL_MAX = 320
"""Pixels on the longer side: two chat columns wide on a high-density screen."""
# Pillow's decompression-bomb guard. 40 megapixels is beyond any phone camera or 8K
# screenshot; past it (a 10 MB PNG can announce 20,000 × 20,000 pixels of one colour),
# decoding would take gigabytes of memory. Such files are kept, but get no thumbnail.
Image.MAX_IMAGE_PIXELS = 40_000_000
TEXT_SAMPLE = 64 * 1024


@dataclass(frozen=True)
class Examined:
    content_type: str
    thumbnail: bytes | None


def content_type(data: bytes) -> str:
    """The type the bytes say they are: a known signature, else UTF-8 text, else binary."""
    kind = filetype.guess(data)
    if kind is not None:
        return str(kind.mime)
    try:
        # Incremental: a sample may end inside a multi-byte character.
        sample = codecs.getincrementaldecoder("utf-8")().decode(data[:TEXT_SAMPLE], final=False)
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "application/octet-stream" if "\x00" in sample else "text/plain"


def thumbnail(data: bytes, kind: str) -> bytes | None:
    """A JPEG (or, with transparency, PNG) at most THUMBNAIL_MAX px on a side; None if not an
    image, too many pixels, or unreadable."""
    if kind not in IMAGE_TYPES:
        return None
    try:
        with warnings.catch_warnings():
            # Between MAX_IMAGE_PIXELS and twice that Pillow only warns; we refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (THUMBNAIL_MAX, THUMBNAIL_MAX))  # JPEG: decode at a reduced scale
                small = ImageOps.exif_transpose(image) or image
                small.thumbnail((THUMBNAIL_MAX, THUMBNAIL_MAX))
                out = io.BytesIO()
                if small.mode in ("RGBA", "LA", "PA") or "transparency" in small.info:
                    small.convert("RGBA").save(out, "PNG", optimize=True)
                else:
                    small.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
                return out.getvalue()
    except Exception:
        # Image.DecompressionBombError/Warning, or any of the many errors a corrupt or hostile
        # file raises inside Pillow: the upload stands; it just has no picture to show.
        return None


def examine(data: bytes) -> Examined:
    kind = content_type(data)
    return Examined(kind, thumbnail(data, kind))


def safe_name(raw: object) -> str:
    """The file's own name without any path, control or bidi-override characters, ≤ 200 chars."""
    name = raw if isinstance(raw, str) else ""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    # Category C: control, format (e.g. U+202E, which makes "gpj.exe" read "exe.jpg"), surrogates…
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if name in ("", ".", ".."):
        return "file"
    if len(name) > NAME_MAX:
        stem, ext = os.path.splitext(name)
        name = stem[: NAME_MAX - len(ext)] + ext if 0 < len(ext) <= 20 else name[:NAME_MAX]
    return name


def inline(kind: str, has_thumbnail: bool) -> bool:
    """Shown in the browser (images and PDF) or offered as a download (everything else).

    An image we could not decode safely (a decompression bomb) has no thumbnail and is a
    download too: the browser is not asked to render what we refused to."""
    if kind in IMAGE_TYPES:
        return has_thumbnail
    return kind in INLINE_TYPES


def disposition(name: str, *, as_download: bool) -> str:
    """Content-Disposition with an ASCII fallback and the exact name as RFC 6266 filename*."""
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\%' else "_" for ch in name)
    kind = "attachment" if as_download else "inline"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
