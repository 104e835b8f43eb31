#!/usr/bin/env bash
# Build the Dockerfile for real and run the image offline: see README, "Container check".
#
#   sudo bash scripts/container-check.sh        (root: apt-get, podman, mounts, chroot)
#
# No registry can be pulled from here and no container started, so:
#   - the base image (python:3.11-slim) is a stand-in made with debootstrap (Debian bookworm,
#     python3.11 + pip + venv, EXTERNALLY-MANAGED removed) and tagged with the name the
#     Dockerfile's FROM uses; an image of that name already present and not made by this
#     script (a real python:3.11-slim) is used as it is;
#   - podman builds the unchanged Dockerfile (--format docker, which keeps HEALTHCHECK;
#     --isolation chroot --network host); this machine's pip sources and CA bundle reach the
#     build only through build-time volumes and the PIP_CONFIG_FILE / TORCH_INDEX_URL build
#     arguments, never into a layer;
#   - the built image is mounted (podman image mount), given a writable layer (overlayfs) and
#     a data volume seeded from the image's /data as a named volume would be, and commands run
#     in it with chroot as the image's user, under unshare --net (no network at all).
# Idempotent: the stand-in base and podman's layer cache are reused by later runs
# (--fresh rebuilds both). Prints PASS/FAIL per step and exits 1 on any failure.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${PEERBOT_CHECK_WORK:-/var/tmp/peerbot-container-check}
BASE=docker.io/library/python:3.11-slim
IMAGE=localhost/peerbot:check
STAND_IN_LABEL=peerbot.stand-in
FRESH=0
[[ ${1:-} == --fresh ]] && FRESH=1

START=$(date +%s)
declare -a RESULTS=()
FAILED=0
LOG="$WORK/log"

