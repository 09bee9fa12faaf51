"""Figures for the study's report: image grids, loss curves, metric bar charts, the cross-style heat map.

Every file is written through ``io.atomic_path`` so a half-written PNG never looks done.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import cv2
import matplotlib
import numpy as np

# Headless: pipeline rules run without a display. Set before pyplot is imported.
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sketchback.io import atomic_path  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd

GUTTER = 2  # px of white between cells and around the grid
BACKGROUND = 255  # white canvas: gutters, header and letterbox padding
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_COLOUR = (0, 0, 0)
_MIN_FONT_SCALE = 0.4  # below this Hershey glyphs stop being readable
_TEXT_PAD = 5  # px above and below a line of text

# Columns in Keras histories that are not losses; plotting them on a loss axis hides the losses.
_NOT_LOSSES = {"epoch", "lr", "learning_rate"}
_ESTIMATORS = ("prediction", "sketch", "mean_image")
_ESTIMATOR_LABELS = {"prediction": "prediction", "sketch": "sketch (identity)", "mean_image": "mean image"}
_ESTIMATOR_COLOURS = {"prediction": "tab:blue", "sketch": "tab:orange", "mean_image": "tab:grey"}


# --------------------------------------------------------------------------- grids


def _label_font_scale(cell: int) -> float:
    return max(_MIN_FONT_SCALE, cell / 256.0)


def _text_line_height(scale: float, thickness: int) -> int:
    (_, h), baseline = cv2.getTextSize("Ag", _FONT, scale, thickness)
    return h + baseline + 2 * _TEXT_PAD


def header_height(cell: int = 128, title: str | None = None) -> int:
    """Height in px of the label row (plus the title line when ``title``) of an evaluation grid.

    The full grid is ``header_height(cell, title) + rows * (cell + GUTTER) + GUTTER`` tall
    and ``ncols * (cell + GUTTER) + GUTTER`` wide.
    """
    scale = _label_font_scale(cell)
    h = _text_line_height(scale, 1)
    if title:
        h += _text_line_height(scale * 1.25, _title_thickness(scale * 1.25))
    return h


def _title_thickness(scale: float) -> int:
    return 2 if scale >= 0.6 else 1


def _fit_text(text: str, max_width: int, scale: float, thickness: int) -> tuple[str, float]:
    """Shrink the font (down to the legibility floor), then truncate with '..', to fit max_width."""
    while scale > _MIN_FONT_SCALE and cv2.getTextSize(text, _FONT, scale, thickness)[0][0] > max_width:
        scale = max(_MIN_FONT_SCALE, scale - 0.05)
    if cv2.getTextSize(text, _FONT, scale, thickness)[0][0] <= max_width:
        return text, scale
    while len(text) > 1 and cv2.getTextSize(text + "..", _FONT, scale, thickness)[0][0] > max_width:
        text = text[:-1]
    return text + "..", scale


def _put_centred(canvas: np.ndarray, text: str, x0: int, width: int, y0: int, scale: float, thickness: int) -> None:
    """Draw ``text`` centred in the box starting at (x0, y0) of the given width, one line tall."""
    text, scale = _fit_text(text, width - 4, scale, thickness)
    (tw, th), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    x = x0 + max(0, (width - tw) // 2)
    y = y0 + _TEXT_PAD + th  # putText's y is the baseline
    cv2.putText(canvas, text, (x, y), _FONT, scale, _TEXT_COLOUR, thickness, cv2.LINE_AA)


def _to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, 3), float in [0, 1] or uint8 -> (H, W, 3) uint8."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"grid cells must be (H, W), (H, W, 1) or (H, W, 3), got shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.integer):
        raise TypeError(f"integer images must be uint8, got {image.dtype}; convert or scale to [0, 1] floats")
    # Out-of-range model outputs are clipped (and NaN shown black) rather than wrapped around.
    image = np.nan_to_num(image.astype(np.float64), nan=0.0)
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _fit_cell(image: np.ndarray, cell: int) -> np.ndarray:
    """Scale (H, W, 3) uint8 to fit a cell x cell square, keeping its aspect ratio (letterboxed)."""
    h, w = image.shape[:2]
    scale = cell / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) != (h, w):
        # Nearest when enlarging so small outputs show their real pixels instead of a
        # flattering blur; area averaging when shrinking to avoid aliasing.
        interp = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
        image = cv2.resize(image, (nw, nh), interpolation=interp)
    if (nh, nw) == (cell, cell):
        return image
    out = np.full((cell, cell, 3), BACKGROUND, dtype=np.uint8)
    y, x = (cell - nh) // 2, (cell - nw) // 2
    out[y : y + nh, x : x + nw] = image
    return out


def evaluation_grid(
    columns: list[np.ndarray],
    labels: list[str],
    max_rows: int = 8,
    cell: int = 128,
    title: str | None = None,
) -> np.ndarray:
    """Side-by-side comparison grid, one column per image set, one row per sample.

    columns: list of arrays, each (N, H, W, 3), (N, H, W, 1) or (N, H, W); float in [0, 1]
        (clipped) or uint8; sizes may differ between columns but N must be equal.
    labels: one header label per column, e.g. ["sketch", "prediction", "ground truth"].
    Returns an RGB uint8 image of shape
        (header_height(cell, title) + rows * (cell + GUTTER) + GUTTER,
         len(columns) * (cell + GUTTER) + GUTTER, 3), rows = min(N, max_rows):
    the title (if any), a label row, then the first ``rows`` samples, each cell scaled to
    fit cell x cell (aspect kept, white letterbox if not square) with white gutters.
    """
    if not columns:
        raise ValueError("evaluation_grid needs at least one column")
    if len(labels) != len(columns):
        raise ValueError(f"{len(columns)} columns but {len(labels)} labels")
    if cell < 8:
        raise ValueError(f"cell must be at least 8 px, got {cell}")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    lengths = [len(c) for c in columns]
    if len(set(lengths)) != 1:
        # Unequal lengths almost always mean misaligned samples; refuse rather than mislead.
        raise ValueError(f"all columns must hold the same number of images, got {lengths}")
    rows = min(lengths[0], max_rows)
    ncols = len(columns)

    top = header_height(cell, title)
    height = top + rows * (cell + GUTTER) + GUTTER
    width = ncols * (cell + GUTTER) + GUTTER
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)

    scale = _label_font_scale(cell)
    y = 0
    if title:
        tscale = scale * 1.25
        tthick = _title_thickness(tscale)
        _put_centred(canvas, title, 0, width, 0, tscale, tthick)
        y = _text_line_height(tscale, tthick)
    for j, label in enumerate(labels):
        _put_centred(canvas, str(label), GUTTER + j * (cell + GUTTER), cell, y, scale, 1)

    for j, column in enumerate(columns):
        x = GUTTER + j * (cell + GUTTER)
        for i in range(rows):
            yy = top + GUTTER + i * (cell + GUTTER)
            canvas[yy : yy + cell, x : x + cell] = _fit_cell(_to_uint8_rgb(column[i]), cell)
    return canvas


def save_png(path: str | os.PathLike, image: np.ndarray, dpi: int | None = None) -> None:
    """Write an RGB (H, W, 3) or grey (H, W) uint8 image to ``path`` (.png) atomically.

    ``dpi`` records the print resolution in the file (PNG pHYs chunk), so a poster layout program
    places it at its intended size (e.g. 1800 px at 300 dpi = 6 inches). Parent folders are
    created. Raises OSError if the file cannot be written.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"save_png expects uint8, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 3))):
        raise ValueError(f"save_png expects (H, W) or (H, W, 3) images, got shape {image.shape}")
    if str(path).lower()[-4:] != ".png":
        raise ValueError(f"save_png writes PNG only; {path} does not end in .png")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    with atomic_path(path) as tmp:  # temp name keeps the .png suffix
        if dpi is not None:
            from PIL import Image  # a dependency of matplotlib

            Image.fromarray(image).save(tmp, format="PNG", dpi=(dpi, dpi))
        elif not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image):
            raise OSError(f"cv2.imwrite could not write {path}")


