#!/usr/bin/env bash
# ktaudit(1) and --version: the man page documents every command and option
# of the CLI's own table (`ktaudit --list-options`) and nothing else; the
# checker itself rejects a page with an option removed or invented.
. "$(dirname "$0")/lib.sh"
MAN=$KTA_SRCDIR/docs/ktaudit.1
CHECK="python3 $KTA_SRCDIR/tests/tools/mancheck.py"

expect 0 "list options" -- "$KTAUDIT" --list-options
cp "$T/out" "$T/opts"
has out "verify checkpoint	--log-key" "table lists verify checkpoint --log-key"
has out "monitor	--once" "table lists monitor --once"
n=$(cut -f1 "$T/opts" | sort -u | wc -l)
[ "$n" -ge 20 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: only $n commands listed" >&2; }

expect 0 "man page agrees with the option table" -- $CHECK "$MAN" "$T/opts"

# Negative: drop one documented option, invent another, drop a section.
sed 's/max\\-age/max\\-aged/g' "$MAN" >"$T/bad1.1"
cmp -s "$MAN" "$T/bad1.1" && { FAIL=$((FAIL + 1)); echo "FAIL: mutation 1 did not apply" >&2; }
expect 1 "renamed option is caught" -- $CHECK "$T/bad1.1" "$T/opts"
has out 'option --max-age not documented' "missing option named"
has out 'documents --max-aged' "invented option named"
sed 's/^\.SS "history"$/.SS "histories"/' "$MAN" >"$T/bad2.1"
expect 1 "missing command section is caught" -- $CHECK "$T/bad2.1" "$T/opts"
has out 'command "history": no .SS section' "missing section named"
printf 'verify checkpoint\t--no-such-option\n' >>"$T/opts"
expect 1 "option added to the CLI but not the page is caught" -- $CHECK "$MAN" "$T/opts"

# The page renders without warnings when groff is available.
if command -v groff >/dev/null; then
  expect 0 "man page renders" -- groff -man -Tutf8 -ww -z "$MAN"
  [ ! -s "$T/err" ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: groff warnings:" >&2; cat "$T/err" >&2; }
fi

# --version names ktaudit and the four libraries it runs with.
expect 0 "--version" -- "$KTAUDIT" --version
has out "ktaudit 0." "version line"
has out "OpenSSL 3." "OpenSSL version"
has out "libcurl " "libcurl version"
has out "jansson " "jansson version"
has out "SQLite 3." "SQLite version"
expect 0 "version (word)" -- "$KTAUDIT" version
finish
