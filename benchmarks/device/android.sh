#!/usr/bin/env bash
# The Android benchmark matrix end to end: install the demo app's flavour APKs, push each artifact with its
# card and reference vectors, run BenchmarkActivity for every runtime x accelerator that fits the artifact,
# pull the records, collate.
#
#   benchmarks/device/android.sh [--apk-dir android_demo/app/build/outputs/apk] [--warmup 10] [--runs 50]
#       [--threads 0] [--cooldown 60] [--out results/android] [--only RUNTIME:ACCEL,...] CARD.json...
#
# Matrix: a .pte runs on ExecuTorch with the delegate it was exported for (card artifact.backend), in the APK
# flavour carrying it (xnnpack -> xnnpack APK, vulkan -> vulkan APK, qnn -> qnn APK); a .tflite runs on LiteRT
# CPU, GPU and NPU (xnnpack APK).  --only restricts it, e.g. --only litert:npu,executorch:xnnpack.
# Build the APKs first: (cd android_demo && ./gradlew assembleRelease).
set -euo pipefail

APK_DIR="android_demo/app/build/outputs/apk" WARMUP=10 RUNS=50 THREADS=0 COOLDOWN=60 OUT="results/android"
ONLY="" CARDS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --apk-dir) APK_DIR="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --cooldown) COOLDOWN="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; exit 2 ;;
    *) CARDS+=("$1"); shift ;;
  esac
done
[[ ${#CARDS[@]} -gt 0 ]] || { echo "error: give at least one model card (.json)" >&2; exit 2; }
command -v adb >/dev/null || { echo "error: adb not found on PATH" >&2; exit 2; }
adb get-state >/dev/null || { echo "error: no device connected (adb get-state)" >&2; exit 2; }
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
. "$REPO/benchmarks/device/common.sh"
BASE_PKG=dev.elirmobile.demo
ACTIVITY=dev.elirmobile.demo.BenchmarkActivity

pkg_for() { [[ "$1" == xnnpack ]] && echo "$BASE_PKG" || echo "$BASE_PKG.$1"; }
wanted() { [[ -z "$ONLY" || ",$ONLY," == *",$1:$2,"* ]]; }

declare -A INSTALLED=()
install_flavour() {
  local flavour="$1" apk="$APK_DIR/$1/release/app-$1-release.apk"
  [[ -n "${INSTALLED[$flavour]:-}" ]] && return 0
  [[ -f "$apk" ]] || { echo "error: $apk not found; build it: (cd android_demo && ./gradlew assemble${flavour^}Release)" >&2; exit 2; }
  adb install -r -g "$apk" >/dev/null
  INSTALLED[$flavour]=1
}

push_card() {  # push a card's files into the flavour's models dir
  local card="$1" pkg="$2" files
  files="$(cd "$REPO" && "$PY" -m benchmarks.device.card_files "$(realpath "$card")")" || exit 2
  adb shell "mkdir -p /sdcard/Android/data/$pkg/files/models /sdcard/Android/data/$pkg/files/results"
  while IFS= read -r f; do adb push "$f" "/sdcard/Android/data/$pkg/files/models/" >/dev/null; done <<< "$files"
}

run_one() {  # card flavour runtime accelerator
  local card="$1" flavour="$2" runtime="$3" acc="$4" pkg model stem out dev_out
  pkg="$(pkg_for "$flavour")"
  stem="$(basename "$card" .json)"
  model="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["artifact"]["file"])' "$card")"
  out="$stem.$runtime.$acc.t$THREADS.json"
  dev_out="/sdcard/Android/data/$pkg/files/results/$out"
  adb shell "rm -f $dev_out $dev_out.error"
  echo "== $model: $runtime / $acc ($pkg)"
  adb shell am start -W -S -n "$pkg/$ACTIVITY" --es model "$model" --es runtime "$runtime" --es accelerator "$acc" \
    --ei warmup "$WARMUP" --ei runs "$RUNS" --ei threads "$THREADS" --ei cooldown "$COOLDOWN" --es out "$out" >/dev/null
  for _ in $(seq 1 900); do  # up to 30 min per run (cool-down + a slow CPU fallback)
    if adb shell "test -f $dev_out" 2>/dev/null; then adb pull "$dev_out" "$OUT/$out" >/dev/null; break; fi
    if adb shell "test -f $dev_out.error" 2>/dev/null; then adb shell "cat $dev_out.error"; STATUS=1; return; fi
    sleep 2
  done
  [[ -f "$OUT/$out" ]] || { echo "timed out waiting for $dev_out"; STATUS=1; return; }
  adb logcat -d -s ELIR:I | grep ELIR_BENCH | tail -n 1 || true
}

mkdir -p "$OUT"
STATUS=0
for card in "${CARDS[@]}"; do
  read -r format backend < <("$PY" -c 'import json,sys; a=json.load(open(sys.argv[1]))["artifact"]; print(a["format"], a["backend"])' "$card")
  case "$format" in
    pte)
      flavour="$backend"; [[ "$backend" == xnnpack || "$backend" == vulkan || "$backend" == qnn ]] || {
        echo "skip $card: no Android flavour for ExecuTorch backend $backend"; continue; }
      wanted executorch "$backend" || continue
      install_flavour "$flavour"; push_card "$card" "$(pkg_for "$flavour")"
      run_one "$card" "$flavour" executorch "$backend" ;;
    tflite)
      install_flavour xnnpack; push_card "$card" "$BASE_PKG"
      for acc in cpu gpu npu; do wanted litert "$acc" && run_one "$card" xnnpack litert "$acc"; done ;;
    *) echo "skip $card: $format artifacts do not run on Android" ;;
  esac
done
OUT_ABS="$(realpath "$OUT")"
shopt -s nullglob
collate_records "$OUT_ABS" "$OUT_ABS"/*.json
exit $STATUS
