#!/usr/bin/env bash
# Check vmguestlib/_vmguestlib.pyi against the built extension with
# mypy.stubtest.  MYPYPATH points at the source tree so the stub really is
# read (on an editable install stubtest can otherwise pass without it); the
# run fails if the stub is not found.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(MYPYPATH=. python -m mypy.stubtest vmguestlib._vmguestlib --concise 2>&1) || {
    echo "$out"
    exit 1
}
echo "$out"
# stubtest prints "Success" even for a module it found no stub for in some
# setups: prove the stub was used by checking a deliberately broken copy fails.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/vmguestlib"
cp vmguestlib/*.py vmguestlib/py.typed "$tmp/vmguestlib/"
sed 's/def cpu_limit_mhz(self) -> int:/def cpu_limit_mhz(self, extra: int) -> int:/' \
    vmguestlib/_vmguestlib.pyi > "$tmp/vmguestlib/_vmguestlib.pyi"
if MYPYPATH="$tmp" python -m mypy.stubtest vmguestlib._vmguestlib --concise >/dev/null 2>&1; then
    echo "stubtest did not read the stub (a broken stub passed)" >&2
    exit 1
fi
echo "stubtest: stub verified against the built extension (a broken stub fails as it should)"
