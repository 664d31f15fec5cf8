# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# `work` and `build` are the sourcing script's; tok, VSKF_DIR and the
# DEMO_SKF_* facts are for it to read.
# shellcheck disable=SC2154,SC2034
#
# tests/lib/skf.sh — the demo SKF key of the shell tests: a copy of the one
# make builds (BUILD/demo-skf, tests/vskf/make-demo-skf), so a test may
# block, rewrite or pull it without touching the demo's.

[ -n "${LIB_SKF_LOADED:-}" ] && return 0
LIB_SKF_LOADED=1
# shellcheck source=tests/lib/rig.sh
. "$(dirname "${BASH_SOURCE[0]}")/rig.sh"

demo_skf=$build/demo-skf
vskf=$build/vskf/vskf

# use_demo_skf_key: copies the demo key into $work/skf, reads its facts
# (DEMO_SKF_*), plugs it in and sets $tok to the id ukeyd gives it.
# VSKF_DIR is exported because the SKF helper is ukeyd's child and finds
# the virtual devices where its environment says.
use_demo_skf_key() {
    cp -a "$demo_skf" "$work/skf"
    # shellcheck disable=SC1091
    . "$work/skf/skf.env"
    export VSKF_DIR=$work/skf/$DEMO_SKF_DIR
    "$vskf" plug "$VSKF_DIR" "$DEMO_SKF_DEVICE" >/dev/null || bail "vskf plug failed"
    tok=skf-$DEMO_SKF_SERIAL
}
