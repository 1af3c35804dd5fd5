#!/usr/bin/env python3
"""Checks ktaudit(1) against the CLI's own option table.

Usage: mancheck.py MANPAGE OPTIONS_FILE
OPTIONS_FILE is the output of `ktaudit --list-options` (COMMAND TAB --OPTION).
Each command must have a `.SS "COMMAND"` section that names every option of
the command and no option the command does not have. --json and --help are
global (documented once under DESCRIPTION). Exit 0 when they agree, 1 with
one line per disagreement otherwise.
"""
import re
import sys

GLOBAL = {"--json", "--help"}


def sections(text):
    out, name, body = {}, None, []
    for line in text.splitlines():
        m = re.match(r'^\.SS\s+"?([^"]+?)"?\s*$', line)
        if m or line.startswith(".SH"):
            if name is not None:
                out[name] = "\n".join(body)
            name, body = (m.group(1) if m else None), []
            continue
        if name is not None:
            body.append(line)
    if name is not None:
        out[name] = "\n".join(body)
    return out


def options_in(body):
    # roff writes "-" as "\-"; an option is \-\-word(\-word)*.
    found = set()
    for m in re.finditer(r"\\-\\-([a-z0-9]+(?:\\-[a-z0-9]+)*)", body):
        found.add("--" + m.group(1).replace("\\-", "-"))
    return found


def main():
    man = open(sys.argv[1], encoding="utf-8").read()
    table = {}
    for line in open(sys.argv[2], encoding="utf-8"):
        cmd, opt = line.rstrip("\n").split("\t")
        table.setdefault(cmd, set())
        if opt:
            table[cmd].add(opt)
    secs = sections(man)
    problems = []
    for cmd, opts in sorted(table.items()):
        if cmd not in secs:
            problems.append(f'command "{cmd}": no .SS section')
            continue
        doc = options_in(secs[cmd])
        for o in sorted(opts - GLOBAL - doc):
            problems.append(f'command "{cmd}": option {o} not documented')
        for o in sorted(doc - opts - GLOBAL):
            problems.append(f'command "{cmd}": documents {o}, which it does not have')
    for s in sorted(set(secs) - set(table)):
        problems.append(f'section "{s}": no such command')
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
