"""Keypoint and EMG channel names: normalising, parsing from descriptions, mapping to a body.

>>> parse_channel_names("EMG envelopes; columns: Biceps, TriLong, TriLat", 3)
['Biceps', 'TriLong', 'TriLat']
>>> normalise_name("Tri_Long ")
'trilong'
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from ..errors import DataError

__all__ = ["normalise_name", "parse_channel_names", "map_keypoints"]


def normalise_name(name: str) -> str:
    """Lower-case, with spaces, underscores, hyphens and dots removed."""
    return re.sub(r"[\s_\-.]+", "", str(name)).lower()


def parse_channel_names(text: str, n: int) -> list[str] | None:
    """Find ``n`` channel names listed in a free-text description, or None.

    Looks for a ``columns:``/``channels:``/``muscles:`` list first, then for any
    comma-, semicolon- or tab-separated list of exactly ``n`` short names.
    """
    if not text:
        return None
    candidates = []
    m = re.search(r"(?:columns?|channels?|muscles?|order)\s*(?:are|=|:)\s*(.+)", text, re.I)
    if m:
        candidates.append(m.group(1))
    candidates.extend(re.split(r"[\n]|(?<=[.;])\s", text))
    candidates.append(text)
    for cand in candidates:
        cand = cand.strip().strip("[](){}.")
        parts = [p.strip().strip("'\"[]()") for p in re.split(r"[,;\t]", cand)]
        parts = [p for p in parts if p]
        if len(parts) == n and all(re.fullmatch(r"[A-Za-z][\w\- ]{0,40}", p) for p in parts) \
                and len(set(parts)) == n:
            return parts
    return None


def map_keypoints(names: Sequence[str], body: Any = None, *,
                  keypoint_map: Mapping[str, str] | None = None,
                  source: str | None = None) -> dict[str, str]:
    """Map each keypoint name to a body site; a clear error lists what cannot be mapped.

    ``body`` is a :class:`neuroimit.body.BodyModel` (its ``site_for_keypoint`` is used) or
    None with an explicit ``keypoint_map`` (keypoint -> site, matched case- and
    punctuation-insensitively).

    >>> map_keypoints(["shoulder", "Elbow"], keypoint_map={"Shoulder": "kp_s", "Elbow": "kp_e"})
    {'shoulder': 'kp_s', 'Elbow': 'kp_e'}
    """
    out: dict[str, str] = {}
    bad: list[str] = []
    table = {normalise_name(k): v for k, v in (keypoint_map or {}).items()}
    for n in names:
        if keypoint_map is not None and normalise_name(n) in table:
            out[n] = table[normalise_name(n)]
            continue
        if body is not None and keypoint_map is None:
            try:
                out[n] = body.site_for_keypoint(n)
                continue
            except (DataError, KeyError, ValueError):
                pass
        bad.append(n)
    if bad:
        known = sorted(keypoint_map) if keypoint_map is not None else \
            sorted(getattr(body, "keypoint_sites", {}) or [])
        what = f"body model {getattr(body, 'name', '?')!r}" if keypoint_map is None \
            else "the keypoint map"
        raise DataError(f"keypoint(s) {bad} cannot be mapped to {what}", file=source,
                        field="keypoint_names",
                        expected=f"names among {known} (pass keypoint_map= to map others)")
    return out
