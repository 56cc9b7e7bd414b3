"""Rendered images (PS3.18 10.4.1.1.3, 8.3.5, 8.7.4): one frame of a stored instance as JPEG,
PNG or GIF, 8 bits per channel.

:func:`render_frame` is pure (Part 10 bytes in, image bytes out); the endpoints are in
:mod:`.wado_rendered`. The pipeline follows the grayscale one of PS3.3 C.11 in short:

1. decode the frame's stored values (native transfer syntaxes; a compressed one needs a
   pydicom decoder plugin, and without one the instance is not renderable: 406);
2. MONOCHROME1/2: the Modality LUT (Rescale Slope/Intercept), then the VOI window -- the
   ``window`` query parameter (``center,width[,linear|linear-exact|sigmoid]``), else the
   first Window Center/Width of the file, else the frame's min..max -- to 0..255, inverted
   for MONOCHROME1;
3. RGB / YBR_FULL / YBR_FULL_422 / PALETTE COLOR: converted to RGB and shifted to 8 bits
   (``window`` does not apply to color, as in a Presentation State);
4. ``viewport=vw,vh`` scales the image to fit in vw x vh pixels, keeping its aspect ratio
   (a source region, the 6-value form, is not supported: 400); ``quality`` (1..100) sets the
   JPEG quality (default 90).

Other rendering parameters (``annotation``, ``iccprofile``, ``charset``) are not supported
and ignored, as PS3.18 8.3 says for unsupported query parameters; invalid values of
supported ones raise :class:`RenderError` with status 400.

Pillow does the encoding. It is imported when the first image is rendered, so a service
started without it still serves everything else; rendering then answers 406 with a hint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut, apply_rescale
from pydicom.pixels.utils import pixel_array

MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}
"""Rendered media types we produce, in preference order (JPEG is PS3.18's default)."""

MAX_VIEWPORT = 4096
DEFAULT_QUALITY = 90
_SHAPES = ("linear", "linear-exact", "sigmoid")


class RenderError(Exception):
    """Rendering refused: ``status`` 400 (bad parameter) or 406 (cannot render this)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    shape: str = "linear"


@dataclass(frozen=True)
class RenderOptions:
    """The supported rendering query parameters, validated."""

    window: Window | None = None
    viewport: tuple[int, int] | None = None
    quality: int = DEFAULT_QUALITY


def _numbers(name: str, text: str) -> list[float]:
    try:
        values = [float(piece) for piece in text.split(",")]
    except ValueError:
        raise RenderError(400, f"{name}={text!r}: expected comma-separated numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise RenderError(400, f"{name}={text!r}: numbers must be finite")
    return values


def parse_options(params: Mapping[str, str]) -> RenderOptions:
    """Read ``window``, ``viewport`` and ``quality``; others are ignored. 400 when invalid."""
    window = None
    if "window" in params:
        text = params["window"]
        pieces = text.split(",")
        shape = pieces[2].strip().lower() if len(pieces) == 3 else "linear"
        if len(pieces) not in (2, 3) or shape not in _SHAPES:
            raise RenderError(400, f"window={text!r}: expected center,width[,{'|'.join(_SHAPES)}]")
        center, width = _numbers("window", ",".join(pieces[:2]))
        if width <= 0 or (shape == "linear" and width < 1):
            raise RenderError(400, f"window={text!r}: the width must be > 0 (>= 1 for linear)")
        window = Window(center, width, shape)
    viewport = None
    if "viewport" in params:
        text = params["viewport"]
        values = _numbers("viewport", text)
        if len(values) != 2:
            raise RenderError(400, f"viewport={text!r}: only vw,vh is supported (no source region)")
        vw, vh = values
        if not (vw.is_integer() and vh.is_integer() and 1 <= vw <= MAX_VIEWPORT and 1 <= vh <= MAX_VIEWPORT):
            raise RenderError(400, f"viewport={text!r}: expected two whole numbers 1..{MAX_VIEWPORT}")
        viewport = (int(vw), int(vh))
    quality = DEFAULT_QUALITY
    if "quality" in params:
        text = params["quality"]
        if not text.isdigit() or not 1 <= int(text) <= 100:
            raise RenderError(400, f"quality={text!r}: expected a whole number 1..100")
        quality = int(text)
    return RenderOptions(window, viewport, quality)


def _windowed(values: np.ndarray[Any, Any], window: Window) -> np.ndarray[Any, Any]:
    """0..255 by the VOI LUT function of PS3.3 C.11.2.1.2 (ymin 0, ymax 255)."""
    c, w = window.center, window.width
    if window.shape == "sigmoid":
        return 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    if window.shape == "linear-exact":
        return np.clip(((values - c) / w + 0.5) * 255.0, 0, 255)
    return np.clip(((values - (c - 0.5)) / (w - 1) + 0.5) * 255.0, 0, 255)


def _file_window(ds: Dataset) -> Window | None:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    try:
        c = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
        w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    except (TypeError, ValueError, IndexError):
        return None  # an unreadable window in the file: fall back to the frame's range
    return Window(c, w) if math.isfinite(c) and math.isfinite(w) and w >= 1 else None


def _grayscale(ds: Dataset, frame: np.ndarray[Any, Any], window: Window | None) -> np.ndarray[Any, Any]:
    values = np.asarray(apply_rescale(frame, ds), dtype=np.float64)
    chosen = window or _file_window(ds)
    if chosen is not None:
        out = _windowed(values, chosen)
    else:
        low, high = float(values.min()), float(values.max())
        out = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        out = 255.0 - out
    return np.asarray(np.rint(out), dtype=np.uint8)


def _color(ds: Dataset, frame: np.ndarray[Any, Any], photometric: str) -> np.ndarray[Any, Any]:
    if photometric == "PALETTE COLOR":
        rgb = np.asarray(apply_color_lut(frame, ds), dtype=np.float64)
        bits = 16 if rgb.max(initial=0) > 255 else 8
    else:  # RGB, or YBR that pydicom's decoding already converted to RGB
        rgb = np.asarray(frame, dtype=np.float64)
        bits = int(ds.get("BitsStored", 8) or 8)
    if bits > 8:
        rgb = rgb / (2 ** (bits - 8))
    return np.asarray(np.clip(np.rint(rgb), 0, 255), dtype=np.uint8)


def _frame_pixels(ds: Dataset, frame_number: int) -> np.ndarray[Any, Any]:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not 1 <= frame_number <= frames:
        raise RenderError(404, f"frame {frame_number} not in instance ({frames} frame(s))")
    try:
        # Decode only the frame asked for (pydicom 3: index= on pixel_array).
        return np.asarray(pixel_array(ds, index=frame_number - 1 if frames > 1 else None))
    except Exception as error:  # pydicom raises many types for undecodable pixel data
        raise RenderError(406, f"cannot decode the pixel data ({type(error).__name__}: {error})") from None


def render_frame(part10: bytes, frame_number: int, media_type: str, options: RenderOptions) -> bytes:
    """Frame ``frame_number`` (1-based) of ``part10`` as ``media_type`` (a key of
    :data:`MEDIA_TYPES`). Raises :class:`RenderError`: 404 for a frame that does not
    exist, 406 when the instance has no renderable image."""
    try:
        from PIL import Image
    except ImportError:
        raise RenderError(406, "this server cannot render images: the Pillow package is not installed") from None
    try:
        ds = pydicom.dcmread(BytesIO(part10))
    except Exception as error:
        raise RenderError(406, f"cannot read the stored instance ({type(error).__name__})") from None
    if "PixelData" not in ds:
        raise RenderError(406, "the instance has no pixel data to render")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    pixels = _frame_pixels(ds, frame_number)
    try:
        if photometric in ("MONOCHROME1", "MONOCHROME2") and pixels.ndim == 2:
            image = Image.fromarray(_grayscale(ds, pixels, options.window), mode="L")
        elif photometric in ("RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR") and pixels.ndim in (2, 3):
            rgb = _color(ds, pixels, photometric)
            if rgb.ndim != 3 or rgb.shape[-1] != 3:
                raise RenderError(406, f"unexpected {photometric} pixel layout {rgb.shape}")
            image = Image.fromarray(rgb, mode="RGB")
        else:
            raise RenderError(406, f"cannot render photometric interpretation {photometric or '(none)'!r}")
    except (ValueError, TypeError, AttributeError, KeyError, ArithmeticError) as error:
        # A stored instance passed STOW validation, but its LUT or rescale attributes may
        # still be unusable: that instance cannot be rendered, the server is fine.
        raise RenderError(406, f"cannot render this instance ({type(error).__name__}: {error})") from None
    if options.viewport is not None:
        scale = min(options.viewport[0] / image.size[0], options.viewport[1] / image.size[1])
        image = image.resize((max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))))
    buffer = BytesIO()
    image_format = MEDIA_TYPES[media_type]
    if image_format == "JPEG":
        image.save(buffer, format="JPEG", quality=options.quality)
    else:
        image.save(buffer, format=image_format)
    return buffer.getvalue()
