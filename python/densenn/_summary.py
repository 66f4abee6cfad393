"""Plain-text `Model.summary()` laid out exactly like Keras 3 does through `rich`.

Keras builds a rich Table (HEAVY_HEAD box, padding 1, show_lines=True) with fixed column widths and then lets
rich shrink them to fit; densenn has no rich dependency, so the same arithmetic is done here by hand.
"""
from __future__ import annotations  # `int | None` annotations on Python 3.9

import re
import shutil

_HEADER = ("Layer (type)", "Output Shape", "Param #")
_RIGHT = (False, False, True)  # "Param #" is right-justified
_POSITIONS = (0.45, 0.80, 1.0)  # Keras' positions for sequential-like models


def format_count(n: int) -> str:
    return f"{n:,}"


def format_shape(shape) -> str:
    """`(None, 10)`; `?` for an unbuilt layer. Like Keras, a 1-tuple prints as `(None)`, not `(None,)`."""
    if shape is None:
        return "?"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def readable_memory_size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def default_line_length() -> int:
    # Keras: min(88, terminal columns - 4); shutil honours $COLUMNS and falls back to 80 columns when piped.
    return min(88, shutil.get_terminal_size().columns - 4)


def _ratio_reduce(total, ratios, maximums, values):
    # rich's ratio_reduce: take `total` cells away from `values` in proportion to `ratios` (round() is banker's).
    ratios = [r if m else 0 for r, m in zip(ratios, maximums)]
    total_ratio, remaining, out = sum(ratios), total, []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            d = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - d)
            remaining -= d
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _cell_widths(line_length):
    """Widths of the three cells including their 1-space padding, as rich computes them."""
    widths, current = [], 0
    for pos in _POSITIONS:
        w = int(pos * line_length) - current
        if w < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(w)
        current += w
    # Keras gives each column a fixed width that does not count padding, so the columns ask for
    # line_length + 6 while only line_length - 4 (edges and dividers) is free; rich trims the excess evenly.
    widths = [min(w + 2, line_length - 4) for w in widths]
    excess = sum(widths) - (line_length - 4)
    if excess > 0:
        widths = _ratio_reduce(excess, [1] * len(widths), widths, widths)
    return widths


def _wrap(text, width, right):
    """rich's Text.wrap with overflow='ellipsis': break at spaces, crop words too long for a line with '…'."""
    breaks, offset = [], 0
    for m in re.finditer(r"\s*\S+\s*", text):
        start, word = m.start(), m.group()
        wlen = len(word.rstrip())
        if width - offset >= wlen:
            offset += len(word)
        elif wlen > width or (offset and start):
            if start:
                breaks.append(start)
            offset = len(word)
    lines = []
    for a, b in zip([0] + breaks, breaks + [len(text)]):
        line = text[a:b]
        if len(line) > width:  # trailing spaces past the edge are dropped first
            line = line[: len(line) - min(len(line) - len(line.rstrip()), len(line) - width)]
        if right:
            line = line.rstrip()
        if len(line) > width:
            line = line[: max(width - 1, 0)] + "…"
        lines.append(line.rjust(width) if right else line.ljust(width))
    return lines


def _table(rows, line_length):
    widths = _cell_widths(line_length)
    inner = [max(w - 2, 0) for w in widths]

    def rule(left, fill, mid, right):
        return left + mid.join(fill * w for w in widths) + right

    def row(cells, bar, header=False):
        wrapped = [_wrap(c, w, r) for c, w, r in zip(cells, inner, _RIGHT)]
        height = max(len(c) for c in wrapped)
        # rich aligns body cells to the top and header cells to the bottom, filling with blank lines
        wrapped = [[" " * w] * (height - len(c)) + c if header else c + [" " * w] * (height - len(c))
                   for c, w in zip(wrapped, inner)]
        out = []
        for i in range(height):
            parts = [c[i] for c in wrapped]
            out.append(bar + bar.join(f" {p} " for p in parts) + bar)
        return out

    lines = [rule("┏", "━", "┳", "┓"), *row(_HEADER, "┃", header=True), rule("┡", "━", "╇", "┩")]
    for i, cells in enumerate(rows):
        if i:
            lines.append(rule("├", "─", "┼", "┤"))
        lines += row(cells, "│")
    lines.append(rule("└", "─", "┴", "┘"))
    return lines


def format_summary(model_name: str, rows: list[tuple[str, str, str, str]], total: int, trainable: int,
                   non_trainable: int, optimizer_params: int | None = None, line_length: int | None = None,
                   bits_per_param: int = 32) -> str:
    """The text Keras 3 prints for a sequential-like model, without the final newline.

    rows: (layer_name, class_name, output_shape_text, param_text); `total` already includes optimizer_params.
    """
    line_length = line_length or default_line_length()
    cells = [(f"{name} ({cls})", shape, params) for name, cls, shape, params in rows]

    def count_line(label, n):
        return f" {label}: {format_count(n)} ({readable_memory_size(n * bits_per_param / 8)})"

    lines = [f'Model: "{model_name}"', *_table(cells, line_length),
             count_line("Total params", total),
             count_line("Trainable params", trainable),
             count_line("Non-trainable params", non_trainable)]
    if optimizer_params is not None:
        lines.append(count_line("Optimizer params", optimizer_params))
    return "\n".join(lines)
