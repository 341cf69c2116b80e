"""Build the Lambda artifact (a directory, zipped by SAM) on any host, without Docker.

    python infra/build_artifact.py --mode server|embedded [--shard DIR] [--out infra/build/lambda]
                                   [--model-dir model] [--arch x86_64|arm64] [--variants LIST] [--schema FILE]
                                   [--python-version 3.12]

One artifact per storage mode, each carrying only its backend: `server` (qdrant-client, for
QDRANT_URL) or `embedded` (Qdrant Edge, with the collection's shard baked in by --shard, or
fetched from S3 at start). pip installs manylinux wheels for CPython 3.12 (the Lambda python3.12
runtime, Amazon Linux 2023, glibc 2.34) into --out, naming one `--platform manylinux_2_N_<arch>`
per N from 17 to 34 because pip matches platform tags exactly. Then: the handler code, the served
model variant, trims of what the runtime never loads, stripped shared libraries, byte-compilation
for 3.12, and a size table. Exit 1 above Lambda's 250 MB or a glibc newer than 2.34.

--python-version is for the emulated arm64 check only (tests/jobs/test_arm64_artifact.py): no
aarch64 Python 3.12 runs on these machines, so that check builds the same artifact for Debian's
arm64 3.11 under qemu-aarch64. Such a build is not byte-compiled (the runtime's 3.12 compiles
it here) and is never deployed; the default stays the template's runtime, python3.12.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

from toolchain import ARTIFACT_DIR, ROOT, find_python312  # also puts the repository root on sys.path

from handler.common import (
    ARTIFACT_SCHEMA_FILE,
    BUILT_IN,
    MODEL_FOLDER,
    SHARD_ARCHIVE,
    STORAGE_MODES,
    Schema,
    UsageError,
    cli,
    env,
    load_schema,
    say,
    sha256_file,
    write_info,
)
from handler.model import model_files

INFRA = ROOT / "infra"
# What each mode installs (pins in the files): the common runtime plus one storage backend.
MODES = {mode: [INFRA / "requirements-lambda.txt", INFRA / f"requirements-{mode}.txt"] for mode in STORAGE_MODES}
LAMBDA_LIMIT_MB = 250  # unzipped, code + layers: a hard limit
GOAL_MB = 170  # ours: at least 80 MB under the wall, so a dependency bump cannot break a deploy
MAX_GLIBC = (2, 34)  # Amazon Linux 2023
PYTHON_VERSION = "3.12"  # the template's Runtime: python3.12
# Installed without dependencies: tokenizers would pull huggingface_hub (and its deps), which the
# runtime never imports (we load tokenizer.json from disk); swagger-ui-bundle-v2 (Swagger UI 5,
# which renders OpenAPI 3.1) would pull Jinja2, which only its own templates use (we serve two of its files).
NO_DEPS = ["tokenizers==0.22.2", "swagger-ui-bundle-v2==5.31.0"]
# What the runtime never loads. Each entry is proven unneeded by `tests.jobs.test_artifact`, which
# runs both modes' artifacts through AWS's runtime client.
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
    "numpy/polynomial",  # numpy loads these subpackages lazily, on first attribute access,
    "numpy/fft",  # and nothing in the runtime touches them
    "numpy/random",
    "numpy/ma",
    "numpy/*.pyi",
    "numpy/**/*.pyi",
    "*/tests",
    "*/__pycache__",
    "bin",
    "grpc_tools",
    "swagger_ui_bundle/vendor/*/*.map",  # /docs serves swagger-ui-bundle.js and swagger-ui.css only
    "swagger_ui_bundle/vendor/*/swagger-ui-es-bundle*",
    "swagger_ui_bundle/vendor/*/swagger-ui-standalone-preset.js",
    "swagger_ui_bundle/vendor/*/swagger-ui.js",
    "flatbuffers*",  # comes with onnxruntime for its model tools (trimmed above)
    "packaging*",  # onnxruntime's dependency for those tools too; nothing the runtime loads imports it
]
# Per mode: protobuf also comes with onnxruntime for its tools, but qdrant-client's gRPC layer
# (imported unconditionally) needs it in server mode.
MODE_TRIMS = {"embedded": ["google", "protobuf-*.dist-info"], "server": []}


def pip_install(target: Path, arch: str, args: list[str], python_version: str = PYTHON_VERSION) -> None:
    platforms = [f"--platform=manylinux_2_{n}_{arch}" for n in range(17, MAX_GLIBC[1] + 1)]
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--python-version", python_version, "--implementation", "cp",
        "--only-binary=:all:", *platforms, "--upgrade", *args,
    ]
    result = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    # This machine's pip configuration may list wheel folders that do not exist; pip warns about
    # each on every call. Everything else pip says is shown.
    noise = "is ignored: it is neither a file nor a directory"
    sys.stderr.write("".join(line for line in result.stderr.splitlines(keepends=True) if noise not in line))
    if result.returncode != 0:
        raise UsageError(f"pip could not install the Lambda dependencies ({' '.join(args)}); see pip's message above")


WINGS = ("common", "model", "storage", "search", "web")  # handler's wings: the whole runtime
LOCAL_ONLY = ("__main__.py", "web/local_server.py")  # `python -m handler` and its uvicorn protocol: not part of the Lambda


def copy_code(out: Path) -> None:
    """The handler package: its entry points and every wing (the web wing's page files included),
    without what only `python -m handler` runs."""
    package = out / "handler"
    package.mkdir(parents=True)
    for source in sorted((ROOT / "handler").glob("*.py")):
        shutil.copy2(source, package / source.name)
    for wing in WINGS:
        shutil.copytree(ROOT / "handler" / wing, package / wing, ignore=shutil.ignore_patterns("__pycache__"))
    for local in LOCAL_ONLY:
        (package / local).unlink()


def shipped_variants(manifest: dict, arch: str, requested: str = "") -> list[str]:
    """What the artifact carries, the CPU default first. `requested` (LAMBDA_VARIANTS / --variants):
    those, as named. Else what Lambda's CPUs serve: on arm64 (Graviton2-4, all with the int8 dot
    product) the manifest's CPU default; on x86_64 the default for CPUs without what that needs,
    because Lambda's x86 hosts are AVX2 + FMA without VNNI (docs/lambda.md#lambdas-cpus-emulated:
    int8 there would be refused by `handler.model.cpu`, and under emulation by the known-vector check)."""
    variants = manifest["variants"]
    if requested:
        names = [name.strip() for name in requested.split(",") if name.strip()]
        unknown = [name for name in names if name not in variants]
        if unknown or not names:
            raise UsageError(f"LAMBDA_VARIANTS (--variants) {requested!r}: {', '.join(unknown) or 'no variant'} not in the export "
                             f"(has: {', '.join(sorted(variants))})")
        return list(dict.fromkeys(names))
    default = manifest["defaults"]["cpu"]
    need = variants[default].get("requires")
    fallback = manifest["defaults"].get(f"cpu_without_{need}") if need else None
    if arch == "x86_64" and fallback in variants:
        return [fallback]
    return [default]


def copy_model(model_dir: Path, out: Path, arch: str = "x86_64", requested: str = "") -> str:
    """The shipped variants (shipped_variants), their tokenizer and a manifest listing just them,
    the first as its CPU default. Their sha256 is checked here, before they ship (the function
    checks the served one again at start, beside its other start-up work: `handler.model.integrity`)."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    names = shipped_variants(manifest, arch, requested)
    target = out / MODEL_FOLDER
    target.mkdir()
    for name in names:
        for file in model_files(model_dir, manifest["variants"][name]):  # the graph and the weights beside it
            if not file.path.is_file():
                raise UsageError(f"{file.path} not found, but {model_dir / 'manifest.json'} lists it: copy it with the rest of the export, or export again")
            if (actual := sha256_file(file.path)) != file.sha256:
                raise UsageError(f"{file.path} has sha256 {actual}, but its manifest says {file.sha256}: the file is damaged or from another export; export again")
            shutil.copy2(file.path, target / file.path.name)
    tokenizer = model_dir / manifest["tokenizer"]
    if manifest.get("tokenizer_sha256") and sha256_file(tokenizer) != manifest["tokenizer_sha256"]:
        raise UsageError(f"{tokenizer} does not match its manifest sha256: export again")
    shutil.copy2(tokenizer, target / manifest["tokenizer"])
    served = names[0]
    manifest["variants"] = {name: manifest["variants"][name] for name in names}
    # defaults that name a variant left behind would be refused at start: only shipped ones stay
    manifest["defaults"] = {key: name for key, name in manifest["defaults"].items() if name in names and key != "cpu"} | {"cpu": served}
    manifest["artifact"] = f"Lambda artifact: only {' and '.join(names)} shipped"
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return served