say() { printf '[container-check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
record() {  # record STATUS "what" ["detail"]
    RESULTS+=("$(printf '%-4s  %s%s' "$1" "$2" "${3:+ ($3)}")")
    [[ $1 == PASS ]] || FAILED=1
    say "$1: $2${3:+ ($3)}"
}
summary() {
    local seconds=$(( $(date +%s) - START ))
    echo
    echo "=== container check: $( ((FAILED)) && echo FAIL || echo PASS ) in $((seconds / 60)) min $((seconds % 60)) s ==="
    printf '%s\n' "${RESULTS[@]}"
    echo "logs: $LOG/"
}
fatal() { record FAIL "$1" "${2:-}"; summary; exit 1; }

mkdir -p "$WORK" "$LOG"
[[ $(id -u) == 0 ]] || fatal "must run as root" "apt-get, podman image mount, overlay mounts and chroot need it"

# --- 1. tools -----------------------------------------------------------------------------
need=()
for tool in podman:podman debootstrap:debootstrap unshare:util-linux chroot:coreutils; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if ((${#need[@]})); then
    say "installing ${need[*]} with apt-get"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"; } >"$LOG/apt.log" 2>&1 \
        || fatal "apt-get install ${need[*]}" "see $LOG/apt.log"
fi
record PASS "tools" "$(podman --version), $(debootstrap --version 2>/dev/null | head -1)"

# --- 2. the base image --------------------------------------------------------------------
if ((FRESH)) && podman image exists "$BASE" \
        && [[ -n $(podman image inspect --format "{{index .Labels \"$STAND_IN_LABEL\"}}" "$BASE") ]]; then
    podman rmi -f "$IMAGE" >/dev/null 2>&1
    podman image prune -f >/dev/null 2>&1  # the old build's layers, which hold on to the base
    podman rmi -f "$BASE" >/dev/null || fatal "remove the old stand-in base image" "podman rmi $BASE"
fi
if podman image exists "$BASE"; then
    kind=$(podman image inspect --format "{{index .Labels \"$STAND_IN_LABEL\"}}" "$BASE")
    record PASS "base image $BASE present" "${kind:-a real image, not a stand-in}"
else
    say "making a stand-in for $BASE with debootstrap (about a minute)"
    rootfs="$WORK/rootfs"
    rm -rf "$rootfs"
    if ! debootstrap --variant=minbase --include=python3.11,python3-pip,python3-venv,python-is-python3,ca-certificates \
            bookworm "$rootfs" http://deb.debian.org/debian >"$LOG/debootstrap.log" 2>&1; then
        fatal "debootstrap bookworm" "see $LOG/debootstrap.log"
    fi
    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    if ! tar -C "$rootfs" --numeric-owner -c . | podman import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change "LABEL $STAND_IN_LABEL=debootstrap-bookworm-python3.11" \
            --change 'CMD ["python3"]' - "$BASE" >"$LOG/import.log" 2>&1; then
        fatal "podman import of the stand-in" "see $LOG/import.log"
    fi
    rm -rf "$rootfs"
    record PASS "base image stand-in $BASE" "debootstrap bookworm, $(podman image inspect --format '{{.Size}}' "$BASE" | numfmt --to=iec) "
fi

# --- 3. build -----------------------------------------------------------------------------
# pip inside the build sees this machine's package sources through one config file.
pipdir="$WORK/pip"
rm -rf "$pipdir" && mkdir -p "$pipdir"
cp /etc/ssl/certs/ca-certificates.crt "$pipdir/ca.crt"
volumes=(-v "$pipdir:/run/peerbot-build:ro")
find_links=() extra_index=()
for dir in /opt/wheels; do
    [[ -d $dir ]] && find_links+=("$dir") && volumes+=(-v "$dir:$dir:ro")
done
for dir in /opt/pypi /opt/pypi-more; do
    [[ -d $dir/simple ]] && extra_index+=("file://$dir/simple") && volumes+=(-v "$dir:$dir:ro")
done
{
    echo "[global]"
    echo "cert = /run/peerbot-build/ca.crt"
    echo "timeout = 180"
    ((${#find_links[@]})) && echo "find-links = ${find_links[*]}"
    ((${#extra_index[@]})) && echo "extra-index-url = ${extra_index[*]}"
} >"$pipdir/pip.conf"
# The PyTorch CPU index is unreachable here; PyPI plus find-links (torch 2.13.0+cpu) gives
# the same torch, as the README's own install command does on this machine.
torch_index=${PEERBOT_TORCH_INDEX_URL:-https://pypi.org/simple}
build_args=(--build-arg PIP_CONFIG_FILE=/run/peerbot-build/pip.conf --build-arg "TORCH_INDEX_URL=$torch_index")
((FRESH)) && build_args+=(--no-cache)

say "podman build (a cold build takes several minutes: torch, dependencies, model, index)"
build_start=$(date +%s)
if podman build --format docker --isolation chroot --network host "${volumes[@]}" "${build_args[@]}" \
        -t "$IMAGE" -f "$REPO/Dockerfile" "$REPO" >"$LOG/build.log" 2>&1; then
    record PASS "podman build" "$(( $(date +%s) - build_start )) s, $(podman image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=iec)"
else
    tail -25 "$LOG/build.log"
    fatal "podman build" "see $LOG/build.log"
fi

# --- 4. what the image declares -----------------------------------------------------------
inspect() { podman image inspect --format "$1" "$IMAGE"; }
user=$(inspect '{{.Config.User}}')
cmd=$(inspect '{{json .Config.Cmd}}')
volumes_declared=$(inspect '{{json .Config.Volumes}}')
health=$(inspect '{{json .Healthcheck}}' 2>/dev/null)
[[ -z $health || $health == null ]] && health=$(podman inspect --type image --format '{{json .Config.Healthcheck}}' "$IMAGE" 2>/dev/null)
problems=()
[[ -n $user && $user != root && $user != 0 ]] || problems+=("user is '$user', not a non-root user")
[[ $cmd == '["peerbot","run"]' ]] || problems+=("command is $cmd")
[[ $volumes_declared == *'"/data"'* ]] || problems+=("/data is not a volume ($volumes_declared)")
[[ $health == *peerbot* ]] || problems+=("no HEALTHCHECK running peerbot ($health)")
if ((${#problems[@]})); then
    record FAIL "image configuration" "$(IFS=';'; echo "${problems[*]}")"
else
    record PASS "image configuration" "user $user, command $cmd, volume /data, healthcheck $(python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin)["Test"][1:]))' <<<"$health" 2>/dev/null)"
fi

# --- 5. run it offline --------------------------------------------------------------------
mnt=$(podman image mount "$IMAGE") || fatal "podman image mount" ""
run="$WORK/run"
umount -R "$run/root" 2>/dev/null || true
rm -rf "$run" && mkdir -p "$run/upper" "$run/work" "$run/root" "$run/data"
cleanup() {
    umount -R "$run/root" 2>/dev/null || true
    podman image unmount "$IMAGE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mount -t overlay overlay -o "lowerdir=$mnt,upperdir=$run/upper,workdir=$run/work" "$run/root" \
    || fatal "writable layer over the image" "overlay mount failed"
cp -a "$mnt/data/." "$run/data/"  # a new named volume starts with the image's /data
mount --bind "$run/data" "$run/root/data"

uid=$(chroot "$run/root" id -u "$user") gid=$(chroot "$run/root" id -g "$user")
mapfile -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
workdir=$(inspect '{{.Config.WorkingDir}}')

# in_image NAME EXPECT_EXIT COMMAND...: run COMMAND in the image without network, as its user.
in_image() {
    local name=$1 expect=$2; shift 2
    local out="$LOG/run-$name.log" envfile="$run/env"
    printf '%s\0' "${image_env[@]}" "HOME=/home/$user" >"$envfile"
    unshare --net --mount --pid --fork bash -c '
        root=$1 spec=$2 workdir=$3 envfile=$4; shift 4
        mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" && mount -t tmpfs tmpfs "$root/tmp" || exit 97
        mapfile -d "" -t env <"$envfile"
        exec chroot --userspec="$spec" "$root" /usr/bin/env -i "${env[@]}" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$workdir" "$@"
    ' _ "$run/root" "$uid:$gid" "$workdir" "$envfile" "$@" >"$out" 2>&1
    local code=$?
    if [[ $code == "$expect" ]]; then return 0; fi
    echo "--- $name: exit $code, expected $expect; last lines of $out:"; tail -15 "$out"
    return 1
}
check_run() {  # check_run NAME EXPECT_EXIT GREP_PATTERN COMMAND...
    local name=$1 expect=$2 pattern=$3; shift 3
    local t0=$(date +%s)
    if in_image "$name" "$expect" "$@" && grep -Eq -- "$pattern" "$LOG/run-$name.log"; then
        record PASS "offline: $*" "exit $expect, $(( $(date +%s) - t0 )) s"
    else
        grep -Eq -- "$pattern" "$LOG/run-$name.log" || echo "--- $name: output does not match /$pattern/"
        record FAIL "offline: $*" "see $LOG/run-$name.log"
    fi
}

check_run network 1 "." python -c "import urllib.request; urllib.request.urlopen('https://pypi.org', timeout=5)"
check_run whoami 0 "^[1-9][0-9]*$" id -u
check_run help 0 "Usage: peerbot" peerbot --help
check_run check 0 "^OK: [0-9]+ practice" peerbot check
check_run doctor 0 "All checks passed" peerbot doctor
check_run ask-en 0 '"confident": true' peerbot ask --json "How did municipalities help elderly people living alone?"
check_run ask-ar 0 '"language": "ar".*"results": \[\{' peerbot ask --json "كيف ساعدت البلديات كبار السن الذين يعيشون بمفردهم؟"
check_run health 1 "no heartbeat|heartbeat" peerbot health

# --- 6. the bot in the image, against the Bot API emulator, still without network --------
# The emulator (tests/tg_emulator.py) runs on the host side of the same network namespace,
# on loopback; it needs aiohttp, python-telegram-bot and pytest: the repository's .venv when
# it has them, else a small venv made here.
emu_python="$REPO/.venv/bin/python"
if ! "$emu_python" -c "import aiohttp, telegram, pytest" 2>/dev/null; then
    emu_python="$WORK/emulator-venv/bin/python"
    if ! "$emu_python" -c "import aiohttp, telegram, pytest" 2>/dev/null; then
        say "making a venv for the emulator"
        { command -v ip >/dev/null || apt-get install -y -q iproute2; } >>"$LOG/apt.log" 2>&1
        { python3 -c "import ensurepip" 2>/dev/null || apt-get install -y -q python3-venv; } >>"$LOG/apt.log" 2>&1
        { python3 -m venv "$WORK/emulator-venv" && "$emu_python" -m pip install -q aiohttp "python-telegram-bot>=22,<23" pytest; } \
            >"$LOG/emulator-venv.log" 2>&1 || record FAIL "venv for the emulator" "see $LOG/emulator-venv.log"
    fi
fi
printf '%s\0' "${image_env[@]}" "HOME=/home/$user" >"$run/env"
e2e_start=$(date +%s)
unshare --net --mount --pid --fork bash -c '
    root=$1; shift
    ip link set lo up && mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" && mount -t tmpfs tmpfs "$root/tmp" || exit 97
    exec "$@"
' _ "$run/root" "$emu_python" "$REPO/scripts/container_bot_e2e.py" "$run/root" "$uid:$gid" "$workdir" "$run/env" \
    >"$LOG/run-bot-e2e.log" 2>&1
e2e_code=$?
while read -r status what; do
    [[ $status == PASS || $status == FAIL ]] && record "$status" "in the image: $what"
done <"$LOG/run-bot-e2e.log"
if [[ $e2e_code != 0 ]] && ! grep -q '^FAIL' "$LOG/run-bot-e2e.log"; then
    record FAIL "in the image: the bot against the emulator" "exit $e2e_code, see $LOG/run-bot-e2e.log and $run/bot.log"
fi
say "bot end to end took $(( $(date +%s) - e2e_start )) s"

# The model in the image was used as it was: nothing converted or downloaded at run time.
if [[ -z $(find "$run/upper/opt" -path '*models*' -type f 2>/dev/null) ]]; then
    record PASS "model used from the image" "nothing written under /opt/peerbot/models"
else
    record FAIL "model used from the image" "$(find "$run/upper/opt" -type f | head -3 | tr '\n' ' ')"
fi

summary
exit "$FAILED"
