"""Per-layer int8 sensitivity measured on the float model, so what a quantized artifact keeps in float is chosen
by measurement, not by guess.  Every backend that quantizes uses the same measurement; only how it leaves a layer
in float differs (and Core ML passes its own decompressed weights, so palettes are measured as they are).

Each convolution is simulated in int8 alone (weights fake-quantized symmetrically per output channel, and its
activations as the backend quantizes them, see `ACTIVATIONS`, over the ranges of each call site seen on the
sample: every Euler step's own, as the artifacts quantize them) and the PSNR of
the model's output against float is recorded.  Quantization noise of different layers is nearly independent, so
its energy adds up: layers are kept float in order of error per MAC (or per parameter, for weight compression:
the most error removed for the least float compute or size) until the predicted sum over the remaining layers
meets the target; a simulation with all of those quantized at once confirms it (and keeps more layers where it
falls short).

Bias correction (Nagel et al., "Data-Free Quantization", 2019, empirical variant): rounding a conv's weights to int8
shifts the mean of each output channel by a fixed amount on the data the model sees, and the shift passes through
every later layer.  The recording pass measures it per conv on the calibration crops (the conv of its float input
with the weight's rounding error, averaged over positions, crops and call sites) and `Sensitivity.corrected` moves
it into the conv's bias, so the quantized artifact is made from a corrected copy of the float model and checked
against the original.  Measured in this simulation on full-size sr, all convs in int8, crops the correction never
saw: recipe weights +5.8 dB (weights only) / +2.0 dB (with int8 inputs), trained-like weights +8.3 to +9.6 / +6.6
to +7.8 dB.

Weight rounding (`export.rounding`, GPTQ): where a scheme asks for it, int8 weights are not rounded to nearest but
column by column for the conv's measured inputs, and every simulation, the bias correction and `corrected` use
those levels (cached on disk by content like the sweep).

Convolutions are intercepted as `F.conv2d` / `F.conv_transpose2d` calls and identified by their weight tensor, so
the convs the U-Net calls functionally (with per-step time biases) are covered, and a U-Net conv counts once for
all K Euler steps, just as its one set of weights is quantized once in every artifact.  The sample is a few
calibration inputs cropped to `CROP` pixels: the model is fully convolutional and the ranking does not need the
full size, and the sweep (one forward pass per layer) takes about 80 s for sr on 2 threads.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from elir_mobile import atomic

from . import rounding
from .rounding import int8_scale

CROP = 128
SAMPLES = 2
_CONVS = (F.conv2d, F.conv_transpose2d)
# How a backend quantizes a conv's activations.  "affine-io" is static int8 (XNNPACK, LiteRT int8): the conv's input
# and its output are int8 per tensor (on full-size sr it reads within 0.8 dB of both runtimes; "affine-inputs",
# the input only, read 3-4 dB above them).  "affine-inputs" is dynamic int8 (LiteRT dynamic-int8: only conv inputs
# are quantized, on the fly).  "symmetric-io" is Core ML's w8a8: coremltools inserts a symmetric
# quantize/dequantize pair before every conv and after it (`insert_prefix_/suffix_quantize_dequantize_pair`);
# simulating only an affine input had overestimated sr by 6 dB.
ACTIVATIONS = ("none", "affine-inputs", "affine-io", "symmetric-io")
# What a layer the sensitivity keeps becomes.  "float": float weights and activations (CPU artifacts, where a float
# op costs nothing but its MACs).  "w8a16": its (rounded) int8 weights stay, only its activations leave 8 bits (int16
# on LiteRT, Qualcomm's "w8a8 mixed int16"; fp16 on Core ML, the Neural Engine's native precision), for NPU
# artifacts with every weight in int8 and no float fallback; the choice is then made on the activations' error
# alone (16-bit activations are simulated as float).
KEEPS = ("float", "w8a16")


def fake_int8_weight(w: torch.Tensor, transposed: bool = False, levels: torch.Tensor | None = None) -> torch.Tensor:
    """`w` in symmetric int8 per output channel: rounded to nearest, or the given int8 `levels` on its grid."""
    scale = int8_scale(w, transposed)
    if levels is None:
        levels = torch.clamp(torch.round(w / scale), -127, 127)
    return levels.to(w.dtype) * scale


def fake_int8_activation(x: torch.Tensor, lo: float, hi: float, symmetric: bool = False) -> torch.Tensor:
    """Int8 per tensor over [lo, hi] widened to include 0 (what static PTQ does with observed ranges): affine, or
    symmetric about 0 (Core ML's activation quantization)."""
    if symmetric:
        scale = max(abs(lo), abs(hi), 1e-12) / 127.0
        return torch.clamp(torch.round(x / scale), -127, 127) * scale
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max(hi - lo, 1e-12) / 255.0
    zero = round(-lo / scale)
    return (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale


class _Simulation(TorchFunctionMode):
    """Inside this mode, convs whose weight belongs to `weights` run with int8 weights (or the backend's own
    compressed weight from `replacements`) and int8 activations as `activations` says (those of
    `activation_layers` instead, where given, whatever their weights); with `record`, every conv's MACs and the
    input and output ranges of each of its call sites are collected instead.

    A call site is the n-th use of a weight within one forward pass (`run`): the U-Net's convs are called once per
    Euler step, and every artifact quantizes each step's activations with ranges of their own."""

    def __init__(self, names: dict[int, str], weights=(), activations: str = "none", ranges=None,
                 record: dict | None = None, replacements: dict[str, torch.Tensor] | None = None,
                 corrections: dict[str, torch.Tensor] | None = None, levels: dict[str, torch.Tensor] | None = None,
                 activation_layers=None):
        super().__init__()
        self.names, self.weights, self.activations = names, set(weights), activations
        # The convs whose activations are quantized (None: those of `weights`).
        self.activation_layers = None if activation_layers is None else set(activation_layers)
        self.ranges, self.record, self.replacements = ranges, record, replacements or {}
        self.corrections, self.levels = corrections, levels or {}
        self.calls: Counter[str] = Counter()

    def run(self, model: nn.Module, sample: tuple[torch.Tensor, ...]) -> torch.Tensor:
        self.calls.clear()
        return model(*sample)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = self.names.get(id(args[1])) if func in _CONVS and len(args) > 1 else None
        if name is None:
            return func(*args, **kwargs)
        x, w = args[0], args[1]
        site = self.calls[name]
        self.calls[name] += 1
        if self.record is not None:
            out = func(*args, **kwargs)
            entry = self.record.setdefault(name, {"sites": [], "macs": 0, "params": w.numel(),
                                                  "error_sum": [0.0] * out.shape[1], "error_count": 0})
            if site == len(entry["sites"]):
                entry["sites"].append({"lo": math.inf, "hi": -math.inf, "out_lo": math.inf, "out_hi": -math.inf})
            r = entry["sites"][site]
            r["lo"], r["hi"] = min(r["lo"], float(x.min())), max(r["hi"], float(x.max()))
            r["out_lo"], r["out_hi"] = min(r["out_lo"], float(out.min())), max(r["out_hi"], float(out.max()))
            # conv2d: each output element sums one filter; conv_transpose2d: each input element scatters one.
            entry["macs"] += (out.numel() if func is F.conv2d else x.numel()) * w[0].numel()
            # The int8 weight's error on this input, summed per output channel: its mean is what bias correction
            # subtracts (padding included, as the artifact computes it).
            error = func(x, self._quantized_weight(name, func, w) - w, None, *args[3:], **kwargs)
            entry["error_sum"] = [a + b for a, b in zip(entry["error_sum"], error.sum(dim=(0, 2, 3)).tolist())]
            entry["error_count"] += error.numel() // error.shape[1]
            return out
        quantized_weight = name in self.weights
        quantized_io = self.activations != "none" and (quantized_weight if self.activation_layers is None
                                                       else name in self.activation_layers)
        if not (quantized_weight or quantized_io):
            return func(*args, **kwargs)
        symmetric = self.activations == "symmetric-io"
        r = self.ranges[name]["sites"][site] if quantized_io else None
        if r is not None:
            x = fake_int8_activation(x, r["lo"], r["hi"], symmetric)
        out = func(x, self._quantized_weight(name, func, w) if quantized_weight else w, *args[2:], **kwargs)
        if self.corrections is not None and quantized_weight:
            out = out - self.corrections[name].reshape(1, -1, 1, 1)
        quantized_output = r is not None and self.activations in ("affine-io", "symmetric-io")
        return fake_int8_activation(out, r["out_lo"], r["out_hi"], symmetric) if quantized_output else out

    def _quantized_weight(self, name: str, func, w: torch.Tensor) -> torch.Tensor:
        """The backend's own compressed weight where given, else the simulated int8 one (on the rounded `levels`
        where given, else rounded to nearest)."""
        q = self.replacements.get(name)
        if q is not None:
            return q
        return fake_int8_weight(w, transposed=func is F.conv_transpose2d, levels=self.levels.get(name))


@dataclass
class Sensitivity:
    """What was measured and chosen; `card()` is the model card's record of it."""

    activations: str
    target_db: float
    alone_db: dict[str, float]              # output PSNR with only this layer in int8
    macs: dict[str, int]
    params: dict[str, int]
    cost: str = "macs"                      # what a kept layer costs: "macs" or "params"
    kept: list[str] = field(default_factory=list)   # the layers kept out of int8, as `keep` says
    keep: str = "float"                     # what a kept layer becomes (`KEEPS`)
    all_int8_db: float = math.inf           # simulated, every layer in int8
    chosen_db: float = math.inf             # simulated, every layer but `kept` in int8
    weights_db: float = math.inf            # simulated, every weight in int8, no activation (what `kept` keeps)
    samples: int = SAMPLES
    # Per layer, the mean error its int8 weight adds to each output channel on the calibration crops; with
    # `bias_correction` the simulation (and the artifact, through `corrected`) subtracts it from the bias.
    corrections: dict[str, list[float]] = field(default_factory=dict)
    bias_correction: bool = False
    max_float_share: float = 1.0
    # Per layer, GPTQ's int8 levels (`export.rounding`) where the weights were rounded to minimise output error;
    # the simulation, the bias correction and `corrected` use them.
    levels: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def float_layers(self) -> list[str]:
        """The convs the artifact keeps in float (with their float weights)."""
        return self.kept if self.keep == "float" else []

    @property
    def w8a16_layers(self) -> list[str]:
        """The convs whose activations the artifact keeps in 16 bits (their weights in int8)."""
        return self.kept if self.keep == "w8a16" else []

    def shortfall(self, measured_db: float) -> str:
        """Why an artifact measured below its gate, in one sentence: the float budget ran out (naming the
        quantized layers that cost most), or the runtime quantizes more than this simulation models."""
        quantized = sorted((n for n in self.alone_db if n not in self.kept), key=self.alone_db.get)
        worst = ", ".join(f"{n} ({self.alone_db[n]:.1f} dB alone)" for n in quantized[:3])
        how = "float" if self.keep == "float" else "at 16-bit activations"
        kept = f"{len(self.kept)} conv(s) {how} ({100 * self.float_share:.1f} % of the {self.cost})"
        if self.chosen_db < self.target_db and self.weights_db < self.target_db:
            return (f"every conv's int8 weights alone reach only {self.weights_db:.2f} dB of the "
                    f"{self.target_db:.2f} dB target in simulation, and 16-bit activations keep those weights; "
                    f"the layers that cost most: {worst}")
        if self.chosen_db < self.target_db:
            return (f"the per-layer choice reached only {self.chosen_db:.2f} dB of its {self.target_db:.2f} dB "
                    f"target in simulation with {kept} (at most {100 * self.max_float_share:.0f} % may stay "
                    f"{how}); the quantized layers that cost most: {worst}")
        return (f"the simulation promised {self.chosen_db:.1f} dB with {kept}; the runtime's other quantized ops "
                f"(adds, concatenations, norms, requantized outputs) cost the other "
                f"{self.chosen_db - measured_db:.1f} dB; the quantized layers that cost most: {worst}")

    @property
    def float_mac_share(self) -> float:
        return self._share(self.float_layers, self.macs)

    @property
    def float_param_share(self) -> float:
        return self._share(self.float_layers, self.params)

    @property
    def float_share(self) -> float:
        """The kept layers' share of what a kept layer costs here (`cost`)."""
        return self._share(self.kept, self.macs if self.cost == "macs" else self.params)

    @staticmethod
    def _share(layers: Sequence[str], amounts: dict[str, int]) -> float:
        return sum(amounts[n] for n in layers) / max(sum(amounts.values()), 1)

    def corrected(self, model: nn.Module) -> nn.Module:
        """A copy of `model` whose int8 convs (all but `float_layers`) have their rounded weights (exactly on the
        int8 grid the backends quantize them to) and their bias corrected; a conv without a bias gets one.
        Exporters quantize the copy and compare it against the original."""
        model = rounded(model, {n: q for n, q in self.levels.items() if n not in self.float_layers})
        modules = dict(model.named_modules())
        for name, delta in self.corrections.items():
            if name in self.float_layers or not self.bias_correction:
                continue
            conv = modules[name]
            delta = torch.tensor(delta, dtype=conv.weight.dtype)
            if conv.bias is None:
                conv.bias = nn.Parameter(-delta)
            else:
                conv.bias.data -= delta
        return model

    def card(self, top: int = 12) -> dict:
        worst = sorted(self.alone_db.items(), key=lambda kv: kv[1])[:top]
        per = "MAC" if self.cost == "macs" else "parameter"
        activations = _ACTIVATION_WORDS[self.activations]
        if self.keep == "float":
            with_activations = f" and {activations}" if activations else ""
            method = (f"each conv alone with int8 weights (per output channel){with_activations}; layers kept "
                      f"float, most error per {per} first")
        else:
            method = (f"every conv with int8 weights (per output channel), and each conv alone with {activations}; "
                      f"layers kept at 16-bit activations (int8 weights), most activation error per {per} first")
        return {
            "method": (f"per-layer int8 simulation in float PyTorch on {self.samples} calibration crop(s) of "
                       f"{CROP} px: {method}, until the simulation with all others in int8 reaches the target"),
            "kept_as": self.keep,
            "target_db": round(self.target_db, 2),
            "simulated_all_int8_db": _round(self.all_int8_db),
            "simulated_db": _round(self.chosen_db),
            "simulated_int8_weights_db": _round(self.weights_db),
            "float_layers": self.float_layers,
            "float_mac_share": round(self.float_mac_share, 4),
            "float_param_share": round(self.float_param_share, 4),
            "w8a16_layers": self.w8a16_layers,
            "w8a16_mac_share": round(self._share(self.w8a16_layers, self.macs), 4),
            "most_sensitive": {n: _round(db) for n, db in worst},
            "weight_rounding": (f"GPTQ (export.rounding): each quantized conv's int8 weights rounded column by column, "
                                f"errors moved onto the columns not yet rounded, for the second moment of its "
                                f"inputs on the first {rounding.IMAGES} full-size calibration images"
                                if self.levels else "to nearest"),
            "bias_correction": (f"every quantized conv's bias less the mean error its quantized weight adds to "
                                f"each output channel on the calibration crops (averaged over its call sites)"
                                if self.bias_correction else None),
        }


_ACTIVATION_WORDS = {"none": "", "affine-inputs": "int8 input (affine, per tensor)",
                     "affine-io": "int8 input and output (affine, per tensor)",
                     "symmetric-io": "int8 input and output (symmetric, per tensor)"}


def _round(db: float) -> float | None:
    return round(db, 2) if math.isfinite(db) else None


def _mse_to_db(mse: float) -> float:
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def conv_names(model: nn.Module) -> dict[int, str]:
    """id(weight) -> module path, for every convolution and transposed convolution of `model`."""
    return {id(m.weight): name for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))}