def bake_shard(shard: Path, out: Path, schema: Schema) -> dict:
    """The collection's Qdrant Edge shard (a QDRANT_PATH/<collection> directory made by
    scripts.upload) into the artifact as an archive; unpacked to /tmp at start (`handler.storage.shard`).
    Opening it first proves no other process holds it (a copy taken mid-write could be torn); its
    layout must be the schema's (a shard of another catalogue would be refused at start)."""
    from handler.common import ShardSourceError, StorageError
    from handler.storage import EdgeStorage, pack_shard

    storage = EdgeStorage(shard.parent, shard.name, schema)
    try:
        storage.open()
        storage.check_layout()
    except StorageError as exc:
        raise UsageError(f"--shard '{shard}': {exc}") from exc
    finally:
        storage.close()
    try:
        return pack_shard(shard, out / SHARD_ARCHIVE)
    except ShardSourceError as exc:
        raise UsageError(f"--shard: {exc}") from exc


def trim(out: Path, mode: str) -> int:
    removed = 0
    for pattern in TRIMS + MODE_TRIMS[mode]:
        for path in out.glob(pattern):
            if not path.exists():
                continue
            removed += tree_size(path)
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return removed


def find_strip(arch: str) -> str | None:
    """A strip that reads `arch`'s ELF files: binutils' own `strip` knows only its host's machine
    (an x86_64 one refuses aarch64 libraries), so another architecture takes its cross binutils'
    strip or llvm-strip, which reads every machine."""
    if arch == platform.machine():
        return shutil.which("strip") or shutil.which("llvm-strip")
    return shutil.which(f"{arch}-linux-gnu-strip") or shutil.which("llvm-strip")


