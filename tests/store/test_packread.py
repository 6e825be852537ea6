"""store/packread: objects read from pack files equal git's, whatever the
pack holds (offset and ref deltas, big and incompressible objects, several
packs, packs written later); anything else is left to libgit2."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pygit2
import pytest

from pubinbox.errors import CorruptObject
from pubinbox.store import packread
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout
from pubinbox.store.packread import Packs
from tests.helpers import run_cli

KINDS = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], input=data, check=True, capture_output=True).stdout


def _repo(tmp_path: Path, n: int = 60, seed: int = 1) -> Path:
    """A bare repository of *n* commits of similar text files (deltas),
    a big incompressible blob and a tag, all loose."""
    repo = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    rnd = random.Random(seed)
    words = [f"word{i}" for i in range(300)]
    text = [" ".join(rnd.choices(words, k=12)) for _ in range(400)]
    parent = None
    for i in range(n):
        text[rnd.randrange(len(text))] = f"line changed in commit {i}"
        blobs = [_git(repo, "hash-object", "-w", "--stdin", data="\n".join(text).encode()).strip()]
        if i == n // 2:
            blobs.append(_git(repo, "hash-object", "-w", "--stdin", data=rnd.randbytes(300_000)).strip())
        tree_in = "".join(f"100644 blob {b.decode()}\tf{j}\n" for j, b in enumerate(blobs))
        tree = _git(repo, "mktree", data=tree_in.encode()).strip().decode()
        args = ["commit-tree", tree, "-m", f"c{i}"] + (["-p", parent] if parent else [])
        parent = _git(repo, *args).strip().decode()
    _git(repo, "update-ref", "refs/heads/master", parent)
    _git(repo, "tag", "-a", "-m", "a tag", "v1", parent)
    return repo


def _objects(repo: Path) -> dict[str, tuple[int, bytes]]:
    ids = _git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)").split(b"\n")
    out = {}
    for line in filter(None, ids):
        oid, kind = line.decode().split()
        out[oid] = (KINDS[kind], _git(repo, "cat-file", kind, oid))
    return out


def _check_all(repo: Path) -> int:
    want = _objects(repo)
    packs = Packs(repo)
    try:
        for oid, got in want.items():
            assert packs.read(bytes.fromhex(oid)) == got, oid
    finally:
        packs.close()
    return len(want)


@pytest.mark.parametrize("offsets", [True, False], ids=["ofs-delta", "ref-delta"])
def test_every_object_equals_git(tmp_path: Path, offsets: bool) -> None:
    repo = _repo(tmp_path)
    _git(repo, "-c", f"repack.usedeltabaseoffset={str(offsets).lower()}", "repack", "-adfq", "--depth=50")
    assert not list((repo / "objects").glob("??/*"))  # all packed
    verify = _git(repo, "verify-pack", "-v", *map(str, (repo / "objects" / "pack").glob("*.idx"))).decode()
    assert "chain length = 2" in verify  # deltas of deltas are there to be read
    assert _check_all(repo) > 120


def test_cold_and_warm_base_cache_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path)
    _git(repo, "repack", "-adfq")
    monkeypatch.setattr(packread, "_BASES", packread._Bases(0))  # nothing cached
    _check_all(repo)
    monkeypatch.setattr(packread, "_BASES", packread._Bases(64 << 10))  # a few bases, evicted often
    _check_all(repo)
    _check_all(repo)
    assert packread._BASES.size <= 64 << 10


def test_loose_objects_and_new_packs(tmp_path: Path) -> None:
    repo = _repo(tmp_path, n=10)
    packs = Packs(repo)
    blob = _git(repo, "rev-parse", "master:f0").strip().decode()
    assert packs.read(bytes.fromhex(blob)) is None  # loose: libgit2's
    _git(repo, "repack", "-adq")  # a pack written after the list was read
    assert packs.read(bytes.fromhex(blob)) == (3, _git(repo, "cat-file", "blob", blob))
    assert packs.read(bytes(20)) is None
    packs.close()


@pytest.mark.parametrize("same_name", [False, True], ids=["new-name", "same-name"])
def test_a_pack_repacked_away_before_its_first_read(tmp_path: Path, same_name: bool) -> None:
    """The index is mapped at once, the pack opened on first read: a repack
    in between (one that moves every object: no deltas) must not have the
    old index's offsets read in another pack, even one given the old name
    (git before 2.41 named packs by their object ids).  The pack's trailing
    checksum, kept in its index, tells them apart; the list is read again."""
    repo = _repo(tmp_path, n=10)
    _git(repo, "repack", "-adfq")
    want = _objects(repo)
    pack_dir = repo / "objects" / "pack"
    packs = Packs(repo)
    before = {p.pack_path.name: p for p in packs.packs}
    (old,) = before
    _git(repo, "repack", "-adfq", "--window=0")
    if same_name:
        (new,) = (p.name for p in pack_dir.glob("*.pack"))
        for ext in (".pack", ".idx"):
            (pack_dir / new).with_suffix(ext).rename((pack_dir / old).with_suffix(ext))
        for other in pack_dir.glob(Path(new).stem + ".*"):
            other.unlink()
    for oid, got in want.items():
        assert packs.read(bytes.fromhex(oid)) == got, oid
    assert all(p is not before.get(p.pack_path.name) for p in packs.packs)
    packs.close()


def test_git_reader_prefers_packs_and_falls_back(tmp_path: Path) -> None:
    """GitReader.blob: from the epoch's packs, from libgit2 for a loose
    blob, CorruptObject for a missing one or for a damaged pack."""
    top = tmp_path / "inbox"
    epoch = Layout(top).epoch(0)
    epoch.parent.mkdir(parents=True)
    _repo(tmp_path, n=12).rename(epoch)
    all_git = Layout(top).all_git
    subprocess.run(["git", "init", "-q", "--bare", str(all_git)], check=True)
    (all_git / "objects" / "info" / "alternates").write_text(f"{epoch / 'objects'}\n")
    _git(epoch, "repack", "-adq")
    loose = _git(epoch, "hash-object", "-w", "--stdin", data=b"a loose message\n").strip().decode()
    reader = GitReader(Layout(top), direct=True)
    want = _objects(epoch)
    for oid, (kind, data) in want.items():
        if kind == 3:
            assert reader.blob(oid, 0) == data
    assert reader.blob(loose, 0) == b"a loose message\n"
    with pytest.raises(CorruptObject):
        reader.blob("0" * 40, 0)
    reads = 0
    orig = reader._packs_of(0).read

    def counting(sha: bytes) -> tuple[int, bytes] | None:
        nonlocal reads
        reads += 1
        return orig(sha)

    reader._packs_of(0).read = counting  # type: ignore[method-assign]
    oid = next(o for o, (k, _d) in want.items() if k == 3)
    assert reader.blob(oid, 0) == want[oid][1] and reads == 1
    plain = GitReader(Layout(top))  # not direct: libgit2 only
    assert plain.blob(oid, 0) == want[oid][1] and not plain._packs
    # damage every object's bytes past the pack header: no wrong bytes, only CorruptObject
    pack = next((epoch / "objects" / "pack").glob("*.pack"))
    os.chmod(pack, 0o644)
    raw = bytearray(pack.read_bytes())
    for i in range(20, len(raw) - 20, 7):
        raw[i] ^= 0x55
    pack.write_bytes(bytes(raw))
    reader = GitReader(Layout(top), direct=True)
    odd = 0
    for oid, (kind, data) in want.items():
        if kind == 3:
            try:
                assert reader.blob(oid, 0) == data
            except CorruptObject:
                odd += 1
    assert odd > 0
    reader.close_packs()


def test_sample_archive_blobs_equal_libgit2(tmp_path: Path, sample_mbox: Path) -> None:
    """Every blob of the sample archive (imported by fast-import, as the
    README's first command does), through GitReader, equals libgit2's."""
    env = {"PI_CONFIG": str(tmp_path / "config")}
    top = tmp_path / "s"
    run_cli("init", "-L", "basic", "s", str(top), "http://example.com/s/", "s@example.com", env=env, check=True)
    run_cli("import", str(top), str(sample_mbox), env=env, check=True)
    epoch = Layout(top).epoch(0)
    assert list((epoch / "objects" / "pack").glob("*.pack"))
    reader = GitReader(Layout(top), direct=True)
    repo = pygit2.Repository(str(epoch))
    n = 0
    for obj in repo.odb:
        kind, data = repo.odb.read(obj)
        if kind == 3:
            assert reader._packs_of(0).read(obj.raw) == (3, data)
            assert reader.blob(str(obj), 0) == data
            n += 1
    assert n >= 295


def test_bases_are_bounded_and_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, n=30)
    _git(repo, "repack", "-adfq")
    monkeypatch.setattr(packread, "_BASES", packread._Bases(packread.BASE_CACHE_BYTES))
    _check_all(repo)
    assert 0 < packread._BASES.size <= packread.BASE_CACHE_BYTES
    packread.drop_bases()  # what an idle server worker does (Site.release)
    assert packread._BASES.size == 0 and not packread._BASES.items


def test_bases_are_keyed_by_the_packs_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack opened again (a reader closed by an idle worker) finds the
    bases it cached; another pack, even under the same name, never does."""
    repo = _repo(tmp_path, n=30)
    _git(repo, "repack", "-adfq")
    monkeypatch.setattr(packread, "_BASES", packread._Bases(packread.BASE_CACHE_BYTES))
    (idx,) = (repo / "objects" / "pack").glob("*.idx")
    trailer = idx.with_suffix(".pack").read_bytes()[-20:]
    packs = Packs(repo)
    assert [p.key for p in packs.packs] == [trailer]
    want = _objects(repo)
    for oid in want:
        packs.read(bytes.fromhex(oid))
    packs.close()
    cached = set(packread._BASES.items)
    assert cached and {k for k, _off in cached} == {trailer}
    hits = []
    real_get = packread._BASES.get
    monkeypatch.setattr(packread._BASES, "get", lambda key: hits.append(real_get(key) is not None) or real_get(key))
    again = Packs(repo)
    assert all(again.read(bytes.fromhex(oid)) == want[oid] for oid in want)
    assert hits and all(hits)  # every base from the cache
    _git(repo, "repack", "-adfq", "--window=0")  # the same objects, another pack
    other = Packs(repo)
    assert [p.key for p in other.packs] != [trailer]


def test_a_delta_chain_past_the_depth_limit_is_left_to_libgit2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, n=40)
    _git(repo, "repack", "-adfq", "--depth=50")
    monkeypatch.setattr(packread, "_BASES", packread._Bases(0))
    monkeypatch.setattr(packread, "_MAX_DEPTH", 1)
    want = _objects(repo)
    packs = Packs(repo)
    got = {oid: packs.read(bytes.fromhex(oid)) for oid in want}
    packs.close()
    answered = {oid for oid, g in got.items() if g is not None}
    assert 0 < len(answered) < len(want)  # whole objects and one-link deltas only
    assert all(got[oid] == want[oid] for oid in answered)


