#!/usr/bin/env bash
# Lambda's CPUs, emulated: QEMU 10's user-mode emulators and an arm64 Python for them, in
# ${EMULATION_DIR:-.emulation} (ignored by git). Used by tests/model/test_emulated_cpus.py (slow
# tier; it skips, saying why, where this was not run) and docs/lambda.md#lambdas-cpus-emulated.
#
#   qemu/usr/bin/qemu-x86_64   `-cpu Haswell` (AVX2 + FMA, no AVX-512: Lambda's x86 hosts) runs .venv's Python
#   qemu/usr/bin/qemu-aarch64  `-cpu neoverse-n1|neoverse-v1` (Graviton2/3) runs arm64/usr/bin/python3.11
#   arm64/                     Debian 12's arm64 python3.11 and the libraries it links (given to -L)
#   arm64-site/                aarch64 wheels of onnxruntime, tokenizers, numpy (PYTHONPATH)
#   arm64-ric/                 awslambdaric (AWS's runtime client) and its dependencies, aarch64 wheels for
#                              3.11: tests/jobs/test_arm64_artifact.py runs the arm64 artifact through it
#
# QEMU 10 comes from Debian trixie's qemu-user (its binaries are static; bookworm's 7.2 crashes in
# onnxruntime's CPU detection on aarch64 and has no neoverse-v1). Nothing of the system's apt
# changes: each download uses its own sources list, state and cache under EMULATION_DIR/apt-*
# (APT::Architectures=arm64 there instead of `dpkg --add-architecture`). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=$(realpath -m "${EMULATION_DIR:-.emulation}")
mkdir -p "$DIR"

# apt_download NAME SUITE ARCH PACKAGE...: .debs into $DIR/debs-NAME with a private apt.
apt_download() {
    local name=$1 suite=$2 arch=$3; shift 3
    local state="$DIR/apt-$name"
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$DIR/debs-$name"
    echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$state/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$state/sources.list" -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::State=$state"
                -o "Dir::State::status=/dev/null" -o "Dir::Cache=$state/cache" -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
                -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root" -q)
    [ -s "$state/lists/deb.debian.org_debian_dists_${suite}_InRelease" ] || apt-get "${opts[@]}" update >/dev/null
    (cd "$DIR/debs-$name" && apt-get "${opts[@]}" download "$@" >/dev/null)
}

if [ ! -x "$DIR/qemu/usr/bin/qemu-aarch64" ]; then
    apt_download trixie trixie amd64 qemu-user
    dpkg -x "$DIR"/debs-trixie/qemu-user_*.deb "$DIR/qemu"
fi
"$DIR/qemu/usr/bin/qemu-x86_64" --version | head -1

if [ ! -x "$DIR/arm64/usr/bin/python3.11" ]; then
    # python3.11 and what it and the wheels link (glibc, libstdc++ for onnxruntime, the stdlib's extension modules)
    apt_download arm64 bookworm arm64 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libgcc-s1 libstdc++6 \
        zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libuuid1 libsqlite3-0 libcrypt1 libtinfo6 libncursesw6 \
        libreadline8 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1
    for deb in "$DIR"/debs-arm64/*.deb; do dpkg -x "$deb" "$DIR/arm64"; done
fi

if [ ! -d "$DIR/arm64-site/onnxruntime" ]; then
    # the versions this project pins, as aarch64 wheels for CPython 3.11; without their other
    # dependencies, as in the Lambda artifact (infra/build_artifact.py: the runtime never loads them)
    pins=$(.venv/bin/python -c "import onnxruntime, tokenizers, numpy; print(f'onnxruntime=={onnxruntime.__version__} tokenizers=={tokenizers.__version__} numpy=={numpy.__version__}')")
    # shellcheck disable=SC2086
    .venv/bin/python -m pip install -q --disable-pip-version-check --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
        --only-binary=:all: --no-deps --python-version 3.11 --implementation cp --target "$DIR/arm64-site" $pins \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
fi
if [ ! -d "$DIR/arm64-ric/awslambdaric" ]; then
    # the version .venv312 (the x86_64 runtime's Python) holds, where it exists
    ric=$(.venv312/bin/python -c "import importlib.metadata as m; print('awslambdaric==' + m.version('awslambdaric'))" 2>/dev/null || echo awslambdaric)
    .venv/bin/python -m pip install -q --disable-pip-version-check --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
        --only-binary=:all: --python-version 3.11 --implementation cp --target "$DIR/arm64-ric" "$ric" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
fi
"$DIR/qemu/usr/bin/qemu-aarch64" -cpu neoverse-n1 -L "$DIR/arm64" "$DIR/arm64/usr/bin/python3.11" -c \
    "import sys; sys.path.insert(0, '$DIR/arm64-site'); import onnxruntime, tokenizers, numpy, platform; print('emulation ready: aarch64 python', platform.python_version(), '| onnxruntime', onnxruntime.__version__)"
