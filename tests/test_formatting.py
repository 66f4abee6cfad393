"""Exact-text tests for the summary table and the progress bar.

The expected texts were produced by Keras 3.15.1 (`model.summary(line_length=...)`, `keras.utils.Progbar`).
"""
import importlib
import io

import pytest

S = importlib.import_module("densenn._summary")
P = importlib.import_module("densenn._progbar")

TWO_DENSE = [("dense", "Dense", "(None, 10)", "50"), ("dense_1", "Dense", "(None, 1)", "11")]


# ---------------------------------------------------------------- summary

def test_summary_width_88():
    assert S.format_summary("sequential", TWO_DENSE, 61, 61, 0, line_length=88) == """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ dense (Dense)                        │ (None, 10)                  │              50 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dense_1 (Dense)                      │ (None, 1)                   │              11 │
└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘
 Total params: 61 (244.00 B)
 Trainable params: 61 (244.00 B)
 Non-trainable params: 0 (0.00 B)"""


def test_summary_width_76():
    assert S.format_summary("sequential", TWO_DENSE, 61, 61, 0, line_length=76) == """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 10)             │            50 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 1)              │            11 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 61 (244.00 B)
 Trainable params: 61 (244.00 B)
 Non-trainable params: 0 (0.00 B)"""


def test_summary_mnist_mlp():
    rows = [("dense_2", "Dense", S.format_shape((None, 100)), S.format_count(78500)),
            ("dense_3", "Dense", S.format_shape((None, 50)), S.format_count(5050)),
            ("dense_4", "Dense", S.format_shape((None, 10)), S.format_count(510))]
    assert S.format_summary("sequential_1", rows, 84060, 84060, 0, line_length=88) == """\
Model: "sequential_1"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
│ dense_2 (Dense)                      │ (None, 100)                 │          78,500 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dense_3 (Dense)                      │ (None, 50)                  │           5,050 │
├──────────────────────────────────────┼─────────────────────────────┼─────────────────┤
│ dense_4 (Dense)                      │ (None, 10)                  │             510 │
└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘
 Total params: 84,060 (328.36 KB)
 Trainable params: 84,060 (328.36 KB)
 Non-trainable params: 0 (0.00 B)"""


def test_summary_unbuilt():
    rows = [("dense_5", "Dense", S.format_shape(None), "0 (unbuilt)"),
            ("dense_6", "Dense", S.format_shape(None), "0 (unbuilt)")]
    assert S.format_summary("sequential_2", rows, 0, 0, 0, line_length=76) == """\
Model: "sequential_2"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense_5 (Dense)                 │ ?                      │   0 (unbuilt) │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_6 (Dense)                 │ ?                      │   0 (unbuilt) │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 0 (0.00 B)
 Trainable params: 0 (0.00 B)
 Non-trainable params: 0 (0.00 B)"""


def test_summary_empty_model():
    assert S.format_summary("sequential_3", [], 0, 0, 0, line_length=88).splitlines()[1:6] == [
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓",
        "┃ Layer (type)                         ┃ Output Shape                ┃         Param # ┃",
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩",
        "└──────────────────────────────────────┴─────────────────────────────┴─────────────────┘",
        " Total params: 0 (0.00 B)",
    ]


def test_summary_long_names_wrap_and_crop():
    rows = [("a_really_long_layer_name_that_does_not_fit_in_the_column", "Dense", "(None, 10)", "50"),
            ("some words that do wrap across lines nicely ok", "Dense", "(None, 3)", "33"),
            ("batch_normalization", "BatchNormalization", "(None, 3)", "12"),
            ("x" * 80, "Dense", "(None, 1)", "4")]
    assert S.format_summary("seq_long", rows, 99, 93, 6, line_length=60) == """\
Model: "seq_long"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┓
┃ Layer (type)             ┃ Output Shape      ┃   Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━┩
│ a_really_long_layer_nam… │ (None, 10)        │        50 │
│ (Dense)                  │                   │           │
├──────────────────────────┼───────────────────┼───────────┤
│ some words that do wrap  │ (None, 3)         │        33 │
│ across lines nicely ok   │                   │           │
│ (Dense)                  │                   │           │
├──────────────────────────┼───────────────────┼───────────┤
│ batch_normalization      │ (None, 3)         │        12 │
│ (BatchNormalization)     │                   │           │
├──────────────────────────┼───────────────────┼───────────┤
│ xxxxxxxxxxxxxxxxxxxxxxx… │ (None, 1)         │         4 │
│ (Dense)                  │                   │           │
└──────────────────────────┴───────────────────┴───────────┘
 Total params: 99 (396.00 B)
 Trainable params: 93 (372.00 B)
 Non-trainable params: 6 (24.00 B)"""


