"""Build the Lambda artifact (a directory, zipped by SAM) on any host, without Docker.

    python infra/build_artifact.py [--out infra/build/lambda] [--model-dir model] [--arch x86_64|arm64]

pip installs manylinux wheels for CPython 3.12 (the Lambda python3.12 runtime, Amazon Linux 2023,
glibc 2.34) into --out, naming one `--platform manylinux_2_N_<arch>` per N from 17 to 34 because
pip matches platform tags exactly. Then: the handler code, the int8 model, trims of what the
runtime never loads, byte-compilation for 3.12, and a size report. Exit 1 above Lambda's 250 MB.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from toolchain import ROOT, find_python312  # also puts the repository root on sys.path

from handler.cli import cli, say
from handler.config import env
from handler.errors import UsageError
from handler.files import sha256_file
REQUIREMENTS = ROOT / "infra" / "requirements-lambda.txt"
LAMBDA_LIMIT_MB = 250  # unzipped, code + layers
TARGET_MB = 120
MAX_GLIBC = (2, 34)  # Amazon Linux 2023
PYTHON_VERSION = "3.12"
# Installed without dependencies: tokenizers would pull huggingface_hub (and its deps), which the
# runtime never imports (we load tokenizer.json from disk).
NO_DEPS = ["tokenizers==0.22.2"]
# What the runtime never loads. Each entry is proven unneeded by tests/test_artifact.py, which
# runs the artifact through AWS's runtime client.
TRIMS = [
    "onnxruntime/capi/libonnxruntime.so*",  # a second copy of the runtime; the Python module links its own
    "onnxruntime/quantization",
    "onnxruntime/transformers",
    "onnxruntime/tools",
    "onnxruntime/backend",
    "onnxruntime/datasets",
    "numpy/*/tests",
    "numpy/tests",
    "numpy/_pyinstaller",
    "numpy/f2py",
    "numpy/typing/tests",
    "*/tests",
    "*/__pycache__",
    "bin",
    "grpc_tools",
]


def pip_install(target: Path, arch: str, args: list[str]) -> None:
    platforms = [f"--platform=manylinux_2_{n}_{arch}" for n in range(17, MAX_GLIBC[1] + 1)]
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--python-version", PYTHON_VERSION, "--implementation", "cp",
        "--only-binary=:all:", *platforms, "--upgrade", *args,
    ]
    subprocess.run(command, check=True)


def copy_code(out: Path) -> None:
    package = out / "handler"
    package.mkdir(parents=True)
    for source in sorted((ROOT / "handler").glob("*.py")):
        if source.name != "__main__.py":  # the local uvicorn server is not part of the Lambda
            shutil.copy2(source, package / source.name)


def copy_model(model_dir: Path, out: Path) -> str:
    """Only the served variant (the manifest's CPU default), its tokenizer and a manifest listing
    just that variant. Its sha256 is checked here, once, so the function's start need not."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    served = manifest["defaults"]["cpu"]
    entry = manifest["variants"][served]
    if sha256_file(model_dir / entry["file"]) != entry["sha256"]:
        raise UsageError(f"{model_dir / entry['file']} does not match its manifest sha256: export again")
    target = out / "model"
    target.mkdir()
    shutil.copy2(model_dir / entry["file"], target / entry["file"])
    shutil.copy2(model_dir / manifest["tokenizer"], target / manifest["tokenizer"])
    manifest["variants"] = {served: entry}
    manifest["artifact"] = f"Lambda artifact: only the {served} variant is shipped"
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return served


def trim(out: Path) -> int:
    removed = 0
    for pattern in TRIMS:
        for path in out.glob(pattern):
            if not path.exists():
                continue
            removed += tree_size(path)
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return removed


def byte_compile(out: Path) -> None:
    """.pyc for 3.12 in place (/var/task is read-only, so Lambda could never write them itself).
    unchecked-hash: no source timestamp checks at import, and valid whatever mtimes the zip keeps."""
    python312 = find_python312()
    if python312 is None:
        raise UsageError("Python 3.12 is needed to byte-compile for the python3.12 runtime (set PYTHON312=/path/to/python3.12)")
    subprocess.run([python312, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(out)], check=True, stdout=subprocess.DEVNULL)


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def glibc_needs(out: Path) -> dict[str, tuple[int, ...]]:
    """Highest GLIBC_x.y symbol version each shared library needs (objdump -T)."""
    needs = {}
    for library in out.rglob("*.so*"):
        if not library.is_file():
            continue
        dump = subprocess.run(["objdump", "-T", str(library)], capture_output=True, text=True).stdout
        versions = [tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", dump)]
        if versions:
            needs[str(library.relative_to(out))] = max(versions)
    return needs


def size_report(out: Path) -> tuple[float, list[tuple[str, float]]]:
    tops = sorted(((p.name, tree_size(p) / 1e6) for p in out.iterdir()), key=lambda item: -item[1])
    return tree_size(out) / 1e6, tops


def build(out: Path, model_dir: Path, arch: str) -> dict:
    if not (model_dir / "manifest.json").is_file():
        raise UsageError(f"no export in '{model_dir}': run `python -m export --out {model_dir}` first")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    say(f"pip: CPython {PYTHON_VERSION} manylinux_2_17..2_{MAX_GLIBC[1]} {arch} wheels -> {out}")
    pip_install(out, arch, ["-r", str(REQUIREMENTS)])
    pip_install(out, arch, ["--no-deps", *NO_DEPS])
    copy_code(out)
    copy_model(model_dir, out)
    untrimmed = tree_size(out) / 1e6
    removed = trim(out) / 1e6
    byte_compile(out)
    total, tops = size_report(out)
    needs = glibc_needs(out)
    worst = max(needs.values(), default=(0,))
    report = {
        "unzipped_mb": round(total, 1),
        "untrimmed_mb": round(untrimmed, 1),
        "trimmed_mb": round(removed, 1),
        "largest": [(name, round(mb, 1)) for name, mb in tops[:12]],
        "max_glibc": ".".join(map(str, worst)),
        "glibc_over_limit": sorted(k for k, v in needs.items() if v > MAX_GLIBC),
    }
    (out.parent / f"{out.name}-report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "infra" / "build" / "lambda", help="output directory (sam build passes its ARTIFACTS_DIR)")
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")), help="export directory (default: $MODEL_DIR)")
    parser.add_argument("--arch", choices=["x86_64", "arm64"], default=env("LAMBDA_ARCH"))
    args = parser.parse_args(argv)
    arch = "aarch64" if args.arch == "arm64" else "x86_64"

    report = build(args.out.absolute(), args.model_dir, arch)
    print(f"artifact {args.out}: {report['unzipped_mb']} MB unzipped (untrimmed {report['untrimmed_mb']} MB, trimmed {report['trimmed_mb']} MB); "
          f"Lambda limit {LAMBDA_LIMIT_MB} MB, target {TARGET_MB} MB; highest glibc need {report['max_glibc']}")
    for name, mb in report["largest"]:
        print(f"  {mb:8.1f} MB  {name}")
    if report["glibc_over_limit"]:
        say(f"error: these need a glibc newer than {'.'.join(map(str, MAX_GLIBC))}: {report['glibc_over_limit']}")
        return 1
    if report["unzipped_mb"] > LAMBDA_LIMIT_MB:
        say(f"error: {report['unzipped_mb']} MB is over Lambda's {LAMBDA_LIMIT_MB} MB unzipped limit")
        return 1
    if report["unzipped_mb"] > TARGET_MB:
        say(f"warning: over the {TARGET_MB} MB target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
