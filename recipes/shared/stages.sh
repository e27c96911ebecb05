# Sourced by recipes/*/run.sh: logging, stage selection and done-markers, shared so that no recipe copies them.
# The recipe sets: recipe (a name for the log), stage, stop_stage.

log() { echo "$(date '+%F %T') [$recipe] $*"; }

# run_stage N NAME DONE_DIR: true when stage N is selected and DONE_DIR/.stageN.done does not exist yet
run_stage() {
  [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ] || return 1
  if [ -f "$3/.stage$1.done" ]; then log "stage $1 ($2): done already, skipping"; return 1; fi
  log "stage $1: $2"
}

mark_done() { touch "$2/.stage$1.done"; }

require_asr() {
  command -v asr >/dev/null || {
    echo "$recipe: the 'asr' command is not on PATH (run tools/setup.sh and activate .venv)" >&2; exit 1; }
}

# resume_arg EXP_DIR: the override that continues an interrupted training run from its newest checkpoint (last.ckpt,
# written at every epoch's end, or a mid-epoch step checkpoint), or nothing; pass it as one word:
#   resume=$(resume_arg DIR); asr train ... ${resume:+"$resume"}
resume_arg() {
  local newest
  newest=$(ls -t "$1"/checkpoints/last.ckpt "$1"/checkpoints/step*.ckpt 2>/dev/null | head -n 1)
  [ -n "$newest" ] && echo "resume=$newest"
  true
}