# --------------------------------------------------------------------------- plots


@contextlib.contextmanager
def _closing(fig):
    """Close ``fig`` however the block ends: pyplot keeps figures alive otherwise."""
    try:
        yield fig
    finally:
        plt.close(fig)


def _save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")


# The study's loss terms, in the order the panels show them, with what each one is.
_LOSS_TERMS = {
    "loss": "total loss Lt",
    "pixel": "pixel loss Lp (RMS error)",
    "feature": "feature loss Lf (VGG16 relu2_2)",
    "tv": "total variation Lv",
    "adversarial": "generator's adversarial term",
    "discriminator": "discriminator loss",
    "d_real": "D(sketch, photo): mean P(real)",
    "d_fake": "D(sketch, prediction): mean P(real)",
}


def _base_name(col: str) -> str:
    return col[4:] if col.startswith("val_") else col


def _loss_terms(df: "pd.DataFrame") -> tuple[list[str], list[str]]:
    """(loss terms in the study's order, then any other; the numeric loss columns) of a history."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    numeric = [c for c in df.columns if isinstance(c, str) and _base_name(c) not in _NOT_LOSSES
               and is_numeric_dtype(df[c]) and not is_bool_dtype(df[c])]
    bases = list(dict.fromkeys(_base_name(c) for c in numeric))
    bases.sort(key=lambda b: list(_LOSS_TERMS).index(b) if b in _LOSS_TERMS else len(_LOSS_TERMS))
    return bases, numeric


def _plot_loss_term(ax, df: "pd.DataFrame", base: str, numeric: list[str]) -> None:
    """One panel: loss term ``base``, training solid and validation dashed, over the epochs."""
    epochs = df["epoch"].to_numpy(dtype=np.float64, na_value=np.nan)
    values = []
    for column, style, label in ((base, "-", "training"), (f"val_{base}", "--", "validation")):
        if column in numeric:
            # float64 with NaN so nullable pandas dtypes (Int64 with <NA>) plot too.
            y = df[column].to_numpy(dtype=np.float64, na_value=np.nan)
            ax.plot(epochs, y, style, color="tab:blue" if style == "-" else "tab:orange",
                    marker="o", markersize=3, label=label)
            values.append(y)
    v = np.concatenate(values)
    v = v[np.isfinite(v)]
    if v.size and v.min() > 0 and v.max() / v.min() > 10:
        ax.set_yscale("log")
    ax.set_title(_LOSS_TERMS.get(base, base), fontsize="medium")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)


def plot_loss_curves(histories: dict[str, "pd.DataFrame"], path: str | os.PathLike, title: str = "",
                     subtitles: dict[str, str] | None = None, dpi: int = 150) -> None:
    """Training curves: one row of panels per model (training stage), one panel per loss term.

    histories: model name -> DataFrame with an "epoch" column and loss columns such as "loss",
        "pixel", "feature", "tv" and their "val_" twins (the columns ``sketchback.models.train`` writes).
        The study's terms come first, in that order, then any other numeric column;
        "lr"/"learning_rate" and non-numeric columns are ignored. Training is solid, validation
        dashed. A panel's y axis is logarithmic when its positive values span more than 10x.
    subtitles: model name -> a line saying what the stage was (shown above its row).
    """
    if not histories:
        raise ValueError("plot_loss_curves needs at least one history")
    for name, df in histories.items():
        if "epoch" not in df.columns:
            raise ValueError(f"history {name!r} has no 'epoch' column (columns: {list(df.columns)})")
    terms_per_model = {name: _loss_terms(df) for name, df in histories.items()}
    ncols = max(1, max(len(bases) for bases, _ in terms_per_model.values()))
    nrows = len(histories)
    fig = plt.figure(figsize=(3.4 * ncols, 3.1 * nrows + (0.4 if title else 0.0)), layout="constrained")
    rows = fig.subfigures(nrows, 1, squeeze=False)[:, 0]
    with _closing(fig):
        for subfig, (name, df) in zip(rows, histories.items()):
            bases, numeric = terms_per_model[name]
            axes = subfig.subplots(1, ncols, squeeze=False)[0]
            subfig.suptitle((subtitles or {}).get(name, str(name)), fontsize="medium", fontstyle="italic")
            for col, ax in enumerate(axes):
                if col >= len(bases):
                    ax.set_visible(False)
                    continue
                _plot_loss_term(ax, df, bases[col], numeric)
                if col == 0:
                    ax.set_ylabel(str(name), fontsize="large", fontweight="bold")
                    ax.legend(fontsize="small")
        if title:
            fig.suptitle(title, fontsize="x-large")
        _save_figure(fig, path, dpi)


def plot_image_rows(rows: dict[str, np.ndarray], path: str | os.PathLike, title: str = "", dpi: int = 150) -> None:
    """A figure of labelled rows of images, e.g. example photos of each dataset.

    rows: label -> images (N, H, W, 3) or (N, H, W), uint8 or floats in [0, 1]; each row shows
    its images side by side (rows may hold different numbers of images).
    """
    if not rows:
        raise ValueError("plot_image_rows needs at least one row")
    ncols = max(len(images) for images in rows.values())
    if ncols == 0:
        raise ValueError("plot_image_rows got rows without images")
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.3 * ncols + 1.6, 1.45 * len(rows) + 0.5), squeeze=False)
    with _closing(fig):
        for (label, images), axrow in zip(rows.items(), axes):
            for j, ax in enumerate(axrow):
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if j < len(images):
                    ax.imshow(_to_uint8_rgb(images[j]), interpolation="nearest")
            axrow[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize="medium")
        if title:
            fig.suptitle(title, fontsize="medium")
        fig.tight_layout()
        _save_figure(fig, path, dpi)


def plot_metric_bars(summary: "pd.DataFrame", path: str | os.PathLike, metric: str = "ssim") -> None:
    """Grouped bar chart of ``metric`` with CI error bars, saved as a PNG (dpi 150) at ``path``.

    summary: one row per (model, dataset, method) with columns "model", "dataset",
        "method" and, for estimator in ("prediction", "sketch", "mean_image"),
        f"{metric}_{estimator}" (mean) and f"{metric}_{estimator}_lo" / "_hi" (CI bounds).
    One group of bars per row, one bar per estimator present. Estimators whose mean
    column is missing are left out; missing CI columns mean no error bar; NaN means no bar.
    """
    keys = ["model", "dataset", "method"]
    missing = [k for k in keys if k not in summary.columns]
    if missing:
        raise ValueError(f"summary lacks columns {missing} (columns: {list(summary.columns)})")
    estimators = [e for e in _ESTIMATORS if f"{metric}_{e}" in summary.columns]
    if not estimators:
        wanted = [f"{metric}_{e}" for e in _ESTIMATORS]
        raise ValueError(f"summary has none of {wanted} (columns: {list(summary.columns)})")
    if summary.empty:
        raise ValueError("summary has no rows")
    dup = summary.duplicated(subset=keys)
    if dup.any():
        raise ValueError(f"summary has repeated (model, dataset, method) rows: {summary.loc[dup, keys].values.tolist()}")

    n = len(summary)
    x = np.arange(n)
    width = 0.8 / len(estimators)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * n + 2.0), 4.2))
    with _closing(fig):
        for k, est in enumerate(estimators):
            mean = summary[f"{metric}_{est}"].to_numpy(dtype=np.float64, na_value=np.nan)
            yerr = None
            lo_col, hi_col = f"{metric}_{est}_lo", f"{metric}_{est}_hi"
            if lo_col in summary.columns and hi_col in summary.columns:
                lo = summary[lo_col].to_numpy(dtype=np.float64, na_value=np.nan)
                hi = summary[hi_col].to_numpy(dtype=np.float64, na_value=np.nan)
                # matplotlib rejects negative error lengths; a CI not bracketing its mean is drawn as none.
                yerr = np.nan_to_num(np.clip(np.vstack([mean - lo, hi - mean]), 0.0, None), nan=0.0)
            offset = (k - (len(estimators) - 1) / 2) * width
            ax.bar(
                x + offset, mean, width, yerr=yerr, capsize=3,
                label=_ESTIMATOR_LABELS[est], color=_ESTIMATOR_COLOURS[est],
            )
        ax.set_xticks(x)
        ax.set_xticklabels(
            [f"{r.model}\n{r.dataset}\n{r.method}" for r in summary[keys].itertuples(index=False)],
            fontsize="small",
        )
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} by model, dataset and method (bars: mean, whiskers: CI)")
        ax.grid(True, axis="y", alpha=0.3)
        # Outside the axes so the legend never hides a bar; bbox_inches="tight" keeps it in the file.
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        _save_figure(fig, path)


# Panels of the cross-style heat map: column, title, higher is better, number format.
_CROSS_PANELS = (
    ("ssim", "SSIM (higher is better)", True, "{:.3f}"),
    ("psnr", "PSNR in dB (higher is better)", True, "{:.1f}"),
    ("feature_distance", "VGG feature distance (lower is better)", False, "{:.3f}"),
)


def _cross_row_label(table: "pd.DataFrame", model: str, test_set: str) -> str:
    first = table[(table["model"] == model)].iloc[0]
    trained = ""
    if "training_set" in table.columns:
        trained = f"\n(trained on {first['training_set']}, {first.get('training_styles', '')})"
    return f"{model} model{trained}\ntested on {test_set}"


def _cross_panel(ax, keys: list, styles: list[str], cells: dict, metric: str, higher: bool, fmt: str):
    """One heat map of the cross-style matrix: ``metric`` of each (model, test set) row and style
    column, each cell with its mean and 95% interval, the styles a model saw outlined in red."""
    from matplotlib.patches import Rectangle

    grid = np.full((len(keys), len(styles)), np.nan)
    for i, (model, test_set) in enumerate(keys):
        for j, style in enumerate(styles):
            r = cells.get((model, test_set, style))
            if r is not None:
                grid[i, j] = float(getattr(r, metric))
    cmap = plt.get_cmap("viridis" if higher else "viridis_r").with_extremes(bad="#dddddd")
    finite = grid[np.isfinite(grid)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=lo, vmax=hi, aspect="auto")
    for i, (model, test_set) in enumerate(keys):
        for j, style in enumerate(styles):
            r = cells.get((model, test_set, style))
            if r is None or not np.isfinite(grid[i, j]):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize="small", color="#666666")
                continue
            text = fmt.format(grid[i, j])
            lo_col, hi_col = f"{metric}_lo", f"{metric}_hi"
            if hasattr(r, lo_col) and np.isfinite(getattr(r, lo_col)):
                text += f"\n[{fmt.format(getattr(r, lo_col))}, {fmt.format(getattr(r, hi_col))}]"
            shade = (grid[i, j] - lo) / (hi - lo)
            light = shade > 0.6 if higher else shade < 0.4  # viridis is light at its top end
            ax.text(j, i, text, ha="center", va="center", fontsize="small",
                    color="black" if light else "white", fontweight="bold" if r.seen_style else "normal")
            if r.seen_style:
                ax.add_patch(Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False, edgecolor="tab:red",
                                       linewidth=2.5))
    return image


def plot_cross_style(table: "pd.DataFrame", path: str | os.PathLike, styles: list[str] | None = None,
                     style_labels: dict[str, str] | None = None, dpi: int = 150) -> None:
    """Heat maps of the cross-style matrix: rows are (model, test set), columns sketch styles.

    table: the long table of ``sketchback.evaluation.evaluate.cross_style_table`` (columns model,
        training_set, training_styles, test_set, style, seen_style, and ssim, psnr,
        feature_distance each with _lo/_hi). One panel per metric present; each cell shows the
        mean and its 95% interval; the styles a model was trained on are outlined in red; a test
        set that does not come in a style (hand-drawn sketches exist only for CUHK) is grey, "n/a".
    styles: column order (default: order of first appearance).
    """
    required = ["model", "test_set", "style", "seen_style"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"cross-style table lacks columns {missing} (columns: {list(table.columns)})")
    panels = [p for p in _CROSS_PANELS if p[0] in table.columns]
    if not panels:
        raise ValueError(f"cross-style table has none of the metrics {[p[0] for p in _CROSS_PANELS]}")
    if table.empty:
        raise ValueError("cross-style table has no rows")
    styles = list(styles) if styles is not None else list(dict.fromkeys(table["style"]))
    style_labels = style_labels or {}
    keys = list(dict.fromkeys(zip(table["model"], table["test_set"])))
    cells = {(r.model, r.test_set, r.style): r for r in table.itertuples(index=False)}
    width = max(2.6, 1.15 * len(styles) + 0.6)
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels) + 2.2, 0.95 * len(keys) + 1.9),
                             squeeze=False)
    with _closing(fig):
        for k, (ax, (metric, name, higher, fmt)) in enumerate(zip(axes[0], panels)):
            image = _cross_panel(ax, keys, styles, cells, metric, higher, fmt)
            ax.set_xticks(range(len(styles)))
            ax.set_xticklabels([style_labels.get(s, s) for s in styles])
            ax.set_xlabel("sketch style of the test images")
            ax.set_yticks(range(len(keys)))
            labels = [_cross_row_label(table, *key) for key in keys] if k == 0 else [""] * len(keys)
            ax.set_yticklabels(labels, fontsize="small")
            ax.set_title(name, fontsize="medium")
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
        fig.suptitle("Cross-style matrix: each model on every sketch style (mean [95% bootstrap CI]; "
                     "red box: the style it was trained on)", fontsize="medium")
        fig.tight_layout()
        _save_figure(fig, path, dpi)


__all__ = ["evaluation_grid", "header_height", "save_png", "plot_loss_curves", "plot_metric_bars", "plot_cross_style",
           "plot_image_rows", "GUTTER"]