def loads_aligned(library: Path, page: int = 4096) -> bool:
    """Whether each PT_LOAD segment's file offset and address agree modulo the page and its own
    alignment: what the dynamic loader checks first ("ELF load command address/offset not
    page-aligned"). llvm-strip breaks that in libraries patchelf rewrote (numpy's extension modules
    in the aarch64 wheels), which then fail to import. ELF64 little-endian only (x86_64, aarch64)."""
    with library.open("rb") as elf:
        header = elf.read(64)
        if header[:4] != b"\x7fELF" or header[4:6] != b"\x02\x01":
            return True  # not ELF64 little-endian: not ours to judge
        (table_at,) = struct.unpack_from("<Q", header, 0x20)
        entry_size, entries = struct.unpack_from("<HH", header, 0x36)
        elf.seek(table_at)
        table = elf.read(entry_size * entries)
    for i in range(entries):
        kind, _, offset, address, _, _, _, align = struct.unpack_from("<IIQQQQQQ", table, i * entry_size)
        if kind == 1 and ((address - offset) % page or (align > 1 and (address - offset) % align)):
            return False
    return True


def strip_libraries(out: Path, arch: str) -> int:
    """`strip --strip-unneeded`: symbol tables the dynamic loader never reads (saves ~10 MB,
    mostly qdrant_edge and tokenizers). Not the libraries auditwheel vendored into `*.libs/`:
    patchelf rewrote their headers, and strip breaks them ("ELF load command address/offset not
    page-aligned", seen with numpy's OpenBLAS). Each stripped copy replaces its library only if its
    load segments stay aligned (`loads_aligned`: llvm-strip broke numpy's own extension modules on
    aarch64 that way, caught by tests/jobs/test_arm64_artifact.py). Skipped with a note where no strip reads `arch`."""
    strip = find_strip(arch)
    if strip is None:
        say(f"note: no strip for {arch} on PATH (binutils' strip, {arch}-linux-gnu-strip or llvm-strip): shared libraries left as shipped")
        return 0
    saved = 0
    for library in out.rglob("*.so*"):
        if library.is_file() and not library.is_symlink() and not any(part.endswith(".libs") for part in library.relative_to(out).parts):
            stripped = library.with_name(library.name + ".stripped")
            if subprocess.run([strip, "--strip-unneeded", "-o", str(stripped), str(library)], capture_output=True).returncode == 0 and loads_aligned(stripped):
                saved += library.stat().st_size - stripped.stat().st_size
                stripped.chmod(library.stat().st_mode)
                stripped.replace(library)
            stripped.unlink(missing_ok=True)
    return saved


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


