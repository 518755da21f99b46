# Sourced by the device scripts: what they share once the records are on this machine.

# collate_records OUT_DIR RECORD...: validate and tabulate the records into OUT_DIR/tables (none: nothing to do).
collate_records() {
  local out="$1"; shift
  [[ $# -gt 0 ]] || return 0
  (cd "$REPO" && "$PY" -m benchmarks.device.collate "$@" --out "$out/tables")
}
