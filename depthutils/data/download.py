"""Resumable, size-checked download of the official NYU-Depth V2 files (for users with internet)."""
from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["NYU_FILES", "download_file", "download_nyu"]

#: The official files: name → URL. Their size is checked against the server's Content-Length / Content-Range.
NYU_FILES = {
    "nyu_depth_v2_labeled.mat": "http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/nyu_depth_v2_labeled.mat",
    "splits.mat": "http://horatio.cs.nyu.edu/mit/silberman/indoor_seg_sup/splits.mat",
}


class DownloadError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_file(url: str, dest: str | os.PathLike, *, sha256: str | None = None, progress: bool = True,
                  timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest + '.part'`` with an HTTP Range request.

    The file only appears under ``dest`` once its size equals the server's total size (and its SHA-256 equals
    ``sha256`` when given); until then it stays ``.part``. A file already at ``dest`` is not downloaded again.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # range not satisfiable: the .part is already complete
            resp = None
        else:
            raise DownloadError(f"downloading {url} failed: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"cannot reach {url} ({e}). Check the network, or fetch the file by hand into {dest}.") from e

    total = None
    if resp is not None:
        with resp:
            if resp.status == 206:  # partial content: append
                cr = resp.headers.get("Content-Range", "")
                total = int(cr.rsplit("/", 1)[1]) if "/" in cr and not cr.endswith("*") else None
                mode = "ab"
            else:  # the server ignored Range: start over
                have, mode = 0, "wb"
                cl = resp.headers.get("Content-Length")
                total = int(cl) if cl else None
            with open(part, mode) as f, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                             desc=dest.name, disable=not progress) as bar:
                try:
                    while block := resp.read(1 << 20):
                        f.write(block)
                        bar.update(len(block))
                except (http.client.HTTPException, OSError) as e:  # dropped mid-transfer: keep what arrived
                    f.flush()
                    raise DownloadError(f"{url}: connection lost after {f.tell()} bytes ({e}); kept {part}, "
                                        f"run again to resume.") from e
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"{url}: got {size} of {total} bytes; kept {part}, run again to resume.")
    if sha256 and _sha256(part) != sha256.lower():
        bad = part.with_name(part.name + ".bad")
        os.replace(part, bad)
        raise DownloadError(f"{url}: SHA-256 mismatch; moved the file to {bad}. Run again to download afresh.")
    os.replace(part, dest)
    return dest


def download_nyu(out_dir: str | os.PathLike, *, base_urls: dict[str, str] | None = None, progress: bool = True) -> list[Path]:
    """Fetch ``nyu_depth_v2_labeled.mat`` (2.8 GB) and ``splits.mat`` into ``out_dir``."""
    urls = base_urls or NYU_FILES
    return [download_file(url, Path(out_dir) / name, progress=progress) for name, url in urls.items()]
