"""Records what the reference safetensors reader (Rust, through the Python package safetensors 0.8) does with
hostile or unusual headers: test/fixtures/safetensors/header_cases.json, read by src/io/header-cases.test.ts,
which checks that peftjs's reader agrees (or differs only where its doc comment says so).

Run: /work/pyref/bin/python packages/core/scripts/make_header_cases.py   (CPU venv: safetensors 0.8, torch)

Each case is a header text; the data section is `data_len` zero bytes (default 4). The file is given to
`safetensors.torch.load` (bytes -> Rust `SafeTensors::deserialize`); "accept" records the tensors it returned
(name, dtype, shape), "refuse" the first line of its error.
"""
import json
import struct
import sys
from pathlib import Path

import safetensors
from safetensors.torch import load

E = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
Z = '{"dtype":"F32","shape":[0],"data_offsets":[4,4]'  # an empty tensor after "a" (left open for extra fields)


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


CASES = {
    "valid": '{"a":' + E + "}",
    "duplicate dtype field": '{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}',
    "duplicate shape field": '{"a":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}',
    "duplicate data_offsets field": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"data_offsets":[0,4]}}',
    "duplicate dtype field written with an escape": '{"a":{"dtype":"F32","\\u0064type":"I32","shape":[1],"data_offsets":[0,4]}}',
    "duplicate __metadata__": '{"__metadata__":{"a":"b"},"__metadata__":{"c":"d"},"a":' + E + "}",
    "duplicate __metadata__ written with an escape": '{"__metadata__":{},"\\u005f_metadata__":{"x":"y"},"a":' + E + "}",
    "duplicate key inside __metadata__ (last wins)": '{"__metadata__":{"k":"1","k":"2"},"a":' + E + "}",
    "duplicate tensor name, same entry": '{"a":' + E + ',"a":' + E + "}",
    "duplicate tensor name, last entry wins": '{"a":' + E + ',"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}',
    "duplicate unknown field in an entry": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1,"x":2}}',
    "unknown field in an entry": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":{"k":[1,2.5,null]}}}',
    "float in shape (1.0)": '{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}',
    "float in shape (1e0)": '{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}',
    "float in shape (10E-1)": '{"a":{"dtype":"F32","shape":[10E-1],"data_offsets":[0,4]}}',
    "float in data_offsets (0.0, 4.0)": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4.0]}}',
    "float in data_offsets (4e0)": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4e0]}}',
    "negative zero in data_offsets": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[-0,4]}}',
    "negative dimension": '{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}',
    "leading zero": '{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}',
    "plus sign": '{"a":{"dtype":"F32","shape":[+1],"data_offsets":[0,4]}}',
    "integer above u64": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551620]}}',
    "dimension above 2^53 with a zero dimension": '{"a":{"dtype":"F32","shape":[9007199254740993,0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
    "shape product overflows": '{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}',
    "lone leading surrogate in a tensor name": '{"\\ud800":' + E + "}",
    "lone leading surrogate then a non-surrogate escape": '{"\\ud800\\u0041":' + E + "}",
    "lone trailing surrogate in a tensor name": '{"\\udc00":' + E + "}",
    "lone surrogate in a metadata value": '{"__metadata__":{"a":"\\udc00"},"a":' + E + "}",
    "surrogate pair in a tensor name": '{"\\ud83d\\ude00":' + E + "}",
    "NUL escape in a tensor name": '{"\\u0000":' + E + "}",
    "raw control character in a name": '{"a\x01":' + E + "}",
    "empty tensor name": '{"":' + E + "}",
    "__proto__ as a tensor name": '{"__proto__":' + E + "}",
    "nesting depth 127 (in an unknown field)": '{"a":' + E + ',"b":' + Z + ',"x":' + nested(125) + "}}",
    "nesting depth 128 (in an unknown field)": '{"a":' + E + ',"b":' + Z + ',"x":' + nested(126) + "}}",
    "nesting depth 128 in the dtype": '{"a":{"dtype":' + nested(126) + ',"shape":[1],"data_offsets":[0,4]}}',
    "nesting depth 200 at the top": nested(200),
    "__metadata__ null": '{"__metadata__":null,"a":' + E + "}",
    "__metadata__ a string": '{"__metadata__":"x","a":' + E + "}",
    "__metadata__ value a number": '{"__metadata__":{"a":1},"a":' + E + "}",
    "__metadata__ only, data left over": '{"__metadata__":{"k":"v"}}',
    "byte-order mark": "\ufeff" + '{"a":' + E + "}",
    "leading whitespace": '  \n{"a":' + E + "}",
    "trailing whitespace": '{"a":' + E + "}  \t\r\n",
    "trailing NUL": '{"a":' + E + "}\x00",
    "trailing comma": '{"a":' + E + ",}",
    "three data_offsets": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}',
    "data_offsets as an object": '{"a":{"dtype":"F32","shape":[1],"data_offsets":{"0":0}}}',
    "shape null": '{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}',
    "lower-case dtype": '{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}',
    "gap before a tensor": '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    "header is an array": "[]",
    "empty header": "",
}
DATA_LEN = {"gap before a tensor": 8}


def main() -> None:
    out = []
    for name, header in CASES.items():
        h = header.encode("utf-8", "surrogatepass")
        blob = struct.pack("<Q", len(h)) + h + b"\0" * DATA_LEN.get(name, 4)
        try:
            tensors = load(blob)
            result = {"verdict": "accept", "tensors": {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in sorted(tensors.items())}}
        except Exception as error:  # noqa: BLE001 - the verdict is what we record
            result = {"verdict": "refuse", "error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
        out.append({"name": name, "header": header, "data_len": DATA_LEN.get(name, 4), **result})
    target = Path(__file__).resolve().parent.parent / "test/fixtures/safetensors/header_cases.json"
    doc = {"made_with": f"safetensors {safetensors.__version__} (Python {sys.version.split()[0]})", "cases": out}
    target.write_text(json.dumps(doc, indent=1, ensure_ascii=True) + "\n")
    print(f"wrote {len(out)} cases to {target}")


if __name__ == "__main__":
    main()
