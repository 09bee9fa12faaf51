"""Compare a demo run's scores with the table published in docs/evaluation.md, row by row.

    python benchmarks/demo_table_diff.py [results/report/metrics_summary.csv]

The table ("What the demo makes": every model, test set and style of the demo) was written from one
fresh-clone run; this formats the given run's metrics_summary.csv the same way (3 decimals for SSIM
and the feature distance, 1 for PSNR, 4 significant digits for FID, 3 for KID) and prints each row
whose cells differ, then how many rows agree to every digit shown. Use it after running the demo on
another machine to tell the CPU's last digits from a real change.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

DOCS = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"
HEADER = "| model | test set | sketch style | n | SSIM prediction |"
COLUMNS = ["SSIM prediction", "SSIM sketch", "SSIM mean photo", "PSNR", "feature distance", "FID", "KID"]


def published_rows(text: str) -> list[list[str]]:
    """The cells of each row of the demo's table in docs/evaluation.md, bold marks removed."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADER)) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip().replace("*", "") for cell in line.strip().strip("|").split("|")])
    return rows


def interval(row: pd.Series, name: str, digits: int) -> str:
    return f"{row[name]:.{digits}f} [{row[name + '_lo']:.{digits}f}, {row[name + '_hi']:.{digits}f}]"


def formatted(row: pd.Series) -> list[str]:
    """A metrics_summary.csv row as the table shows it."""
    return [interval(row, "ssim_prediction", 3), interval(row, "ssim_sketch", 3), interval(row, "ssim_mean_image", 3),
            interval(row, "psnr_prediction", 1), interval(row, "feature_distance_prediction", 3),
            f"{row['fid']:.4g}", f"{row['kid']:.3g}"]


def main(summary: Path) -> int:
    if not summary.is_file():
        sys.exit(f"{summary} not found: run the demo first (snakemake --cores all), or pass the run's metrics_summary.csv")
    scores = pd.read_csv(summary)
    scores = scores[scores["hints"] == 0]
    same = 0
    rows = published_rows(DOCS.read_text())
    for cells in rows:
        model, dataset, style = cells[0], cells[1], cells[2].split(" ")[0]
        match = scores[(scores.model == model) & (scores.dataset == dataset) & (scores.method == style)]
        if match.empty:
            print(f"{model} / {dataset} / {style}: not in {summary}")
            continue
        now = formatted(match.iloc[0])
        differing = [f"{name} {old} -> {new}" for name, old, new in zip(COLUMNS, cells[4:], now) if old != new]
        same += not differing
        if differing:
            print(f"{model} / {dataset} / {style}: " + "; ".join(differing))
    print(f"{same} of {len(rows)} rows agree with docs/evaluation.md to every digit shown")
    return 0


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/report/metrics_summary.csv"))
