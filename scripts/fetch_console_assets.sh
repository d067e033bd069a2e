#!/usr/bin/env bash
# Fetch the console's pinned front-end files (htmx, Chart.js) from the npm registry with
# `npm pack` and copy the minified builds and their licenses into the package, so that a
# machine with only python3 and make serves them without any network or build step.
# Run it again after changing a version below; commit what it writes.
set -euo pipefail
HTMX_VERSION=2.0.11
CHARTJS_VERSION=4.6.1

here="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$here/src/postback/console/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$vendor"

unpack() {  # package version -> directory holding the unpacked package
    local dir="$work/$1"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$1@$2" >/dev/null && tar -xzf ./*.tgz)
    echo "$dir/package"
}

htmx="$(unpack htmx.org "$HTMX_VERSION")"
cp "$htmx/dist/htmx.min.js" "$vendor/htmx.min.js"
cp "$htmx/LICENSE" "$vendor/htmx.LICENSE"

chart="$(unpack chart.js "$CHARTJS_VERSION")"
cp "$chart/dist/chart.umd.js" "$vendor/chart.umd.min.js"
cp "$chart/LICENSE.md" "$vendor/chart.js.LICENSE.md"

cat > "$vendor/VERSIONS" <<NOTE
htmx.org $HTMX_VERSION  (htmx.min.js, BSD Zero Clause License: htmx.LICENSE)
chart.js $CHARTJS_VERSION  (chart.umd.min.js = dist/chart.umd.js, MIT License: chart.js.LICENSE.md)
NOTE
echo "console assets in $vendor:"
ls -l "$vendor"
