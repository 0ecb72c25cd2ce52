#!/usr/bin/env bash
# Long differential fuzzing run (issue 17) against the INSTALLED mlkern wheel.
#
#   scripts/fuzz-long.sh [DURATION_SECONDS] [EXAMPLES_FACTOR] [extra pytest args...]
#
# Runs the hypothesis suites tests/test_differential_*.py under the "mlkern-long"
# profile (MLKERN_FUZZ=long: random seeds, every test's example count multiplied by
# EXAMPLES_FACTOR, default 20) again and again, each round with a fresh random seed
# that is printed first, until DURATION_SECONDS (default 600) have passed (a round
# still running then is interrupted and reports what it found); then it
# runs tests/test_bad_sizes.py once. Failing examples are also kept in the database
# $MLKERN_FUZZ_DB (default /tmp/mlkern-fuzz-db), so a rerun replays them first.
# Replay one round: MLKERN_FUZZ=long python -m pytest --hypothesis-seed=SEED tests/test_differential_*.py
#
# Environment: PYTHON (default: python3 on PATH, i.e. the venv with the wheel),
# MLKERN_FUZZ_LOG (default /tmp/mlkern-fuzz-long.log). Exit status: 0 if every round
# passed, 1 otherwise. Run it from anywhere; pytest runs from a directory outside
# the source tree, so `import mlkern` finds the installed wheel.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:-600}
FACTOR=${2:-20}
shift $(( $# < 2 ? $# : 2 ))
EXTRA=("$@")
PYTHON=${PYTHON:-python3}
LOG=${MLKERN_FUZZ_LOG:-/tmp/mlkern-fuzz-long.log}
export MLKERN_FUZZ=long MLKERN_FUZZ_EXAMPLES=$FACTOR
export MLKERN_FUZZ_DB=${MLKERN_FUZZ_DB:-/tmp/mlkern-fuzz-db}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

where=$("$PYTHON" -c "import mlkern, sys; f = mlkern._mlkern.__file__; print(f); sys.exit('site-packages' not in f)") || {
    echo "fuzz-long: mlkern is not imported from an installed wheel: $where" >&2; exit 2; }
echo "fuzz-long: mlkern from $where; duration ${DURATION}s, examples x$FACTOR; log $LOG" | tee "$LOG"

status=0
round=0
start=$SECONDS
while (( SECONDS - start < DURATION )); do
    round=$((round + 1))
    seed=$("$PYTHON" -c "import secrets; print(secrets.randbits(63))")
    echo "=== round $round, --hypothesis-seed=$seed ($((SECONDS - start))s elapsed)" | tee -a "$LOG"
    left=$(( DURATION - (SECONDS - start) ))
    # SIGINT at the deadline: pytest stops and still prints the failures found so far.
    if ! timeout -s INT -k 120 "$left" "$PYTHON" -m pytest -p no:cacheprovider -q -rf --hypothesis-seed="$seed" \
            "$ROOT"/tests/test_differential_*.py ${EXTRA[@]+"${EXTRA[@]}"} >>"$LOG" 2>&1; then
        status=1
        echo "round $round (seed $seed) FAILED; see $LOG" | tee -a "$LOG"
    fi
done
echo "=== bad sizes" | tee -a "$LOG"
"$PYTHON" -m pytest -p no:cacheprovider -q "$ROOT"/tests/test_bad_sizes.py >>"$LOG" 2>&1 || status=1
echo "fuzz-long: $round round(s), status $status" | tee -a "$LOG"
exit $status