def test_summary_narrow_header_wraps_to_bottom():
    # rich bottom-aligns header cells: the shorter header sits on the last line.
    lines = S.format_summary("m", [], 0, 0, 0, line_length=34).splitlines()
    assert lines[2:4] == ["┃              ┃ Output   ┃ Par… ┃",
                          "┃ Layer (type) ┃ Shape    ┃    # ┃"]


def test_summary_optimizer_params_line_last():
    text = S.format_summary("sequential", TWO_DENSE, 185, 61, 0, optimizer_params=124, line_length=88)
    assert text.splitlines()[-4:] == [" Total params: 185 (740.00 B)", " Trainable params: 61 (244.00 B)",
                                      " Non-trainable params: 0 (0.00 B)", " Optimizer params: 124 (496.00 B)"]


def test_summary_too_narrow():
    with pytest.raises(ValueError, match="Insufficient console width"):
        S.format_summary("m", TWO_DENSE, 61, 61, 0, line_length=15)


def test_bits_per_param():
    assert S.format_summary("m", [], 10, 10, 0, line_length=88, bits_per_param=16).endswith(
        " Non-trainable params: 0 (0.00 B)")
    assert " Total params: 10 (20.00 B)" in S.format_summary("m", [], 10, 10, 0, line_length=88, bits_per_param=16)


@pytest.mark.parametrize("nbytes, text", [
    (0, "0.00 B"), (244, "244.00 B"), (1023, "1023.00 B"), (1024, "1.00 KB"), (336240, "328.36 KB"),
    (5 * 1024**2, "5.00 MB"), (1536 * 1024**2, "1.50 GB")])
def test_readable_memory_size(nbytes, text):
    assert S.readable_memory_size(nbytes) == text


def test_format_helpers():
    assert S.format_count(55050) == "55,050"
    assert S.format_count(0) == "0"
    assert S.format_shape((None, 10)) == "(None, 10)"
    assert S.format_shape((None,)) == "(None)"  # Keras joins the dims without a trailing comma
    assert S.format_shape(None) == "?"


@pytest.mark.parametrize("columns, expected", [("200", 88), ("80", 76), ("60", 56)])
def test_default_line_length(monkeypatch, columns, expected):
    monkeypatch.setenv("COLUMNS", columns)  # shutil.get_terminal_size reads it first
    assert S.default_line_length() == expected


# ---------------------------------------------------------------- progress bar

class Clock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


class Tty(io.StringIO):
    writes = 0

    def isatty(self):
        return True

    def write(self, s):
        self.writes += 1
        return super().write(s)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(P.Progbar, "_now", staticmethod(c))
    return c


def run_epoch(bar, clock, steps, first, per_step, values):
    """Step 1 takes `first` seconds (Keras leaves it out of the per-step time), the rest `per_step`."""
    for step in range(1, steps + 1):
        clock.t += first if step == 1 else per_step
        bar.update(step, values)


def test_verbose_2_line(clock):
    out = io.StringIO()
    bar = P.Progbar(5, verbose=2, file=out)
    run_epoch(bar, clock, 5, 0.3, 0.002, [("accuracy", 0.46875), ("loss", 0.69694)])
    assert out.getvalue() == "5/5 - 0s - 2ms/step - accuracy: 0.4688 - loss: 0.6969\n"


def test_verbose_1_final_line_ms(clock):
    out = io.StringIO()
    bar = P.Progbar(12, file=out)
    values = {"accuracy": 0.92491, "loss": 0.30437, "val_accuracy": 0.55, "val_loss": 0.69451}
    run_epoch(bar, clock, 12, 0.2, 0.0021, values)
    assert out.getvalue() == ("12/12 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.9249 - loss: 0.3044"
                              " - val_accuracy: 0.5500 - val_loss: 0.6945\n")


@pytest.mark.parametrize("first, per_step, tail", [
    (3.0, 3.0, "9s 3s/step"), (0.5, 0.00025, "1s 250us/step"), (0.01, 0.0, "0s 0s/step")])
