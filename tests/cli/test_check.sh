#!/usr/bin/env bash
# CLI tests for `ktaudit check` (users: --pins; providers: --candidate): exit
# codes, report contents in every format, JUnit validated with xmllint
# against tests/data/junit.xsd, --update only on a pass. Directories are built
# with `ktaudit dir` and served over real HTTP on loopback by
# `python3 -m http.server`; misbehaviour the publisher refuses to produce
# (a version skip) is built with tests/tools/monitor_mklog.py and signed
# with `ktaudit sign`.
#
# The CI examples in examples/ci/ are run for real: a small runner below
# (python3 + PyYAML) extracts the `run:` steps of the GitHub workflows and
# the `script:` of the GitLab jobs and executes them with bash -eo pipefail,
# the way the runners do, in a git workspace with the variables set as a
# repository would set them. Steps named "Install ktaudit", `uses:` actions
# and before_script are environment set-up and are not run: ktaudit is put on
# PATH instead.
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
XSD=$KTA_SRCDIR/tests/data/junit.xsd
MKLOG="python3 $KTA_SRCDIR/tests/tools/monitor_mklog.py"
SRV_PID=
trap 'if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null || true; fi; rm -rf "$T"' EXIT

# pub VKEYFILE: the raw Ed25519 public key of a vkey, in base64.
pub() {
  python3 -c 'import sys,base64; v=open(sys.argv[1]).read().strip(); print(base64.b64encode(base64.b64decode(v.split("+",2)[2])[1:]).decode())' "$1"
}
# rnd: 32 random bytes in base64 (a key nobody signs with).
rnd() { head -c 32 /dev/urandom | base64; }
# valid FILE DESC: FILE is JUnit XML valid against the schema.
valid() {
  if xmllint --noout --schema "$XSD" "$1" 2>"$T/xmllint.err"; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $2: JUnit not valid" >&2
    head -5 "$T/xmllint.err" >&2
  fi
}
# same A B DESC / differ A B DESC: file comparisons.
same() { if cmp -s "$1" "$2"; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "FAIL: $3: files differ" >&2; fi; }
# lacks FILE SUBSTRING DESC: the opposite of has.
lacks() {
  if grep -qF -- "$2" "$T/$1"; then FAIL=$((FAIL + 1)); echo "FAIL: $3: $1 has \"$2\"" >&2; else PASS=$((PASS + 1)); fi
}
# ok DESC CMD...: a set-up step that must succeed.
ok() {
  local desc=$1
  shift
  if ! "$@" >"$T/setup.out" 2>&1; then
    echo "set-up failed: $desc" >&2
    cat "$T/setup.out" >&2
    exit 1
  fi
}

# --- the fixture: a directory served over HTTP ----------------------------------
for c in "check" "dir init" "dir add" "dir publish"; do
  # shellcheck disable=SC2086
  $K $c --help >/dev/null 2>&1 || { echo "ktaudit has no \"$c\" command (src/cli/main.c)" >&2; exit 1; }
done
cd "$T"
ok "log key" sh -c "$K keygen --name example.com/dir --out log.key >log.vkey"
ok "witness key" sh -c "$K keygen --witness --name w1.example --out w1.key >w1.vkey"
ok "alice's key" sh -c "$K keygen --name alice-phone --out alice.key >alice.vkey"
ok "bob's key" sh -c "$K keygen --name bob-laptop --out bob.key >bob.vkey"
VK=$(cat log.vkey)
A="ed25519:$(pub alice.vkey):phone"
AX="x25519:$(rnd):phone"
B="ed25519:$(pub bob.vkey):laptop"

ok init $K dir init --origin example.com/dir --key log.key d0
ok "add alice" $K dir add --label alice@example.org --key "$A" --key "$AX" d0
ok "add bob" $K dir add --label bob@example.org --key "$B" d0
ok publish $K dir publish --cosign w1.key d0

# serve: http.server on a free loopback port, serving $T/www (a symlink the
# tests repoint at another directory). Sets PORT and URL.
ln -s d0 www
: >"$T/http.log"
python3 -u -m http.server --bind 127.0.0.1 0 --directory "$T/www" >>"$T/http.log" 2>&1 &
SRV_PID=$!
PORT=
for _ in $(seq 1 200); do
  PORT=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$T/http.log" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.05
