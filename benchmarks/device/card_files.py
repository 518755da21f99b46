"""`python -m benchmarks.device.card_files CARD.json`: the files a model card vouches for (artifact, reference
vectors, the card itself), one per line, for the device scripts to push.  Exits 2 with one line if any is missing."""

from __future__ import annotations

import sys
from pathlib import Path

from elir_mobile.errors import ElirError

from .parity import load_card


def card_files(card_path: Path) -> list[Path]:
    card = load_card(card_path)
    rv = card["reference_vectors"]
    names = [card["artifact"]["file"], *(i["file"] for i in rv["inputs"]), rv["output"]["file"]]
    files = [card_path.parent / n for n in names] + [card_path]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise ElirError(f"{card_path.name}: missing {', '.join(missing)}")
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.device.card_files CARD.json", file=sys.stderr)
        return 2
    try:
        files = card_files(Path(args[0]))
    except ElirError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
