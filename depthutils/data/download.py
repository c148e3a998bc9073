"""Resumable, size-checked download of the official NYU-Depth V2 files (for users with internet)."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import TypedDict

from .._io import sha256_file

__all__ = ["NYU_FILES", "NYU_CHECKS", "DownloadError", "download_file", "download_nyu", "check_mat_file"]

#: The official files: name → URL. Their size is checked against the server's Content-Length / Content-Range.
NYU_FILES = {
    "nyu_depth_v2_labeled.mat": "http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/nyu_depth_v2_labeled.mat",
    "splits.mat": "http://horatio.cs.nyu.edu/mit/silberman/indoor_seg_sup/splits.mat",
}


class FileChecks(TypedDict, total=False):
    """What :func:`download_file` checks of a file (its keyword arguments): size in bytes and SHA-256."""

    size: int | None
    sha256: str | None


#: Size (bytes) and SHA-256 of the official files, checked when known. The official site publishes neither, and
#: no development machine could reach it, so they are unset: fill them in from a verified download.
NYU_CHECKS: dict[str, FileChecks] = {
    "nyu_depth_v2_labeled.mat": {"size": None, "sha256": None},
    "splits.mat": {"size": None, "sha256": None},
}

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # MATLAB v7.3 files are HDF5 with the superblock at byte 512
_MAT5_HEADER = b"MATLAB 5.0 MAT-file"


class DownloadError(RuntimeError):
    """A download failed or gave something other than the expected file; the message says what to do.

    ``resumable``: whether running the same command again can continue it (a transfer cut short), as opposed to
    a file that is wrong whatever is appended to it."""

    def __init__(self, message: str, *, resumable: bool = False):
        super().__init__(message)
        self.resumable = resumable


def check_mat_file(path: str | os.PathLike) -> None:
    """Raise DownloadError unless ``path`` is a MATLAB file: v7.3 (HDF5, with ``images`` and ``depths`` when it is
    the labeled set) or v5 (``splits.mat``). An HTML error page saved under the .mat name fails here."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(1024)
    if head[: len(_MAT5_HEADER)] == _MAT5_HEADER:
        return
    if head[512:520] != _HDF5_SIGNATURE and head[:8] != _HDF5_SIGNATURE:
        kind = "an HTML page" if head.lstrip()[:1] == b"<" else "not a MATLAB file"
        raise DownloadError(f"{path} is {kind} (first bytes {head[:40]!r}); the server did not send the data file.")
    import h5py

    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
    except OSError as e:
        raise DownloadError(
            f"{path} has an HDF5 signature but cannot be read ({e}); it is probably truncated.", resumable=True
        ) from e
    if "labeled" in path.name and not {"images", "depths"} <= keys:
        raise DownloadError(f"{path} lacks the datasets 'images' and 'depths' (found {sorted(keys)[:8]}).")