done
[ -n "$PORT" ] || { echo "http.server did not start" >&2; cat "$T/http.log" >&2; exit 1; }
URL="http://127.0.0.1:$PORT/"
serve() { ln -sfn "$1" "$T/www"; }

# A port nothing listens on: bound and closed again.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')

# pins URL [LABELS...]: a pin file without a checkpoint.
pins() {
  local url=$1
  shift
  printf '# ktaudit pins v1\n# our organisation\nlog example.com/dir\nurl %s\nkey %s\nwitness %s\nquorum 1\n\n' \
    "$url" "$VK" "$(cat w1.vkey)"
  for l in "$@"; do printf 'label %s\n' "$l"; done
}
ALICE="alice@example.org $AX $A"

# --- first use, --update, pass ----------------------------------------------------
pins "$URL" "$ALICE" >p.txt
cp p.txt p.orig
expect 0 "first use passes with a warning" -- $K check --pins p.txt
has out "WARN  log consistency: no checkpoint pinned: trusting size 2" "says trust on first use"
has out "PASS  label alice@example.org: version 1 (leaf 0): keys match the approved set (2 keys)" "label passes"
has out "result: pass" "verdict"
same p.txt p.orig "no --update: pin file untouched"
expect 0 "first use with --update" -- $K check --pins p.txt --update --junit r0.xml
has out "PASS  pins update: p.txt: checkpoint pinned at size 2 (first use)" "update reported"
valid r0.xml "first-use JUnit"
grep -q '^checkpoint 2 ' p.txt && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: no checkpoint line" >&2; }
# Only the checkpoint line was added; comments and order are kept.
N=$(diff p.orig p.txt | grep -c '^[<>]' || true)
[ "$N" = 1 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: --update changed $N lines" >&2; }
diff p.orig p.txt | grep -q '^> checkpoint 2 ' && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: diff is not the checkpoint line" >&2; }
cp p.txt p2.txt # pinned at d0 (size 2), for the scenarios below

# Growth with owner-authorized updates: pass, and the pin moves.
cp -a d0 d1
ok "bob signs his update" $K dir add --label bob@example.org --key "$B" --auth-key bob.key d1
ok "carol" $K dir add --label carol@example.org --key "ed25519:$(rnd):phone" d1
ok publish $K dir publish --cosign w1.key d1
serve d1
expect 0 "consistent growth passes" -- $K check --pins p.txt --format junit --junit r1.xml
has out '<testcase classname="ktaudit.log" name="consistency"/>' "consistency testcase passes"
has out '<testcase classname="ktaudit.label" name="alice@example.org"/>' "one testcase per pinned label"
same "$T/out" r1.xml "--format junit and --junit write the same XML"
valid r1.xml "pass JUnit"
cp p.txt p.before
expect 0 "--update after growth" -- $K check --pins p.txt --update
has out "extends the pinned checkpoint: size 2 -> 4" "consistency proof from the tiles"
has out "2 entries since the pinned checkpoint (leaf 2 on): 1 owner-authorized, 1 first versions, 0 unauthorized" "authorization counts"
has out "checkpoint pin moved from size 2 to 4" "pin moved"
N=$(diff p.before p.txt | grep -c '^[<>]' || true)
[ "$N" = 2 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: --update changed $N lines, want 1 replaced" >&2; }
expect 0 "same tree again" -- $K check --pins p.txt --update --format json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["result"]=="pass" and j["exit_code"]==0; assert [c["status"] for c in j["checks"] if c["name"]=="update"]==["pass"]' "$T/out" &&
  PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: json report" >&2; }
has out 'already pins size 4' "update is a no-op on the same tree"

# --- pinned key changed -------------------------------------------------------------
cp -a d0 dk
ok "alice's phone gets a new key, signed by her" $K dir add --label alice@example.org --key "ed25519:$(rnd):phone" --key "$AX" --auth-key alice.key dk
ok publish $K dir publish --cosign w1.key dk
serve dk
cp p2.txt pk.txt
expect 1 "pinned key replaced" -- $K check --pins pk.txt --update --junit rk.xml
has out "FAIL  label alice@example.org: alice@example.org version 2 (leaf 2): key set differs from the pinned set: 0 added, 0 removed, 1 replaced (owner-authorized)" "names the replacement"
has out "SKIP  pins update: pk.txt not updated" "no update on failure"
same pk.txt p2.txt "--update leaves a failing pin file untouched"
valid rk.xml "key-changed JUnit"
grep -q '<failure message="alice@example.org version 2 (leaf 2): key set differs' rk.xml && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: JUnit failure element" >&2; }
expect 1 "github annotations" -- $K check --pins pk.txt --format github
has out "::error title=ktaudit check%3A label alice@example.org::alice@example.org version 2 (leaf 2): key set differs" "annotation"
has out "%0A- key_changed: " "finding on its own annotation line"
expect 1 "json report" -- $K check --pins pk.txt --format json
python3 - "$T/out" <<'PY' && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: json key_changed" >&2; }
import json, sys
j = json.load(open(sys.argv[1]))
assert j["result"] == "fail" and j["exit_code"] == 1
f = [x for x in j["findings"] if x["alert"]["kind"] == "key_changed"]
assert len(f) == 1 and f[0]["status"] == "fail" and f[0]["check"] == "label alice@example.org"
d = f[0]["alert"]["details"]
assert len(d["replaced"]) == 1 and d["added"] == [] and d["removed"] == [] and d["authorized"] is True
PY

# --- a ghost device ----------------------------------------------------------------
cp -a d0 dg
ok "the provider adds a device" $K dir add --label alice@example.org --key "$A" --key "$AX" --key "x25519:$(rnd):ghost" dg
ok publish $K dir publish --cosign w1.key dg
serve dg
expect 1 "ghost key" -- $K check --pins p2.txt --allow-unauthorized
has out "key set differs from the pinned set: 1 added, 0 removed, 0 replaced" "reported as an addition"
has out "FAIL  replay authorization:" "unauthorized on a pinned label fails even with --allow-unauthorized"
has out "- unauthorized_update: alice@example.org version 2 (leaf 2): no key of version 1 signed this update" "lists the finding"

# --- an unauthorized update of another label ---------------------------------------
cp -a d0 du
ok "the provider resets bob" $K dir add --label bob@example.org --key "ed25519:$(rnd):laptop" du
ok publish $K dir publish --cosign w1.key du
serve du
expect 1 "unauthorized update" -- $K check --pins p2.txt --junit ru.xml
has out "FAIL  replay authorization: 1 entries since the pinned checkpoint (leaf 2 on): 0 owner-authorized, 0 first versions, 1 unauthorized" "counted"
has out "PASS  label alice@example.org" "alice is fine"
valid ru.xml "unauthorized JUnit"
expect 0 "tolerated with --allow-unauthorized" -- $K check --pins p2.txt --allow-unauthorized
has out "WARN  replay authorization:" "a warning"

# --- fork against the pin: another directory under the same key ---------------------
ok init $K dir init --origin example.com/dir --key log.key df
ok add $K dir add --label alice@example.org --key "ed25519:$(rnd):phone" df
ok add $K dir add --label bob@example.org --key "$B" df
ok publish $K dir publish --cosign w1.key df
serve df
expect 1 "fork, same size" -- $K check --pins p2.txt --update --junit rf.xml
has out "FAIL  log consistency: fork: size 2 has root" "fork named"
has out "SKIP  label alice@example.org: not checked: the log is not consistent with the pin" "labels skipped"
same p2.txt pk.txt "pin untouched after a fork"
valid rf.xml "fork JUnit"
ok add $K dir add --label carol@example.org --key "$B" df
ok publish $K dir publish --cosign w1.key df
expect 1 "fork, larger" -- $K check --pins p2.txt
has out "fork: the tree of size 3 does not extend the pinned size 2" "no consistency proof"

# --- rollback: an older copy is served ---------------------------------------------
serve d0
expect 1 "rollback" -- $K check --pins p.txt --junit rr.xml
has out "FAIL  log consistency: rollback: the directory serves size 2, smaller than the pinned size 4" "rollback named"
valid rr.xml "rollback JUnit"

# --- unreachable ---------------------------------------------------------------------
pins "http://127.0.0.1:$DEAD/" "$ALICE" >pd.txt
cp pd.txt pd.orig
expect 3 "directory unreachable" -- $K check --pins pd.txt --update --junit rd.xml
has out "ERROR log checkpoint: could not fetch http://127.0.0.1:$DEAD/checkpoint" "names the URL"
has out "result: error" "never a pass"
same pd.txt pd.orig "no update when unreachable"
valid rd.xml "unreachable JUnit"
grep -q '<error message="could not fetch' rd.xml && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: JUnit error element" >&2; }
expect 3 "unreachable, github" -- $K check --pins pd.txt --format github
has out "::error title=ktaudit check%3A log checkpoint::could not fetch" "error annotation"

# --- malformed pin files ---------------------------------------------------------------
serve d0
pins "$URL" "$ALICE" | sed 's/^quorum 1$/quorum 01/' >pm.txt
cp pm.txt pm.orig
expect 2 "malformed pin file" -- $K check --pins pm.txt --update --junit rm.xml
has err "pm.txt:7: quorum" "FILE:LINE"
has out "ERROR pins parse: pm.txt:7: quorum" "in the report too"
same pm.txt pm.orig "malformed file untouched"
valid rm.xml "malformed JUnit"
printf 'log example.com/dir
' >pn.txt
expect 2 "not a pin file" -- $K check --pins pn.txt
has err 'pn.txt:1: the first line must be "# ktaudit pins v1"' "header"
pins "$URL" "alice@example.org ed25519:AAAA:phone" >pb.txt
expect 2 "bad key spec" -- $K check --pins pb.txt
has err "pb.txt:9: alice@example.org: key 1" "names line and key"
expect 2 "missing pin file" -- $K check --pins "$T/nope.txt"
has err "nope.txt" "names the file"

# --- usage ---------------------------------------------------------------------------
expect 2 "neither --pins nor --candidate" -- $K check
expect 2 "both" -- $K check --pins p.txt --candidate d0 --published "$URL" --log-key "$VK"
expect 2 "--update with --candidate" -- $K check --candidate d0 --published "$URL" --log-key "$VK" --update
expect 2 "--published with --pins" -- $K check --pins p.txt --published "$URL"
expect 2 "--candidate without --log-key" -- $K check --candidate d0 --published "$URL"
expect 2 "bad --log-key" -- $K check --candidate d0 --published "$URL" --log-key nope
has err "--log-key" "names the option"
expect 2 "unknown format" -- $K check --pins p.txt --format xml
has err "--format" "names the option"
expect 2 "--json conflicts with --format junit" -- $K check --pins p.txt --json --format junit

# --- lookups only ------------------------------------------------------------------------
serve d1
expect 0 "lookups only" -- $K check --pins p2.txt --lookups-only
has out "PASS  label alice@example.org: version 1 (leaf 0, lookup checkpoint size 2): keys match" "lookup under an older checkpoint"
lacks out "replay" "no replay"
serve dk
expect 1 "lookups only: replaced key" -- $K check --pins p2.txt --lookups-only
has out "1 replaced" "the lookup shows it"
pins "$URL" "$ALICE" "nobody@example.org ed25519:$(rnd):x" >pl.txt
serve d0
expect 1 "lookups only: label without a lookup" -- $K check --pins pl.txt --lookups-only
has out "FAIL  label nobody@example.org: no lookup answer at ${URL}lookup/nobody%2540example.org" "names the URL"

# --- providers: candidate against published ----------------------------------------------
serve d0
cp -a d0 c1
ok "owner-authorized update" $K dir add --label alice@example.org --key "$A" --key "$AX" --auth-key alice.key c1
ok "new label" $K dir add --label dave@example.org --key "ed25519:$(rnd):phone" c1
ok publish $K dir publish c1
expect 0 "candidate extends published" -- $K check --candidate c1 --published "$URL" --log-key "$VK" --junit rc1.xml
has out "PASS  candidate consistency: extends the published tree: size 2 -> 4 (2 new entries" "consistency"
has out "2 new entries (not yet published) (leaf 2 on): 1 owner-authorized, 1 first versions, 0 unauthorized" "authorization counts"
valid rc1.xml "candidate JUnit"
cp -a d0 c2
ok "unauthorized" $K dir add --label bob@example.org --key "ed25519:$(rnd):laptop" c2
ok publish $K dir publish c2
expect 1 "candidate with an unauthorized update" -- $K check --candidate c2 --published "$URL" --log-key "$VK"
has out "1 unauthorized" "counted"
expect 0 "... allowed" -- $K check --candidate c2 --published "$URL" --log-key "$VK" --allow-unauthorized
has out "WARN  replay authorization" "warns"
expect 1 "candidate rewrites history" -- $K check --candidate df --published "$URL" --log-key "$VK" --format junit
has out "the candidate rewrites history" "named"
valid "$T/out" "rewrite JUnit"
serve c1
expect 1 "candidate older than published" -- $K check --candidate d0 --published "$URL" --log-key "$VK"
has out "rollback: the candidate (size 2) is smaller than the published tree (size 4)" "rollback"
serve d0
# A version skip: the publisher never writes one; build it by hand.
mkdir ents
ok entries $MKLOG entries d0 ents
printf 'keydir/v1
label bob@example.org
version 3
time 1764143000
key %s
' "$(echo "$B" | tr ':' ' ')" >ents/00000002
ok build $MKLOG build cskip example.com/dir ents
ok sign $K sign --key log.key --out cskip/checkpoint cskip/checkpoint.txt
expect 1 "candidate with a version skip" -- $K check --candidate cskip --published "$URL" --log-key "$VK" --allow-unauthorized --junit rs.xml
has out "FAIL  replay versions:" "versions fail"
has out "- version_skip: bob@example.org: version 3 at leaf 2 follows version 1 at leaf 1 (gap)" "finding"
valid rs.xml "version skip JUnit"
expect 2 "candidate directory missing" -- $K check --candidate "$T/none" --published "$URL" --log-key "$VK"
has out "ERROR candidate checkpoint" "error check"
expect 3 "published directory unreachable" -- $K check --candidate c1 --published "http://127.0.0.1:$DEAD/" --log-key "$VK"
has out "ERROR published checkpoint: could not fetch" "error check"

# --- the CI examples, run for real ----------------------------------------------------------
cat >runner.py <<'PY'
"""Imitates a CI runner on one job of a workflow file (see the top of test_check.sh).

runner.py github|gitlab FILE JOB WORKSPACE VARS.json
VARS.json: {"vars": {...}} for GitHub `${{ vars.X }}`, {"env": {...}} for the
environment a repository or runner adds. Prints one line per step to stderr
and exits with the job's result (the first failing step's exit code)."""
import json, os, re, subprocess, sys
import yaml

kind, path, job, ws, varsfile = sys.argv[1:6]
doc = yaml.safe_load(open(path))
cfg = json.load(open(varsfile))
env = dict(os.environ)
env.update(cfg.get("env", {}))
env.update({"CI": "true"})

def expr(v):
    """GitHub expressions in values: only ${{ vars.NAME }} and ${{ secrets.NAME }}."""
    def sub(m):
        ctx, name = m.group(1), m.group(2)
        if ctx not in ("vars", "secrets"):
            raise SystemExit("unsupported expression " + m.group(0))
        return cfg.get(ctx, {}).get(name, "")
    return re.sub(r"\$\{\{\s*(vars|secrets)\.(\w+)\s*\}\}", sub, str(v))

def run(script, e, name):
    p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                       cwd=ws, env=e)
    sys.stderr.write("runner: step %r: exit %d\n" % (name, p.returncode))
    return p.returncode

result = 0
if kind == "github":
    j = doc["jobs"][job]
    base = dict(env)
    base.update({"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": ws,
                 "RUNNER_TEMP": os.path.join(ws, "..", "runner-temp")})
    for scope in (doc.get("env") or {}, j.get("env") or {}):
        base.update({k: expr(v) for k, v in scope.items()})
    ran = 0
    for st in j["steps"]:
        name = st.get("name", st.get("uses", "?"))
        cond = str(st.get("if", "success()")).replace("${{", "").replace("}}", "").strip()
        want = {"success()": result == 0, "failure()": result != 0, "always()": True}
        if cond not in want:
            raise SystemExit("unsupported if: " + cond)
        if "uses" in st or name.startswith("Install ktaudit"):
            sys.stderr.write("runner: step %r: not run (environment)\n" % name)
            continue
        if not want[cond]:
            sys.stderr.write("runner: step %r: skipped (if: %s)\n" % (name, cond))
            continue
        e = dict(base)
        e.update({k: expr(v) for k, v in (st.get("env") or {}).items()})
        rc = run(st["run"], e, name)
        ran += 1
        if rc != 0 and result == 0:
            result = rc
    if ran == 0:
        raise SystemExit("no step ran")
else:
    j = doc[job]
    e = dict(env)
    e.update({"GITLAB_CI": "true", "CI_PROJECT_DIR": ws})
    for scope in (doc.get("variables") or {}, j.get("variables") or {}):
        e.update({k: os.path.expandvars(str(v)) for k, v in scope.items()})
    script = "\n".join(j["script"])
    result = run(script, e, job)
    for a in (j.get("artifacts") or {}).get("paths", []):
        if not os.path.exists(os.path.join(ws, a)):
            sys.stderr.write("runner: artifact %s missing\n" % a)
            result = result or 99
sys.exit(result)
PY
mkdir -p bin runner-temp
ln -s "$K" bin/ktaudit
CIPATH="$T/bin:$PATH"
EX=$KTA_SRCDIR/examples/ci
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

# repo NAME PINFILE: a bare "origin" and a clone holding ktaudit/pins.txt.
repo() {
  rm -rf "$1.git" "$1"
  git init -q --bare -b main "$1.git"
  git clone -q "$1.git" "$1" 2>/dev/null
  mkdir -p "$1/ktaudit"
  cp "$2" "$1/ktaudit/pins.txt"
  git -C "$1" add ktaudit/pins.txt
  git -C "$1" -c user.name=t -c user.email=t@example.invalid commit -q -m pins
  git -C "$1" push -q origin main
}
# ci KIND FILE JOB WORKSPACE VARSJSON: runs the job; stderr in $T/err.
ci() { PATH="$CIPATH" python3 runner.py "$@"; }

# GitHub, users: a pass commits the advanced pin to the repository.
serve d1
repo gh p2.txt
echo '{}' >vars.json
expect 0 "GitHub workflow (users): pass" -- ci github "$EX/github-workflow-user.yml" check "$T/gh" vars.json
has out "PASS log checkpoint" "github format on stdout"
has err "runner: step 'Check the key directory against the pins': exit 0" "check step ran"
has err "runner: step 'Commit the advanced checkpoint pin': exit 0" "commit step ran"
has err "runner: step 'Install ktaudit': not run" "install is environment"
git -C gh.git show main:ktaudit/pins.txt >gh.pins
grep -q '^checkpoint 4 ' gh.pins && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: pin not pushed" >&2; }
valid gh/ktaudit-report.xml "workflow JUnit artifact"
# ... and a failure commits nothing.
serve dk
repo gh p2.txt
expect 1 "GitHub workflow (users): key changed" -- ci github "$EX/github-workflow-user.yml" check "$T/gh" vars.json
has out "::error title=ktaudit check%3A label alice@example.org::" "annotation"
has err "runner: step 'Commit the advanced checkpoint pin': skipped" "no commit on failure"
git -C gh.git show main:ktaudit/pins.txt >gh.pins
same gh.pins p2.txt "repository pin unchanged"
valid gh/ktaudit-report.xml "failing workflow JUnit artifact"

# GitLab, users.
serve d1
repo gl p2.txt
printf '{"env": {"KTAUDIT_PUSH_URL": "%s", "CI_COMMIT_BRANCH": "main"}}\n' "$T/gl.git" >glvars.json
git -C gl checkout -q --detach # GitLab checks out a detached HEAD
expect 0 "GitLab job (users): pass" -- ci gitlab "$EX/gitlab-ci-user.yml" ktaudit-pins "$T/gl" glvars.json
git -C gl.git show main:ktaudit/pins.txt >gl.pins
grep -q '^checkpoint 4 ' gl.pins && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: GitLab pin not pushed" >&2; }
valid gl/ktaudit-report.xml "GitLab JUnit report"
serve df
repo gl p2.txt
git -C gl checkout -q --detach
expect 1 "GitLab job (users): fork" -- ci gitlab "$EX/gitlab-ci-user.yml" ktaudit-pins "$T/gl" glvars.json
has out "fork" "reported"
git -C gl.git show main:ktaudit/pins.txt >gl.pins
same gl.pins p2.txt "GitLab repository pin unchanged"

# Providers: the live directory is web root "live", served; the publisher's
# working directory "work" holds queued updates.
cp -a d0 work
mkdir live
tar -C work --exclude=./.ktaudit -cf - . | tar -C live -xf -
serve live
ok "queue an update" $K dir add --label alice@example.org --key "$A" --key "$AX" --auth-key alice.key work
mkdir ws-gh ws-gl
printf '{"vars": {"KEYDIR_URL": "%s", "KEYDIR_LOG_VKEY": "%s", "KEYDIR_WORKDIR": "%s", "KEYDIR_WEB_ROOT": "%s"}}\n' \
  "$URL" "$VK" "$T/work" "$T/live" >ghp.json
expect 0 "GitHub workflow (providers): publishes" -- ci github "$EX/github-workflow-provider.yml" publish "$T/ws-gh" ghp.json
has err "runner: step 'Publish': exit 0" "published"
same live/checkpoint work/checkpoint "the live checkpoint is the candidate's"
[ -d live/.ktaudit ] && { FAIL=$((FAIL + 1)); echo "FAIL: private state published" >&2; } || PASS=$((PASS + 1))
# (the reference publisher does not cosign here: pins without a witness)
grep -v '^witness \|^quorum ' p2.txt >pw.txt
expect 0 "the published directory verifies" -- $K check --pins pw.txt
has out "PASS  label alice@example.org: version 2 (leaf 2)" "with the new entry"
valid ws-gh/ktaudit-candidate.xml "provider JUnit"
# A working directory that rewrites history is never published.
cp live/checkpoint live.before
rm -rf work && cp -a df work
ok "queue" $K dir add --label erin@example.org --key "$B" work
expect 1 "GitHub workflow (providers): rewrite blocked" -- ci github "$EX/github-workflow-provider.yml" publish "$T/ws-gh" ghp.json
has err "runner: step 'Publish': skipped" "not published"
has out "the candidate rewrites history" "annotated"
same live/checkpoint live.before "live directory unchanged"

# GitLab, providers.
rm -rf work && cp -a d0 work
rm -rf live && mkdir live && tar -C work --exclude=./.ktaudit -cf - . | tar -C live -xf -
ok "queue" $K dir add --label bob@example.org --key "$B" --auth-key bob.key work
printf '{"env": {"KEYDIR_URL": "%s", "KEYDIR_LOG_VKEY": "%s", "KEYDIR_WORKDIR": "%s", "KEYDIR_WEB_ROOT": "%s"}}\n' \
  "$URL" "$VK" "$T/work" "$T/live" >glp.json
expect 0 "GitLab job (providers): publishes" -- ci gitlab "$EX/gitlab-ci-provider.yml" publish-keydir "$T/ws-gl" glp.json
same live/checkpoint work/checkpoint "GitLab published the candidate"
valid ws-gl/ktaudit-candidate.xml "GitLab provider JUnit"
cp live/checkpoint live.before
ok "an unauthorized reset" $K dir add --label bob@example.org --key "ed25519:$(rnd):laptop" work
expect 1 "GitLab job (providers): unauthorized update blocked" -- ci gitlab "$EX/gitlab-ci-provider.yml" publish-keydir "$T/ws-gl" glp.json
has out "1 unauthorized" "reported"
same live/checkpoint live.before "GitLab did not publish"

finish
