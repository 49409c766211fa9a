"""Contact sheet of rendered frames: what the simulated domain covers (README "Simulated tables").

edge-detsam2 simulate /tmp/looks --clips 9 --shots 1 --seed 1000 --yolo-dataset /tmp/looks/yolo --yolo-every 40
python benchmarks/contact_sheet.py /tmp/looks/yolo/images --out docs/img/sim_domain.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", type=Path, help="directory of rendered frames (searched recursively)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cols", type=int, default=3)
    p.add_argument("--rows", type=int, default=3)
    p.add_argument("--tile", type=int, default=480, help="tile width in pixels")
    args = p.parse_args()
    files = sorted(args.images.rglob("*.jpg"))
    # the middle frame of clips spread over the set (names start with clip_NNN)
    by_clip: dict[str, list[Path]] = {}
    for f in files:
        by_clip.setdefault(f.name.split("_")[1], []).append(f)
    clips = list(by_clip.values())
    n = min(args.cols * args.rows, len(clips))
    pick = [clips[int(k)][len(clips[int(k)]) // 2] for k in np.linspace(0, len(clips) - 1, n)]
    tiles = []
    for f in pick:
        img = cv2.imread(str(f))
        h = round(img.shape[0] * args.tile / img.shape[1])
        tiles.append(cv2.resize(img, (args.tile, h), interpolation=cv2.INTER_AREA))
    h = min(t.shape[0] for t in tiles)
    tiles = [t[:h] for t in tiles]
    while len(tiles) % args.cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[k : k + args.cols]) for k in range(0, len(tiles), args.cols)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"{args.out}: {len(pick)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