def _total_from_content_range(value: str | None) -> int | None:
    if value and "/" in value and not value.endswith("*"):
        return int(value.rsplit("/", 1)[1])
    return None


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    size: int | None = None,
    validate=None,
    progress: bool = True,
    timeout: float = 60.0,
    _retry: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest + '.part'`` with an HTTP Range request.

    The file only appears under ``dest`` once it is complete: its size equals the server's announced total (and
    ``size`` when given), its SHA-256 equals ``sha256`` when given, and ``validate(path)`` (e.g.
    :func:`check_mat_file`) accepts it, which also covers transfers that announce no length. Until then it stays
    ``.part``. A server that ignores the range, or a ``.part`` longer than the remote file (HTTP 416), starts the
    download over. A file already at ``dest`` is not downloaded again.
    """
    dest = Path(dest)
    if dest.exists():  # verified like a fresh download before it is reported as done
        _verify_existing(dest, size=size, sha256=sha256, validate=validate)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    opened = _open(url, dest, have, timeout=timeout, may_restart=_retry)
    if opened is None:  # the .part is longer than the remote file: start over, once
        part.unlink()
        return download_file(
            url, dest, sha256=sha256, size=size, validate=validate, progress=progress, timeout=timeout, _retry=False
        )
    resp, total = opened
    if resp is not None:
        total = _receive(resp, url, part, have, desc=dest.name, progress=progress)
    _check_part(part, url, dest, total=total, size=size, validate=validate, sha256=sha256)
    os.replace(part, dest)
    return dest


def _open(url: str, dest: Path, have: int, *, timeout: float, may_restart: bool):
    """The response for the bytes from ``have`` on, as (response, None); (None, total) when the ``.part`` is
    already complete; None when it is longer than the remote file and ``may_restart``. Refusals are named."""
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        remote = _total_from_content_range(e.headers.get("Content-Range") if e.headers else None)
        if e.code == 416 and have and (remote is None or remote == have):  # the .part is already complete
            return None, remote
        if e.code == 416 and have and may_restart:
            return None
        raise DownloadError(
            f"downloading {url} failed: HTTP {e.code} {e.reason}. Check the address, or fetch "
            f"the file by hand into {dest}."
        ) from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(
            f"cannot reach {url} ({e}). Check the network, or fetch the file by hand into {dest}."
        ) from None
    if "text/html" in (resp.headers.get("Content-Type") or "").lower():
        resp.close()
        raise DownloadError(
            f"{url} answered with an HTML page (Content-Type {resp.headers.get('Content-Type')}), not the file; "
            f"nothing was written. Check the address (a login or error page?), or fetch the file by hand into {dest}."
        )
    return resp, None


def _receive(resp, url: str, part: Path, have: int, *, desc: str, progress: bool) -> int | None:
    """Write the response into ``part``: appended when the server continues from ``have`` (HTTP 206), else from
    the start. Returns the total size the server announced (None: unknown). A dropped connection keeps what
    arrived, for a resume."""
    from tqdm.auto import tqdm

    with resp:
        cr_total = _total_from_content_range(resp.headers.get("Content-Range"))
        cr_start = resp.headers.get("Content-Range", "").replace("bytes ", "").split("-")[0]
        if resp.status == 206 and cr_start.strip() == str(have):  # partial content from where we are: append
            total, mode = cr_total, "ab"
        else:  # the server ignored the range (or sent another one): start over
            have, mode = 0, "wb"
            cl = resp.headers.get("Content-Length")
            total = int(cl) if cl and resp.status == 200 else cr_total
        with (
            open(part, mode) as f,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar,
        ):
            try:
                while block := resp.read(1 << 20):
                    f.write(block)
                    bar.update(len(block))
            except (http.client.HTTPException, OSError) as e:  # dropped mid-transfer: keep what arrived
                f.flush()
                raise DownloadError(
                    f"{url}: connection lost after {f.tell()} bytes ({e}); kept {part}, run again to resume.",
                    resumable=True,
                ) from None
    return total


def _check_part(
    part: Path, url: str, dest: Path, *, total: int | None, size: int | None, validate, sha256: str | None
) -> None:
    """The finished ``part`` is the expected file, or it is kept (a resume can help) or deleted (it cannot), and
    the error says which."""
    got = part.stat().st_size
    for expected in (total, size):
        if expected is not None and got < expected:
            raise DownloadError(
                f"{url}: got {got} of {expected} bytes; kept {part}, run again to resume.", resumable=True
            )
        if expected is not None and got > expected:
            part.unlink()
            raise DownloadError(
                f"{url}: got {got} bytes, more than the {expected} expected; deleted {part}, as resuming it cannot "
                "help. Run again to download afresh, or check the address."
            )
    if validate is not None:
        try:
            validate(part)
        except DownloadError as e:
            if e.resumable and total is None:  # no announced length and the file looks cut short
                raise DownloadError(f"{e} Kept {part}: run again to resume, or delete it to start over.") from None
            part.unlink()
            raise DownloadError(
                f"{e} Deleted {part}: it is not the expected file, so resuming it cannot help. Check the address, "
                f"or fetch the file by hand into {dest}."
            ) from None
    if sha256 and sha256_file(part) != sha256.lower():
        bad = part.with_name(part.name + ".bad")
        os.replace(part, bad)
        raise DownloadError(f"{url}: SHA-256 mismatch; moved the file to {bad}. Run again to download afresh.")


def _verify_existing(dest: Path, *, size: int | None, sha256: str | None, validate) -> None:
    """A file already at ``dest`` passes the checks of a fresh download, or is named with what to do."""
    try:
        got = dest.stat().st_size
        if size is not None and got != size:
            raise DownloadError(f"its size is {got} bytes, not {size}")
        if sha256 and sha256_file(dest) != sha256.lower():
            raise DownloadError("its SHA-256 does not match")
        if validate is not None:
            validate(dest)
    except DownloadError as e:
        raise DownloadError(
            f"{dest} is already there but is not the expected file ({e}). Move it away or delete it, then run again."
        ) from None


def download_nyu(
    out_dir: str | os.PathLike, *, base_urls: dict[str, str] | None = None, progress: bool = True
) -> list[Path]:
    """Fetch ``nyu_depth_v2_labeled.mat`` (2.8 GB) and ``splits.mat`` into ``out_dir``, each checked to be the
    MATLAB file it should be (and against NYU_CHECKS where known)."""
    urls = base_urls or NYU_FILES
    return [
        download_file(url, Path(out_dir) / name, progress=progress, validate=check_mat_file, **NYU_CHECKS.get(name, {}))
        for name, url in urls.items()
    ]
