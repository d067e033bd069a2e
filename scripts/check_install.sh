#!/usr/bin/env bash
# Install check: the wheel alone, as a user gets it, with nothing from the checkout or the
# dev extras. Builds a wheel from the working tree, installs requirements-runtime.lock
# (--require-hashes) and the wheel (--no-deps) into a fresh venv in a temporary directory,
# then from there runs `postback --help`, `postback migrate`, `postback demo --check` and
# scripts/import_each_module.py with that venv's interpreter.
#
#   scripts/check_install.sh            (make install-check; part of make test)
#
# PYTHON (default python3) creates the fresh venv; BUILD_PYTHON (default .venv/bin/python)
# builds the wheel.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}
build_python=${BUILD_PYTHON:-$repo/.venv/bin/python}
demo_timeout=${DEMO_TIMEOUT:-180}

work=$(mktemp -d "${TMPDIR:-/tmp}/postback-install-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
venv=$work/venv
started=$SECONDS
step_started=$SECONDS

step() {
    printf 'install check: %s\n' "$*"
    step_started=$SECONDS
}

done_step() {
    printf 'install check:   ok (%d s)\n' "$((SECONDS - step_started))"
}

# Built from a copy of the tree, so nothing left in build/ from an earlier build (a module
# since removed) can slip into the wheel.
step "build the wheel from $repo"
mkdir -p "$work/source" "$work/dist" "$work/run"
tar -C "$repo" --exclude=__pycache__ --exclude='*.egg-info' -cf - pyproject.toml README.md src \
    | tar -C "$work/source" -xf -
"$build_python" -m pip wheel --quiet --no-deps -w "$work/dist" "$work/source"
wheels=("$work"/dist/postback-*.whl)
wheel=${wheels[0]}
[[ -f $wheel ]] || { echo "install check: no wheel was built" >&2; exit 1; }
done_step

step "fresh venv ($python) in $work"
"$python" -m venv "$venv"
done_step

step "install requirements-runtime.lock (--require-hashes) and $(basename "$wheel") (--no-deps)"
"$venv/bin/python" -m pip install --quiet --require-hashes -r "$repo/requirements-runtime.lock"
"$venv/bin/python" -m pip install --quiet --no-deps "$wheel"
"$venv/bin/python" -m pip check
done_step

# From here on: the temporary directory, no POSTBACK_* settings, no PYTHONPATH.
cd "$work/run"
while IFS= read -r name; do
    unset "$name"
done < <(compgen -e | grep -E '^(POSTBACK_|PYTHONPATH$|PYTHONHOME$)' || true)

step "postback is imported from the fresh venv"
location=$("$venv/bin/python" -c 'import postback; print(postback.__file__)')
case $location in
    "$venv"/*) echo "install check:   $location" ;;
    *) echo "install check: postback came from $location, not from $venv" >&2; exit 1 ;;
esac
done_step

step "postback --help"
"$venv/bin/postback" --help >/dev/null
done_step

step "postback migrate (sqlite:///$work/check.db)"
POSTBACK_DATABASE_URL="sqlite:///$work/check.db" "$venv/bin/postback" migrate
done_step

step "postback demo --check --port 0 --clicks 40 (at most $demo_timeout s)"
timeout --kill-after=10 "$demo_timeout" "$venv/bin/postback" demo --check --port 0 --clicks 40
done_step

step "every module imports alone"
"$venv/bin/python" "$repo/scripts/import_each_module.py"
done_step

printf 'install check: passed (%d s)\n' "$((SECONDS - started))"
