"""Write a large, realistic UWP drop to a folder, streaming (for the memory benchmark).

``write_drop(folder, target_bytes)`` writes the reference tables and activities of a seeded drop
(``data.build_drop``), then participants and participations row by row until the folder holds
``target_bytes``; memory stays flat whatever the size. Usage::

    python -m connectors.uwp.generate /tmp/uwp-drop --size 1G
"""

from __future__ import annotations

import argparse
import random
from datetime import date, timedelta
from pathlib import Path

from connectors.uwp.data import SECTORS, build_drop

_FLUSH_ROWS = 20_000


def _hex(n: int, salt: int) -> str:
    # A bijection on 32 bits: unique 8-hex ids without hashing every row.
    return f"{((n + salt) * 2654435761) & 0xFFFFFFFF:08x}"


def _times(first: date, days: int) -> list[str]:
    """Modified dates spread over ``days``: one string per minute of the period (UTC, as the export writes some)."""
    out: list[str] = []
    for day in range(days):
        stamp = (first + timedelta(days=day)).isoformat()
        out.extend(f"{stamp}T{minute // 60:02d}:{minute % 60:02d}:00+00:00" for minute in range(0, 1440, 7))
    return out


def write_drop(folder: str | Path, target_bytes: int, *, name: str = "bench") -> dict[str, int]:
    """Write a drop of about ``target_bytes`` into ``folder``; returns file name -> size in bytes."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    drop = build_drop(name, activities=300, participants=0, participations=0, malformed_row=False)
    for file in drop.files.values():
        if file.name not in ("participant_results.csv", "deelname_results.csv"):
            (out / file.name).write_bytes(file.render())
    written = sum((out / f).stat().st_size for f in drop.files if (out / f).exists())
    activities = [(row["activiteit_id"], row["activiteit_thema"], row["activiteit_type"])
                  for row in drop["activiteit_results.csv"].rows if row.get("activiteit_status") != "EventCancelled"]
    rng = random.Random(name)
    times = _times(date(2024, 9, 1), 300)
    years = [str(y) for y in range(1935, 2013)]
    people_target = max((target_bytes - written) // 20, 1)
    people = 0
    participant_header = ("participant_id,participant_creationdate,participant_modifieddate,participant_birthyear,"
                          "participant_statsector_id,participant_statsector_name,participant_processeddate\n")
    with (out / "participant_results.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write(participant_header)
        size = len(participant_header)
        batch: list[str] = []
        while size < people_target:
            sector_id, sector_name = SECTORS[people % len(SECTORS)]
            stamp = times[(people * 13) % len(times)]
            line = (f"{_hex(people, 1)},{stamp},{stamp},{years[rng.randrange(len(years))]},"
                    f"{sector_id},{sector_name},{stamp}\n")
            batch.append(line)
            size += len(line.encode()) if not line.isascii() else len(line)
            people += 1
            if len(batch) >= _FLUSH_ROWS:
                handle.write("".join(batch))
                batch.clear()
        handle.write("".join(batch))
    written += (out / "participant_results.csv").stat().st_size
    header = ("participant_id,participant_birthyear,participant_statsector_id,participant_statsector_name,"
              "deelname_id,deelname_modifieddate,event_id,event_theme,event_type\n")
    with (out / "deelname_results.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write(header)
        size = written + len(header)
        row = 0
        batch = []
        while size < target_bytes:
            person = rng.randrange(people)
            sector_id, sector_name = SECTORS[person % len(SECTORS)]
            event_id, thema, kind = activities[row % len(activities)]
            line = (f"{_hex(person, 1)},{years[person % len(years)]},{sector_id},{sector_name},"
                    # ascending modified dates, as an append-only export has them
                    f"{_hex(row, 7)},{times[row * len(times) // (row + 1_000_000)]},{event_id},{thema},{kind}\n")
            batch.append(line)
            size += len(line) if line.isascii() else len(line.encode())
            row += 1
            if len(batch) >= _FLUSH_ROWS:
                handle.write("".join(batch))
                batch.clear()
        handle.write("".join(batch))
    return {path.name: path.stat().st_size for path in sorted(out.iterdir()) if path.is_file()}


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


def main(argv: list[str] | None = None) -> None:
    """Command line: write a drop of the given size into a folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--size", default="1G", help="target size, e.g. 200M, 1G (default 1G)")
    args = parser.parse_args(argv)
    sizes = write_drop(args.folder, _size(args.size))
    for name, size in sizes.items():
        print(f"{size:>14,}  {name}")
    print(f"{sum(sizes.values()):>14,}  total")


if __name__ == "__main__":
    main()