def sample_inputs(model: nn.Module, images: Sequence[torch.Tensor], seed: int = 0, *, count: int = SAMPLES,
                  crop: int | None = CROP) -> list[tuple[torch.Tensor, ...]]:
    """(image, latent noise) pairs for `model` (an `ELIR`): the top-left `crop` px (None: all) of the first
    `count` images."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for x in list(images)[:count]:
        x = x if crop is None else x[..., :crop, :crop].contiguous()
        out.append((x, model.draw_noise(x, generator)))
    return out


@torch.no_grad()
def measure(model: nn.Module, samples: Sequence[tuple[torch.Tensor, ...]], *, activations: str, target_db: float,
            max_float_share: float = 0.5, cost: str = "macs", replacements: dict[str, torch.Tensor] | None = None,
            bias_correction: bool = True, levels: dict[str, torch.Tensor] | None = None,
            keep: str = "float", progress: bool = False) -> Sensitivity:
    """Sweep every conv of `model` (called as ``model(*sample)``), then choose the float layers for `target_db`.

    `cost` is what a float layer costs the artifact: ``"macs"`` (speed, for int8 compute) or ``"params"`` (size,
    for weight compression).  Layers are never kept float beyond `max_float_share` of it: past that the artifact
    would not be quantized any more, and the caller's parity gate reports the shortfall.  `replacements` (module
    path -> the backend's own decompressed weight, for every conv it compresses) replaces the simulated int8
    weights; the other convs keep float weights, and with ``keep="float"`` they are no candidates.  With
    `bias_correction`, every simulation subtracts each quantized conv's mean weight error from its output, as the
    artifact made from `Sensitivity.corrected` does.
    With `levels` (`rounded_levels`), the simulated int8 weights are those levels instead of rounded to nearest
    (a backend's `replacements` are its quantization of them), and `corrected` puts them in the model.

    With ``keep="w8a16"`` every conv's weights are int8 (as the backend has them) in every simulation, every conv
    is a candidate, a layer's measure is what its int8 activations add to that, and the layers chosen keep 16-bit
    activations instead of going float."""
    if activations not in ACTIVATIONS:
        raise ValueError(f"activations must be one of {ACTIVATIONS}, not {activations!r}")
    if keep not in KEEPS:
        raise ValueError(f"keep must be one of {KEEPS}, not {keep!r}")
    names = conv_names(model)
    levels = levels or {}
    references = [model(*s).clamp(0, 1) for s in samples]
    backend = replacements or {}
    key = _fingerprint(model, [*samples, tuple(levels.values()), tuple(backend.values())],
                       f"{activations}:{bias_correction}:{keep}:{','.join(backend)}")
    cached = _load_sweep(key)
    record = cached[0] if cached else {}
    if not cached:
        with _Simulation(names, record=record, replacements=replacements, levels=levels) as recording:
            for s in samples:
                recording.run(model, s)
    # The convs whose weights the backend quantizes (with `replacements`, those it compresses: the others keep
    # float weights), and the candidates: those, or with w8a16 every conv, whose activations the backend
    # quantizes whatever its weights (Core ML w8a8 leaves its smallest weights fp16, not their activations).
    weight_layers = [n for n in record if replacements is None or n in replacements]
    layers = list(record) if keep == "w8a16" else weight_layers
    corrections = {n: [e / max(record[n]["error_count"], 1) for e in record[n]["error_sum"]] for n in weight_layers}
    applied = {n: torch.tensor(c) for n, c in corrections.items()} if bias_correction else None

    def mse(quantized: Sequence[str]) -> float:
        """The output's error with the `quantized` layers in int8 (their activations only, as `keep` says)."""
        weights, activation_layers = (quantized, None) if keep == "float" else (weight_layers, quantized)
        with _Simulation(names, weights=weights, activations=activations, ranges=record, replacements=replacements,
                         corrections=applied, levels=levels, activation_layers=activation_layers) as simulation:
            return sum(float(torch.mean((simulation.run(model, s).clamp(0, 1) - r) ** 2))
                       for s, r in zip(samples, references)) / len(samples)

    from tqdm import tqdm

    weight = {n: record[n][cost] for n in layers}
    total = max(sum(weight.values()), 1)
    alone = cached[1] if cached else {n: mse([n]) for n in tqdm(layers, desc="int8 sensitivity", leave=False,
                                                                 disable=None if progress else True)}
    if not cached:
        _save_sweep(key, record, alone)
    # What no choice removes (every weight in int8, where kept layers keep theirs), and each layer's own share.
    floor = 0.0 if keep == "float" else mse([])
    gain = {n: max(alone[n] - floor, 0.0) for n in layers}
    result = Sensitivity(activations=activations, target_db=target_db, keep=keep,
                         alone_db={n: _mse_to_db(e) for n, e in alone.items()},
                         macs={n: record[n]["macs"] for n in layers}, params={n: record[n]["params"] for n in layers},
                         cost=cost, samples=len(samples), corrections=corrections,
                         bias_correction=bias_correction, max_float_share=max_float_share,
                         levels=levels)
    result.all_int8_db, result.weights_db = _mse_to_db(mse(layers)), _mse_to_db(floor)
    result.chosen_db = result.all_int8_db
    order = sorted(layers, key=lambda n: -gain[n] / max(weight[n], 1))
    budget = 10.0 ** (-target_db / 10.0)
    for _ in range(4):  # the additive prediction is close; re-aim by the measured shortfall if it is not
        if result.chosen_db >= target_db:
            break
        remaining, kept = floor + sum(gain.values()), []
        for n in order:
            if remaining <= budget:
                break
            if sum(weight[k] for k in (*kept, n)) / total > max_float_share:
                continue
            kept.append(n)
            remaining -= gain[n]
        result.kept = kept
        result.chosen_db = _mse_to_db(mse([n for n in layers if n not in kept]))
        budget *= 10.0 ** ((result.chosen_db - target_db) / 10.0)
    return result


# Sweeps by content: `export.all` and the test suite quantize the same model for several backends and precisions
# in one process, and a user exports the same weights again (another target, another gate); the sweep (one forward
# pass per conv) is most of the measurement's time.  The last one is kept in memory, every one on disk.
_SWEEPS: dict[str, tuple[dict, dict]] = {}
_FORMAT = "sweep-3"  # per-call-site ranges, weight error sums; bump when the record's layout changes


def sweep_cache_dir() -> Path:
    from elir_mobile.download import cache_dir

    return cache_dir() / "sensitivity"


def _load_sweep(key: str) -> tuple[dict, dict] | None:
    if key not in _SWEEPS:
        try:
            data = json.loads((sweep_cache_dir() / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        _SWEEPS.clear()
        _SWEEPS[key] = (data["record"], data["alone"])
    return _SWEEPS[key]


def _save_sweep(key: str, record: dict, alone: dict) -> None:
    """Keep the sweep in memory and on disk (written whole, then renamed); an unwritable cache only costs time."""
    _SWEEPS.clear()
    _SWEEPS[key] = (record, alone)
    _write_cache(sweep_cache_dir() / f"{key}.json",
                 json.dumps({"format": _FORMAT, "record": record, "alone": alone}).encode())


def _write_cache(path: Path, data: bytes) -> None:
    """`data` into the cache file `path`, written whole (`elir_mobile.atomic`); an unwritable cache only costs
    time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, data)
    except OSError:
        pass


def rounded(model: nn.Module, levels: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of `model` whose convs named in `levels` have those int8 levels as weights (on their grid)."""
    import copy

    model = copy.deepcopy(model)
    modules = dict(model.named_modules())
    for name, q in levels.items():
        conv = modules[name]
        conv.weight.data = fake_int8_weight(conv.weight.data, isinstance(conv, nn.ConvTranspose2d), q)
    return model


def rounded_levels(model: nn.Module, samples: Sequence[tuple[torch.Tensor, ...]],
                   progress: bool = False) -> dict[str, torch.Tensor]:
    """`export.rounding.int8_levels`, kept on disk by content (int8, a quarter of the float weights' size)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save

    key = _fingerprint(model, samples, f"{rounding.METHOD}:{rounding.DAMPING}:{rounding.BLOCK}")
    path = sweep_cache_dir() / f"{key}.levels.safetensors"
    try:
        return load_file(path)
    except (OSError, SafetensorError):
        pass
    levels = rounding.int8_levels(model, samples, progress)
    _write_cache(path, save(levels))
    return levels


def _fingerprint(model: nn.Module, samples: Sequence[tuple[torch.Tensor, ...]], scheme: str) -> str:
    """The sweep's inputs by content: the model's weights and buffers, the samples and the scheme."""
    digest = hashlib.sha256(f"{_FORMAT}:{scheme}".encode())
    for name, tensor in [*model.state_dict().items(), *((str(i), t) for i, s in enumerate(samples) for t in s)]:
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def job_levels(job) -> dict[str, torch.Tensor]:
    """`rounded_levels` of an export job's float model on its first `IMAGES` full-size calibration images."""
    images = [batch[0] for batch in job.calibration("nchw")]
    job.log(f"rounding int8 weights by GPTQ on {rounding.IMAGES} full-size calibration images")
    return rounded_levels(job.model, sample_inputs(job.model, images, count=rounding.IMAGES, crop=None),
                          job.progress)


def measure_job(job, *, target_db: float, max_float_share: float, activations: str = "affine-inputs",
                cost: str = "macs", replacements: dict[str, torch.Tensor] | None = None,
                bias_correction: bool = True, levels: dict[str, torch.Tensor] | None = None,
                keep: str = "float") -> Sensitivity:
    """`measure` for an export job (`export.pipeline.ExportJob`): its float ELIR model on crops of its calibration
    images, with the progress lines every exporter prints."""
    job.log(f"measuring per-layer int8 sensitivity ({SAMPLES} crops of {min(CROP, job.image_size)} px)")
    samples = sample_inputs(job.model, [batch[0] for batch in job.calibration("nchw")])
    result = measure(job.model, samples, activations=activations, target_db=target_db,
                     max_float_share=max_float_share, cost=cost, replacements=replacements,
                     bias_correction=bias_correction, levels=levels, keep=keep, progress=job.progress)
    how = "stay float" if keep == "float" else "keep 16-bit activations"
    job.log(f"{len(result.kept)} conv(s) {how} ({100 * result.float_share:.1f} % of the {cost}); "
            f"simulated {result.all_int8_db:.1f} dB all-int8, {result.chosen_db:.1f} dB as chosen")
    return result

