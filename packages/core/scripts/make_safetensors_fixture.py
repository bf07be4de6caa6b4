"""Write safetensors fixtures with the reference Python library, for @peftjs/core's reader/writer tests.

Usage: python3 make_safetensors_fixture.py OUTDIR

Writes:
  OUTDIR/python_written.safetensors   one tensor of each dtype (F32, F16, BF16, I32, I64, U8, BOOL, a 0-d
                                      scalar, an empty tensor) and __metadata__ {"format": "pt", "made_by": "fixture"},
                                      written by safetensors.torch.save_file
  OUTDIR/python_written.json          per tensor: dtype, shape, "values" (flattened row-major, the float32 value
                                      of each stored element as a float64 number) and, for F16/BF16, "source" (the
                                      float32 values that torch rounded to that dtype); non-finite numbers are the
                                      strings "nan", "inf", "-inf" (JSON has no literal for them)
  OUTDIR/python_i64_out_of_range.safetensors   one I64 tensor "big" holding 2**31 (outside int32), to check that
                                      the TypeScript reader refuses it with a clear error

Deterministic: fixed values, no randomness. CPU only, tiny (< 2 KB in all).
"""

import json
import math
import os
import sys

import torch
from safetensors.torch import save_file

METADATA = {"format": "pt", "made_by": "fixture"}

# Values chosen to exercise rounding: 1/3 (inexact everywhere), 65504 (f16 max), 65519 (rounds down to 65504),
# 65520 (f16 overflow -> inf), 1e-8 (below f16's smallest subnormal -> 0, a normal number in bf16),
# 6e-8 / 3e-5 (f16 subnormals), 2049 / 2051 (f16 ties -> even), 1 + 2**-8 (bf16 tie -> even), -0, +-inf, nan.
FLOAT_SOURCE = [
    1.0 / 3.0, -1.0 / 3.0, 65504.0, 65519.0, 65520.0, 1e-8, 6e-8, 3e-5, 2049.0, 2051.0,
    1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 3.0e38, -0.0, float("inf"), float("-inf"), float("nan"), 0.1,
]


def encode(x: float):
    """A JSON-safe float64: non-finite numbers become strings; -0.0 stays -0.0."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def as_f64_list(t: torch.Tensor):
    # The float32 value of each element (exact for every dtype written here), as float64.
    return [encode(float(v)) for v in t.reshape(-1).to(torch.float64).tolist()]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python3 make_safetensors_fixture.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    source = torch.tensor(FLOAT_SOURCE, dtype=torch.float32)
    tensors = {
        "f32": torch.tensor([[1.0 / 3.0, -0.0, float("inf")], [float("nan"), 1e-8, 65504.0]], dtype=torch.float32),
        "f16": source.to(torch.float16).reshape(3, 6),
        "bf16": source.to(torch.bfloat16).reshape(2, 9),
        "i32": torch.tensor([[-(2**31), 2**31 - 1], [0, -7]], dtype=torch.int32),
        "i64": torch.tensor([-(2**31), 2**31 - 1, 0, 42], dtype=torch.int64),
        "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
        "bool": torch.tensor([[True, False], [False, True]], dtype=torch.bool),
        "scalar_f32": torch.tensor(3.5, dtype=torch.float32),
        "empty_f32": torch.zeros((0, 3), dtype=torch.float32),
    }
    optional = {"scalar_f32", "empty_f32"}
    try:
        save_file(tensors, os.path.join(out, "python_written.safetensors"), metadata=METADATA)
    except Exception as e:  # an older safetensors may refuse 0-d or empty tensors: keep the rest
        print(f"save_file refused 0-d/empty tensors ({e}); writing without them", file=sys.stderr)
        for k in optional:
            tensors.pop(k)
        save_file(tensors, os.path.join(out, "python_written.safetensors"), metadata=METADATA)

    dtype_names = {
        torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
        torch.int64: "I64", torch.uint8: "U8", torch.bool: "BOOL",
    }
    expected = {"metadata": METADATA, "tensors": {}}
    for name, t in tensors.items():
        entry = {"dtype": dtype_names[t.dtype], "shape": list(t.shape), "values": as_f64_list(t)}
        if t.dtype in (torch.float16, torch.bfloat16):
            entry["source"] = as_f64_list(source)
        expected["tensors"][name] = entry
    with open(os.path.join(out, "python_written.json"), "w") as f:
        json.dump(expected, f, indent=1, allow_nan=False)

    save_file({"big": torch.tensor([1, 2**31], dtype=torch.int64)}, os.path.join(out, "python_i64_out_of_range.safetensors"))

    # Read back with the reference reader so a broken fixture fails here, not in the TypeScript tests.
    from safetensors import safe_open

    with safe_open(os.path.join(out, "python_written.safetensors"), framework="pt") as f:
        assert f.metadata() == METADATA
        for name, t in tensors.items():
            assert torch.equal(f.get_tensor(name).nan_to_num(), t.nan_to_num()), name
    print(f"wrote {sorted(os.listdir(out))} to {out}")


if __name__ == "__main__":
    main()
