#!/usr/bin/env bash
# Packaging and portability checks for .ci/run: sdist + wheel checks,
# cibuildwheel targets, actionlint, the Windows loader under wine, and the
# VMGUESTLIB_LINK=1 distro build with its tests.  See tools/ci_packaging.sh.
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tools/ci_packaging.sh" "$@"
