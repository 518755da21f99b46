#!/usr/bin/env bash
# iOS benchmarks on a connected, paired device (macOS with Xcode 16+).  Two ways:
#
#   benchmarks/device/ios.sh devicectl --device UDID [--app path/to/ELIRDemo.app] [--warmup 10] [--runs 50]
#       [--cooldown 60] [--units all,cpuAndNeuralEngine,cpuAndGPU,cpuOnly] [--out results/ios] CARD.json...
#     installs the app, copies each artifact with its card and vectors into the app's Documents/models,
#     launches it headless once per runtime x accelerator (coreml: each --units; executorch: the card's
#     backend), copies Documents/results back, collates.
#
#   benchmarks/device/ios.sh xcodebuild --device UDID [--out results/ios] CARD.json...
#     bundles the cards into ios_demo/Models, runs the XCTest performance tests (XCTClockMetric,
#     XCTMemoryMetric) with a result bundle at <out>/ELIRDemo.xcresult.
#
# Build the app first for devicectl: (cd ios_demo && xcodegen generate && xcodebuild -scheme ELIRDemo
#   -configuration Release -destination 'generic/platform=iOS' -derivedDataPath build build)
set -euo pipefail

MODE="${1:-}"; shift || true
DEVICE="" APP="ios_demo/build/Build/Products/Release-iphoneos/ELIRDemo.app" WARMUP=10 RUNS=50 COOLDOWN=60
UNITS="all,cpuAndNeuralEngine,cpuAndGPU,cpuOnly" OUT="results/ios" CARDS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --app) APP="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --cooldown) COOLDOWN="$2"; shift 2 ;;
    --units) UNITS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; exit 2 ;;
    *) CARDS+=("$1"); shift ;;
  esac
done
[[ "$MODE" == devicectl || "$MODE" == xcodebuild ]] || { echo "error: first argument: devicectl | xcodebuild" >&2; exit 2; }
[[ -n "$DEVICE" ]] || { echo "error: --device UDID is required (xcrun devicectl list devices)" >&2; exit 2; }
[[ ${#CARDS[@]} -gt 0 ]] || { echo "error: give at least one model card (.json)" >&2; exit 2; }
command -v xcrun >/dev/null || { echo "error: xcrun not found (needs macOS with Xcode)" >&2; exit 2; }
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
. "$REPO/benchmarks/device/common.sh"
BUNDLE_ID=dev.elirmobile.demo
mkdir -p "$OUT"
OUT_ABS="$(cd "$OUT" && pwd)"

card_files() { (cd "$REPO" && "$PY" -m benchmarks.device.card_files "$(realpath "$1")"); }
card_field() { "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"c": c}))' "$1" "$2"; }

if [[ "$MODE" == xcodebuild ]]; then
  rm -rf "$REPO/ios_demo/Models"; mkdir -p "$REPO/ios_demo/Models"
  for card in "${CARDS[@]}"; do
    while IFS= read -r f; do cp -R "$f" "$REPO/ios_demo/Models/"; done < <(card_files "$card")
  done
  (cd "$REPO/ios_demo" && xcodegen generate && xcodebuild test -scheme ELIRDemo -destination "id=$DEVICE" \
     -resultBundlePath "$OUT_ABS/ELIRDemo.xcresult")
  echo "results: $OUT_ABS/ELIRDemo.xcresult (xcrun xcresulttool get test-results tests --path ...)"
  exit 0
fi

xcrun devicectl device install app --device "$DEVICE" "$APP"
STATUS=0
run_one() {  # card runtime accelerator
  local card="$1" runtime="$2" acc="$3" model stem out
  model="$(card_field "$card" 'c["artifact"]["file"]')"
  stem="$(basename "$card" .json)"
  out="$stem.$runtime.$acc.json"
  echo "== $model: $runtime / $acc"
  xcrun devicectl device process launch --device "$DEVICE" --terminate-existing --console "$BUNDLE_ID" -- \
    --benchmark --model "$model" --card "$stem.json" --runtime "$runtime" --accelerator "$acc" \
    --warmup "$WARMUP" --runs "$RUNS" --cooldown "$COOLDOWN" --out "$out" || STATUS=1
}
for card in "${CARDS[@]}"; do
  while IFS= read -r f; do
    xcrun devicectl device copy to --device "$DEVICE" --domain-type appDataContainer --domain-identifier "$BUNDLE_ID" \
      --source "$f" --destination "Documents/models/$(basename "$f")" >/dev/null
  done < <(card_files "$card")
  case "$(card_field "$card" 'c["artifact"]["format"]')" in
    mlpackage) IFS=',' read -ra units <<< "$UNITS"; for u in "${units[@]}"; do run_one "$card" coreml "$u"; done ;;
    pte) run_one "$card" executorch "$(card_field "$card" 'c["artifact"]["backend"]')" ;;
    *) echo "skip $card: not an iOS artifact" ;;
  esac
done
xcrun devicectl device copy from --device "$DEVICE" --domain-type appDataContainer --domain-identifier "$BUNDLE_ID" \
  --source Documents/results --destination "$OUT_ABS/device"
shopt -s nullglob
# devicectl may or may not nest the copied folder; take records from either level.
for e in "$OUT_ABS"/device/*.error "$OUT_ABS"/device/results/*.error; do cat "$e"; STATUS=1; done
collate_records "$OUT_ABS" "$OUT_ABS"/device/*.json "$OUT_ABS"/device/results/*.json
exit $STATUS
