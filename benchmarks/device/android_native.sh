#!/usr/bin/env bash
# Run elir_bench (cross-built for arm64-v8a, see benchmarks/device/README.md) on a connected Android device:
# push the runner, its shared libraries, each artifact with its card and reference vectors; run; pull the
# records; collate.
#
#   benchmarks/device/android_native.sh --bin build-android/elir_bench [--lib-dir DIR] [--threads 4]
#       [--warmup 10] [--runs 50] [--qnn-sdk "$QNN_SDK_ROOT"] [--out results/native] CARD.json...
#
# --lib-dir: shared libraries the runner needs on the device (a static build needs none).
# --qnn-sdk: for QNN artifacts, pushes the QNN runtime (libQnnHtp*.so, libQnnSystem.so and the Hexagon skel
#            libraries) and runs with ADSP_LIBRARY_PATH pointing at them.
set -euo pipefail

BIN="" LIB_DIR="" THREADS=0 WARMUP=10 RUNS=50 QNN_SDK="" OUT="results/native" CARDS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --lib-dir) LIB_DIR="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --qnn-sdk) QNN_SDK="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; exit 2 ;;
    *) CARDS+=("$1"); shift ;;
  esac
done
[[ -n "$BIN" && -f "$BIN" ]] || { echo "error: --bin must name the cross-built elir_bench" >&2; exit 2; }
[[ ${#CARDS[@]} -gt 0 ]] || { echo "error: give at least one model card (.json)" >&2; exit 2; }
command -v adb >/dev/null || { echo "error: adb not found on PATH" >&2; exit 2; }
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
. "$REPO/benchmarks/device/common.sh"
DEV=/data/local/tmp/elir
adb get-state >/dev/null || { echo "error: no device connected (adb get-state)" >&2; exit 2; }

adb shell "mkdir -p $DEV/models $DEV/results $DEV/qnn"
adb push "$BIN" "$DEV/elir_bench" >/dev/null
adb shell "chmod 755 $DEV/elir_bench"
if [[ -n "$LIB_DIR" ]]; then
  for so in "$LIB_DIR"/*.so; do adb push "$so" "$DEV/" >/dev/null; done
fi
if [[ -n "$QNN_SDK" ]]; then
  # Host-side .so for the CPU, skel libraries for the DSP; ADSP_LIBRARY_PATH tells FastRPC where they are.
  for so in "$QNN_SDK"/lib/aarch64-android/libQnnHtp*.so "$QNN_SDK"/lib/aarch64-android/libQnnSystem.so \
            "$QNN_SDK"/lib/hexagon-v*/unsigned/libQnnHtpV*Skel.so; do
    [[ -f "$so" ]] && adb push "$so" "$DEV/qnn/" >/dev/null
  done
fi

mkdir -p "$OUT"
STATUS=0
for card in "${CARDS[@]}"; do
  files="$(cd "$REPO" && "$PY" -m benchmarks.device.card_files "$(realpath "$card")")" || exit 2
  while IFS= read -r f; do adb push "$f" "$DEV/models/" >/dev/null; done <<< "$files"
  stem="$(basename "$card" .json)"
  model="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["artifact"]["file"])' "$card")"
  result="$stem.native.t$THREADS.json"
  echo "== $model"
  set +e
  adb shell "cd $DEV && LD_LIBRARY_PATH=$DEV:$DEV/qnn ADSP_LIBRARY_PATH='$DEV/qnn;/vendor/dsp/cdsp;/vendor/lib/rfsa/adsp;/system/lib/rfsa/adsp;/dsp' \
    ./elir_bench --model models/$model --card models/$stem.json --warmup $WARMUP --runs $RUNS --threads $THREADS \
    --out results/$result"
  rc=$?
  set -e
  if [[ $rc -le 1 ]]; then adb pull "$DEV/results/$result" "$OUT/$result" >/dev/null; fi
  [[ $rc -eq 0 ]] || STATUS=1
done
OUT_ABS="$(realpath "$OUT")"
shopt -s nullglob
collate_records "$OUT_ABS" "$OUT_ABS"/*.json
exit $STATUS