def test_verbose_1_time_units(clock, first, per_step, tail):
    out = io.StringIO()
    bar = P.Progbar(3, file=out)
    run_epoch(bar, clock, 3, first, per_step, [("loss", 0.5)])
    assert out.getvalue() == f"3/3 ━━━━━━━━━━━━━━━━━━━━ {tail} - loss: 0.5000\n"


def test_small_values_use_exponent(clock):
    out = io.StringIO()
    bar = P.Progbar(1, file=out)
    clock.t += 2
    bar.update(1, [("a", 1e-4), ("b", 0.001), ("c", -0.5), ("d", 0.0)])
    assert out.getvalue() == "1/1 ━━━━━━━━━━━━━━━━━━━━ 2s 2s/step - a: 1.0000e-04 - b: 1.0000e-03 - c: -0.5000" \
                             " - d: 0.0000e+00\n"


def test_verbose_2_negative_values_use_exponent(clock):
    # Keras' verbose=2 line compares v > 1e-3 without abs(), unlike verbose=1.
    out = io.StringIO()
    bar = P.Progbar(1, verbose=2, file=out)
    clock.t += 2
    bar.update(1, [("loss", -0.5)])
    assert out.getvalue() == "1/1 - 2s - 2s/step - loss: -5.0000e-01\n"


def test_non_dynamic_one_plain_line_per_epoch(clock):
    out = io.StringIO()
    for epoch in range(3):
        bar = P.Progbar(100, file=out)
        run_epoch(bar, clock, 100, 0.5, 0.1, [("loss", 1.0 / (epoch + 1))])
    text = out.getvalue()
    assert "\r" not in text and "\b" not in text and "\x1b" not in text
    assert text.splitlines() == [
        "100/100 ━━━━━━━━━━━━━━━━━━━━ 10s 100ms/step - loss: 1.0000",
        "100/100 ━━━━━━━━━━━━━━━━━━━━ 10s 100ms/step - loss: 0.5000",
        "100/100 ━━━━━━━━━━━━━━━━━━━━ 10s 100ms/step - loss: 0.3333",
    ]


def test_dynamic_updates_in_place(clock):
    out = Tty()
    bar = P.Progbar(2, file=out)
    clock.t += 1
    bar.update(1, [("loss", 0.5)])
    clock.t += 2
    bar.update(2, [("loss", 0.25)])
    first = ("\r\x1b[1m1/2\x1b[0m \x1b[32m━━━━━━━━━━\x1b[0m\x1b[37m━━━━━━━━━━\x1b[0m"
             " \x1b[1m1s\x1b[0m 1s/step - loss: 0.5000")
    final = ("\b" * 50 + "\r\x1b[1m2/2\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m"
             " \x1b[1m3s\x1b[0m 2s/step - loss: 0.2500\n")
    assert out.getvalue() == first + final


def test_dynamic_eta_and_blanking_a_shorter_line(clock):
    out = Tty()
    bar = P.Progbar(1000, interval=0, file=out)
    clock.t += 10
    bar.update(1, [("loss", 0.5)])  # ETA 999 * 10s
    clock.t += 0.001
    bar.update(2, {"loss": 0.5})  # ETA 998 * 1ms
    first, second = out.getvalue().split("\r")[1:]
    assert first.endswith("\x1b[1m2:46:30\x1b[0m 10s/step - loss: 0.5000" + "\b" * 62)  # 62 visible cells
    assert second.endswith("\x1b[1m0s\x1b[0m 1ms/step - loss: 0.5000" + " " * 5)  # blanks the old tail


def test_unknown_target(clock):
    out = Tty()
    bar = P.Progbar(None, file=out)
    clock.t += 1
    bar.update(3, [("loss", 0.5)])
    assert out.getvalue() == "\r      3/Unknown \x1b[1m1s\x1b[0m 333ms/step - loss: 0.5000"


def test_throttling(clock):
    out = Tty()
    bar = P.Progbar(1000, file=out)
    for step in range(1, 501):
        clock.t += 0.0001  # 500 updates within 0.05 s
        bar.update(step, [("loss", 0.5)])
    assert out.writes == 1
    clock.t += 0.06
    bar.add(1)
    assert out.writes == 2
    bar.update(1000, finalize=True)  # the final update is never throttled
    assert out.writes == 3 and out.getvalue().endswith("\n")


def test_verbose_0_is_silent(clock):
    out = Tty()
    bar = P.Progbar(3, verbose=0, file=out)
    run_epoch(bar, clock, 3, 1, 1, [("loss", 0.5)])
    assert out.getvalue() == ""
