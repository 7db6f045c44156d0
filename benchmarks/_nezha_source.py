"""Where the Nezha Online Boutique data comes from, and the guard that keeps the held-out days out.

Nezha's repository (IntelligentDDS/Nezha, FSE'23) holds four fault days under ``rca_data/``. Two of them
(2023-01-29 and 2023-01-30, TrainTicket) are faultline's **held-out test**: nothing here may open, list or convert
them. So every path this module builds names one of the two Online Boutique days explicitly; no code ever lists
``rca_data/`` itself, and asking for any other day raises :class:`NezhaDayRefused` before a file is touched.

Two ways to get the data:

* ``--source DIR``: a directory holding ``rca_data/2022-08-22`` and/or ``rca_data/2022-08-23`` (a plain
  ``git clone --depth 1 https://github.com/IntelligentDDS/Nezha``).
* No source: a bare mirror of the repository (``FAULTLINE_NEZHA_MIRROR``, default
  ``/work/.mirror/IntelligentDDS+Nezha/repo``) is unpacked into a cache (``benchmarks/out/src/nezha``). The public
  snapshot lacks some large blobs (most log minute-files, some trace minute-files), so ``git archive`` fails on it;
  we list the two day folders with ``git ls-tree`` (path-limited, so the other days are never read) and copy each blob
  that exists with ``git cat-file --batch``. What the tree lists but the snapshot lacks is recorded in
  ``rca_data/<day>/.extract_manifest.json``, so reports can tell "absent from the snapshot" from "never recorded".
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ALLOWED_DAYS: tuple[str, ...] = ("2022-08-22", "2022-08-23")
"""The Online Boutique fault days: the only days this converter reads."""

HELD_OUT_DAYS: tuple[str, ...] = ("2023-01-29", "2023-01-30")
"""Nezha's TrainTicket days: faultline's held-out test. Named only to refuse them with a precise message."""

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / "out" / "src" / "nezha"
DEFAULT_MIRROR = Path("/work/.mirror/IntelligentDDS+Nezha/repo")
MANIFEST = ".extract_manifest.json"
CLONE_HINT = "git clone --depth 1 https://github.com/IntelligentDDS/Nezha  (then --source Nezha)"


class NezhaError(Exception):
    """Base error of the Nezha converter."""


class NezhaDayRefused(NezhaError):
    """A day outside the two Online Boutique days was asked for (the TrainTicket days are held out)."""


class NezhaSourceMissing(NezhaError):
    """Neither a source directory nor a mirror holds the asked-for day."""


def check_day(day: str) -> str:
    """Return ``day`` if it is an Online Boutique day; refuse anything else before any file is opened."""
    if day in HELD_OUT_DAYS:
        raise NezhaDayRefused(
            f"day {day!r} is Nezha's TrainTicket data, reserved as faultline's held-out test: it must not be read, "
            f"converted or tuned on. Allowed days: {', '.join(ALLOWED_DAYS)}"
        )
    if day not in ALLOWED_DAYS:
        raise NezhaDayRefused(f"day {day!r} is not one of the Online Boutique days this converter reads: "
                              f"{', '.join(ALLOWED_DAYS)}")
    return day


def day_dir(source: Path, day: str) -> Path:
    """``source/rca_data/<day>`` for an allowed day (checked first), or a clear error if it is not there."""
    path = Path(source) / "rca_data" / check_day(day)
    if not (path / "metric").is_dir():
        raise NezhaSourceMissing(f"{path}/metric not found: --source must hold rca_data/{day}/ ({CLONE_HINT})")
    return path


def mirror_path() -> Path:
    return Path(os.environ.get("FAULTLINE_NEZHA_MIRROR", str(DEFAULT_MIRROR)))


def _git(git_dir: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=False)
    if proc.returncode != 0:
        raise NezhaSourceMissing(f"git {' '.join(args[:2])} failed in {git_dir}: {proc.stderr.decode(errors='replace')[:300]}")
    return proc.stdout


def extract_day(git_dir: Path, dest: Path, day: str, rev: str = "HEAD") -> dict:
    """Copy ``rca_data/<day>`` out of the bare repository ``git_dir`` into ``dest``; blobs the snapshot lacks are skipped.

    Returns the manifest (also written to ``dest/rca_data/<day>/.extract_manifest.json``): the revision, the
    number of files listed, and the paths listed but absent. A finished extraction is reused, not redone.
    """
    check_day(day)
    out_day = dest / "rca_data" / day
    manifest_path = out_day / MANIFEST
    if manifest_path.exists():
        return json.loads(manifest_path.read_text(encoding="utf-8"))
    listing = _git(git_dir, "ls-tree", "-r", "-z", rev, "--", f"rca_data/{day}/")
    entries = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, path = item.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind == b"blob":
            entries.append((sha.decode(), path.decode()))
    if not entries:
        raise NezhaSourceMissing(f"rca_data/{day} is not in {git_dir} at {rev}")
    request = "".join(f"{sha}\n" for sha, _ in entries).encode()
    proc = subprocess.run(["git", f"--git-dir={git_dir}", "cat-file", "--batch"], input=request,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise NezhaSourceMissing(f"git cat-file failed in {git_dir}: {proc.stderr.decode(errors='replace')[:300]}")
    data, pos, missing = proc.stdout, 0, []
    for sha, rel in entries:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) == 2 and header[1] == b"missing":
            missing.append(rel)
            continue
        size = int(header[2])
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[pos:pos + size])
        pos += size + 1  # the blob is followed by a newline
    rev_sha = _git(git_dir, "rev-parse", rev).decode().strip()
    manifest = {"repository": "IntelligentDDS/Nezha", "revision": rev_sha, "day": day,
                "listed": len(entries), "missing": sorted(missing)}
    out_day.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def resolve_source(source: Path | None, days: tuple[str, ...], cache: Path = CACHE, mirror: Path | None = None) -> Path:
    """The directory holding ``rca_data/<day>`` for every day in ``days`` (extracting from the mirror if needed)."""
    for day in days:
        check_day(day)
    if source is not None:
        for day in days:
            day_dir(source, day)
        return Path(source)
    git_dir = mirror if mirror is not None else mirror_path()
    if not (git_dir / "objects").is_dir() and not (git_dir / "HEAD").is_file():
        raise NezhaSourceMissing(f"no --source given and no mirror at {git_dir}; get the data with: {CLONE_HINT}")
    for day in days:
        extract_day(git_dir, cache, day)
    return cache


def read_manifest(day_path: Path) -> dict | None:
    """The extraction manifest of a day folder, or None for a plain clone (then nothing is known to be missing)."""
    path = day_path / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
