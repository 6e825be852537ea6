#!/usr/bin/env python3
"""Regenerate sample/sample.mbox from a public-inbox v2 epoch.

usage: make_sample.py BUNDLE_OR_GIT_DIR [OUT.mbox] [--messages N]
                      [--max-bytes N] [--max-thread N]

BUNDLE_OR_GIT_DIR is a git bundle of one public-inbox v2 epoch (e.g.
shared/corpus/epochs/linux-erofs.lists.ozlabs.org.0.bundle) or an already
cloned epoch repository.  Stdlib only; needs git on PATH.

Selection: messages are grouped into threads, a thread being a connected
component of the graph whose edges are Message-ID <-> References/In-Reply-To
ids (ids referenced but absent from the list still join messages, as
public-inbox's "ghost" threading does).  Threads are then taken whole, newest
first by their first message's position in commit order, until at least
--messages messages have been taken or the next thread would take the
output past --max-bytes.  Threads larger than --max-thread
messages are passed over (so one runaway thread cannot fill the sample).
Because threads are taken whole, every message's parents are in the sample
whenever they exist in the list.

The output is mboxrd in commit order, byte for byte as
shared/corpus/tools/epoch2mboxrd.py writes it (and as public-inbox does):
"From mboxrd@z Thu Jan  1 00:00:00 1970" separators, ^>*From  lines get
one more ">", a trailing newline is added where missing, then a blank line.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

FROM_RE = re.compile(rb'^(>*From )', re.MULTILINE)
FROM_LINE = b'From mboxrd@z Thu Jan  1 00:00:00 1970\n'
MID_RE = re.compile(rb'<([^<>\s]+)>')
HDR_RE = re.compile(rb'^(message-id|in-reply-to|references)[ \t]*:(.*)$',
                    re.IGNORECASE | re.MULTILINE)


def git(git_dir: str, *args: str) -> bytes:
    return subprocess.run(['git', '--git-dir', git_dir, *args], check=True,
                          stdout=subprocess.PIPE).stdout


def commits(git_dir: str) -> list[bytes]:
    return git(git_dir, 'rev-list', '--reverse', '--topo-order',
               'HEAD').split()


def blobs(git_dir: str, revs: list[bytes]):
    """Yield raw bytes of <rev>:m for each rev (None when absent)."""
    import threading
    p = subprocess.Popen(['git', '--git-dir', git_dir, 'cat-file', '--batch'],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def feed() -> None:
        assert p.stdin is not None
        for r in revs:
            p.stdin.write(r + b':m\n')
        p.stdin.close()
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    out = p.stdout
    assert out is not None
    for _ in revs:
        hdr = out.readline()
        if hdr.endswith(b' missing\n'):
            yield None
            continue
        size = int(hdr.split()[2])
        data = out.read(size)
        out.read(1)  # trailing LF
        yield data
    t.join()
    p.wait()


def mboxrd_entry(raw: bytes) -> bytes:
    body = FROM_RE.sub(rb'>\1', raw)
    if not body.endswith(b'\n'):
        body += b'\n'
    return FROM_LINE + body + b'\n'


def header_ids(raw: bytes) -> tuple[list[bytes], list[bytes]]:
    """(Message-IDs, referenced ids) from the header block of raw."""
    end = raw.find(b'\n\n')
    hdr = raw if end < 0 else raw[:end + 1]
    hdr = hdr.replace(b'\r\n', b'\n')
    hdr = re.sub(rb'\n[ \t]+', b' ', hdr)  # unfold
    mids: list[bytes] = []
    refs: list[bytes] = []
    for m in HDR_RE.finditer(hdr):
        ids = MID_RE.findall(m.group(2))
        if m.group(1).lower() == b'message-id':
            mids.extend(ids)
        else:
            refs.extend(ids)
    return mids, refs


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x: object) -> object:
        p = self.parent.setdefault(x, x)
        while p != x:
            gp = self.parent[p]
            self.parent[x] = gp
            x, p = p, self.parent.setdefault(gp, gp)
        return x

    def union(self, a: object, b: object) -> None:
        ra, rb_ = self.find(a), self.find(b)
        if ra != rb_:
            self.parent[ra] = rb_


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('source', help='epoch bundle or git dir')
    ap.add_argument('out', nargs='?',
                    default=os.path.join(os.path.dirname(
                        os.path.abspath(__file__)), 'sample.mbox'))
    ap.add_argument('--messages', type=int, default=400,
                    help='stop once at least this many are taken')
    ap.add_argument('--max-bytes', type=int, default=5 * 1024 * 1024,
                    help='stop before the output would grow past this')
    ap.add_argument('--max-thread', type=int, default=60,
                    help='skip threads with more messages than this')
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix='make_sample.') as tmp:
        if os.path.isfile(args.source):
            git_dir = os.path.join(tmp, 'epoch.git')
            subprocess.run(['git', 'clone', '-q', '--mirror', args.source,
                            git_dir], check=True)
        else:
            git_dir = args.source
        revs = commits(git_dir)
        raws: list[bytes | None] = list(blobs(git_dir, revs))

    uf = UnionFind()
    for i, raw in enumerate(raws):
        if raw is None:
            continue
        node = ('msg', i)
        uf.find(node)
        mids, refs = header_ids(raw)
        for mid in mids + refs:
            uf.union(node, ('mid', mid))

    threads: dict[object, list[int]] = {}
    for i, raw in enumerate(raws):
        if raw is not None:
            threads.setdefault(uf.find(('msg', i)), []).append(i)

    chosen: list[int] = []
    nthreads = total = 0
    for members in sorted(threads.values(), key=lambda m: m[0],
                          reverse=True):
        if len(chosen) >= args.messages:
            break
        if len(members) > args.max_thread:
            continue
        tsize = sum(len(mboxrd_entry(raws[i] or b'')) for i in members)
        if total + tsize > args.max_bytes:
            break
        chosen.extend(members)
        nthreads += 1
        total += tsize
    chosen.sort()

    size = 0
    with open(args.out, 'wb') as f:
        for i in chosen:
            raw = raws[i]
            assert raw is not None
            entry = mboxrd_entry(raw)
            size += len(entry)
            f.write(entry)
    print(f'{args.out}: {len(chosen)} messages in {nthreads} threads, '
          f'{size} bytes, commits {revs[chosen[0]].decode()[:12]}'
          f'..{revs[chosen[-1]].decode()[:12]} '
          f'(#{chosen[0] + 1}..#{chosen[-1] + 1} of {len(revs)})',
          file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