def package_sizes(out: Path) -> list[tuple[str, float]]:
    """MB per top-level entry, a package's `.libs` and `.dist-info` folded into it, largest first."""
    sizes: dict[str, float] = {}
    for path in out.iterdir():
        name = re.sub(r"(\.libs|-[0-9][^/]*\.dist-info)$", "", path.name)
        sizes[name] = sizes.get(name, 0) + tree_size(path) / 1e6
    return sorted(sizes.items(), key=lambda item: -item[1])


def build(out: Path, model_dir: Path, arch: str, mode: str, shard: Path | None = None, schema_file: str = "", variants: str = "",
          python_version: str = PYTHON_VERSION) -> dict:
    if not (model_dir / "manifest.json").is_file():
        raise UsageError(f"no export in '{model_dir}': run `python -m export --out {model_dir}` first")
    if shard is not None and mode != "embedded":
        raise UsageError("--shard bakes a Qdrant Edge collection in: it needs --mode embedded")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    say(f"pip: CPython {python_version} manylinux_2_17..2_{MAX_GLIBC[1]} {arch} wheels, mode {mode} -> {out}")
    pip_install(out, arch, [arg for requirements in MODES[mode] for arg in ("-r", str(requirements))], python_version)
    pip_install(out, arch, ["--no-deps", *NO_DEPS], python_version)
    copy_code(out)
    served = copy_model(model_dir, out, arch, variants)
    schema = load_schema(schema_file)
    # the artifact carries its schema (SCHEMA_FILE points at it in template.yaml): the runtime refuses a configuration of another mode or schema
    shutil.copy2(Path(schema_file) if schema_file else BUILT_IN, out / ARTIFACT_SCHEMA_FILE)
    write_info(out, mode, arch, served, schema.fingerprint())
    shard_mb = bake_shard(shard, out, schema)["archive_bytes"] / 1e6 if shard is not None else 0.0
    untrimmed = tree_size(out) / 1e6
    removed = trim(out, mode) / 1e6
    stripped = strip_libraries(out, arch) / 1e6
    if python_version == PYTHON_VERSION:
        byte_compile(out)
    else:
        say(f"note: built for CPython {python_version} (the emulated check), not the runtime's {PYTHON_VERSION}: not byte-compiled, not for deploying")
    needs = glibc_needs(out)
    worst = max(needs.values(), default=(0,))
    report = {
        "mode": mode,
        "arch": arch,
        "python": python_version,
        "variant": served,
        "unzipped_mb": round(tree_size(out) / 1e6, 1),
        "untrimmed_mb": round(untrimmed, 1),
        "trimmed_mb": round(removed, 1),
        "stripped_mb": round(stripped, 1),
        "shard_mb": round(shard_mb, 1),
        "packages": [(name, round(mb, 1)) for name, mb in package_sizes(out)],
        "max_glibc": ".".join(map(str, worst)),
        "glibc_over_limit": sorted(k for k, v in needs.items() if v > MAX_GLIBC),
    }
    (out.parent / f"{out.name}-report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


@cli()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default=env("LAMBDA_MODE"), help="storage backend the artifact carries (default: $LAMBDA_MODE)")
    parser.add_argument("--shard", type=Path, default=Path(env("LAMBDA_SHARD")) if env("LAMBDA_SHARD") else None,
                        help="embedded mode: a QDRANT_PATH/<collection> directory to bake in (default: $LAMBDA_SHARD)")
    parser.add_argument("--out", type=Path, default=ARTIFACT_DIR, help="output directory (sam build passes its ARTIFACTS_DIR)")
    parser.add_argument("--model-dir", type=Path, default=Path(env("MODEL_DIR")), help="export directory (default: $MODEL_DIR)")
    parser.add_argument("--arch", choices=["x86_64", "arm64"], default=env("LAMBDA_ARCH"))
    parser.add_argument("--variants", default=env("LAMBDA_VARIANTS"),
                        help="model variants to carry, comma-separated, the first the default (default: $LAMBDA_VARIANTS, else what Lambda's CPUs serve)")
    parser.add_argument("--schema", default=env("SCHEMA_FILE"), help="the catalogue's schema the artifact carries (default: $SCHEMA_FILE, else the built-in startups schema)")
    parser.add_argument("--python-version", default=PYTHON_VERSION, choices=[PYTHON_VERSION, "3.11"],
                        help=f"CPython the wheels are for (default {PYTHON_VERSION}, the template's runtime; 3.11 only for the emulated "
                             "arm64 check: Debian's arm64 python3.11 under qemu-aarch64)")
    args = parser.parse_args(argv)
    if args.mode not in MODES:
        raise UsageError(f"LAMBDA_MODE={args.mode!r}: the mode is server or embedded")
    arch = "aarch64" if args.arch == "arm64" else "x86_64"

    report = build(args.out.absolute(), args.model_dir, arch, args.mode, args.shard, args.schema, args.variants, args.python_version)
    print(f"artifact {args.out} ({report['mode']} mode, {report['arch']}, model {report['variant']}): {report['unzipped_mb']} MB unzipped "
          f"(trims {report['trimmed_mb']} MB, strip {report['stripped_mb']} MB, shard {report['shard_mb']} MB); "
          f"Lambda limit {LAMBDA_LIMIT_MB} MB, goal {GOAL_MB} MB; highest glibc need {report['max_glibc']}")
    for name, mb in report["packages"]:
        if mb >= 0.5:
            print(f"  {mb:8.1f} MB  {name}")
    print(f"  {sum(mb for _, mb in report['packages'] if mb < 0.5):8.1f} MB  {sum(1 for _, mb in report['packages'] if mb < 0.5)} smaller entries")
    if report["glibc_over_limit"]:
        say(f"error: these need a glibc newer than {'.'.join(map(str, MAX_GLIBC))}: {report['glibc_over_limit']}")
        return 1
    if report["unzipped_mb"] > LAMBDA_LIMIT_MB:
        say(f"error: {report['unzipped_mb']} MB is over Lambda's {LAMBDA_LIMIT_MB} MB unzipped limit")
        return 1
    if report["unzipped_mb"] > GOAL_MB:
        say(f"warning: over the {GOAL_MB} MB goal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