def test_the_cache_is_resized_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``size_bases`` (``pubinbox.deltacache``) bounds what is already kept,
    and 0 keeps nothing while reads stay right."""
    repo = _repo(tmp_path, n=30)
    _git(repo, "repack", "-adfq")
    monkeypatch.setattr(packread, "_BASES", packread._Bases(packread.BASE_CACHE_BYTES))
    _check_all(repo)
    kept = packread._BASES.size
    assert kept > 64 << 10
    packread.size_bases(64 << 10)
    assert 0 < packread._BASES.size <= 64 << 10 < kept
    packread.size_bases(0)
    assert packread._BASES.size == 0
    _check_all(repo)
    assert packread._BASES.size == 0 and not packread._BASES.items


def _xinuse() -> Any:
    """A function returning XGETBV(1), the processor's XINUSE bitmap (which
    register states are in use), or None where it cannot be asked."""
    import ctypes
    import mmap
    import platform

    if platform.machine() != "x86_64" or "xgetbv1" not in Path("/proc/cpuinfo").read_text().split():
        return None
    try:
        buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):  # no executable memory here
        return None
    # mov ecx, 1; xgetbv; shl rdx, 32; or rax, rdx; ret
    buf.write(b"\xb9\x01\x00\x00\x00\x0f\x01\xd0\x48\xc1\xe2\x20\x48\x09\xd0\xc3")
    f = ctypes.CFUNCTYPE(ctypes.c_uint64)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))
    f.keep = buf
    return f


def test_a_read_leaves_the_vector_registers_clean(tmp_path: Path) -> None:
    """The inflate must not return with the upper halves of the AVX registers
    in use (XINUSE bits 2 and 6): every SSE instruction of the process would
    then pay for it (ISA-L's inflate does this; the header scan ran 2.3x
    slower after it)."""
    xinuse = _xinuse()
    if xinuse is None:
        pytest.skip("XGETBV(1) is not available here")
    repo = _repo(tmp_path, n=20)
    _git(repo, "repack", "-adfq")
    packs = Packs(repo)
    dirty = 0b1000100  # YMM_Hi128, ZMM_Hi256
    for oid in _objects(repo):
        assert packs.read(bytes.fromhex(oid)) is not None
        assert not xinuse() & dirty, oid


def test_a_scan_keeps_its_bases_to_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads inside ``private_bases()`` fill a cache of their own (and still use
    the process's); reads outside fill the process's; each asyncio task has
    its own context, so a scanning client does not change another's reads."""
    import asyncio

    repo = _repo(tmp_path, n=30)
    _git(repo, "repack", "-adfq")
    monkeypatch.setattr(packread, "_BASES", packread._Bases(packread.BASE_CACHE_BYTES))
    with packread.private_bases():
        _check_all(repo)  # every object equal to git's
    assert packread._BASES.size == 0
    _check_all(repo)
    filled = packread._BASES.size
    assert filled > 0
    with packread.private_bases():
        _check_all(repo)  # served from the process's cache, which does not change
    assert packread._BASES.size == filled

    packread.drop_bases()
    want = _objects(repo)
    packs = Packs(repo)

    async def reader(scan: bool) -> None:
        with packread.private_bases() if scan else contextlib.nullcontext():
            for oid in want:
                assert packs.read(bytes.fromhex(oid)) == want[oid]
                await asyncio.sleep(0)  # the other task reads meanwhile

    async def both() -> None:
        await asyncio.gather(reader(True), reader(False))

    asyncio.run(both())
    assert packread._BASES.size > 0  # the task that does not scan filled it
