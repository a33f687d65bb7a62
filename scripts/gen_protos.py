"""Regenerate the Python API modules in src/cellwright/v1 from proto/cellwright/v1/*.proto.

The one way generated code is produced (pinned grpcio-tools and mypy-protobuf from the
`dev` extra). `--check` regenerates into a temporary folder and fails if anything differs.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("cellwright") / "v1"
TARGET = ROOT / "src" / PACKAGE
INIT = '"""Generated gRPC/protobuf modules of the Cellwright API v1. Do not edit."""\n'


def generate(out: Path) -> None:
    """Write *_pb2.py, *_pb2_grpc.py and their .pyi stubs below `out`."""
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE).glob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    # The mypy plugins are console scripts installed beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (out / PACKAGE / "__init__.py").write_text(INIT)


def differences(a: Path, b: Path) -> list[str]:
    """Names of files that differ between two generated trees."""
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    return [n for n in names if not (a / n).exists() or not (b / n).exists()
            or not filecmp.cmp(a / n, b / n, shallow=False)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if regenerating changes anything")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / PACKAGE).mkdir(parents=True)
        generate(out)
        target = TARGET
        if check:
            changed = differences(out / PACKAGE, target) if target.exists() else ["src/cellwright/v1"]
            if changed:
                print("generated code is stale; run scripts/gen_protos.py:", *changed, file=sys.stderr)
                return 1
            print("generated code is up to date")
            return 0
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(out / PACKAGE, target)
        print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
