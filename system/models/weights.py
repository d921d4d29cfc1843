"""Moving weights around: a checkpoint folder's tensors, named-tensor iterables, and checksummed chunks.

A state dict crosses process boundaries as a stream of `WeightChunk`s: each at most ``max_bytes`` of
tensor data in safetensors format (no pickle) with its SHA-256, a tensor larger than a chunk split
into flat pieces over several chunks. No single bytes object grows with the model, so a model of
any size syncs (msgspec, which vLLM's RPC uses, refuses a bytes object over 4 GiB, and one blob of a
whole model was copied about ten times on its way). The receiver verifies every chunk before it
touches a tensor (`ChunkAssembler`) and yields whole tensors as soon as their last piece arrives.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from system.errors import QdcError

if TYPE_CHECKING:
    import torch

DEFAULT_CHUNK_BYTES = 256 * 2**20


class WeightTransferError(QdcError):
    """Weights arrived damaged, incomplete or not at all; the message says which."""


def as_state_dict(
    weights: "Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]",
) -> "dict[str, torch.Tensor]":
    """A plain dict of detached, contiguous CPU tensors from a state dict or (name, tensor) pairs."""
    items = weights.items() if isinstance(weights, Mapping) else weights
    return {name: t.detach().to("cpu").contiguous() for name, t in items}


def read_checkpoint_weights(model_dir: str | Path) -> "dict[str, torch.Tensor]":
    """All tensors of a save_pretrained folder (one safetensors file or an indexed set of shards)."""
    from safetensors.torch import load_file

    p = Path(model_dir)
    single = p / "model.safetensors"
    if single.is_file():
        return load_file(str(single))
    index = p / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        out: dict[str, torch.Tensor] = {}
        for shard in shards:
            out.update(load_file(str(p / shard)))
        return out
    raise QdcError(f"{p}: no model.safetensors (or index) in the checkpoint folder")


_LAYER_INDEX = re.compile(r"^(.*?)\.(\d+)\.")


def layer_key(name: str) -> str | None:
    """The decoder layer a weight belongs to (``model.layers.7.mlp.up_proj.weight`` -> ``model.layers.7``),
    None for weights outside the layer stack (embeddings, final norm, head)."""
    m = _LAYER_INDEX.match(name)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def layer_groups(names: Iterable[str]) -> list[list[str]]:
    """Weight names grouped by decoder layer, in first-appearance order; names outside the layer stack
    form one group before it and one after. The unit in which ZeRO-3 weights are gathered for sending
    and in which a receiver loads them (a layer is never left half old, half new)."""
    groups: dict[str, list[str]] = {}
    inside = False
    for name in names:
        key = layer_key(name)
        inside = inside or key is not None
        groups.setdefault(key or ("<after>" if inside else "<before>"), []).append(name)
    return list(groups.values())


class LayerBatcher:
    """Holds whole tensors back until their decoder layer is complete (the next tensor belongs to
    another layer, or the stream ends), so that a stream that breaks off never leaves a layer with
    some new and some old weights. Senders send layer by layer (`layer_groups` order)."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._held: list[tuple[str, Any]] = []

    def add(self, name: str, tensor: Any) -> "list[tuple[str, torch.Tensor]]":
        key = layer_key(name)
        out: list[tuple[str, Any]] = []
        if self._held and key != self._key:
            out, self._held = self._held, []
        self._key = key
        self._held.append((name, tensor))
        return out

    def flush(self) -> "list[tuple[str, torch.Tensor]]":
        out, self._held = self._held, []
        return out


# ------------------------------------------------------------------------------------------------
# chunks


@dataclass(frozen=True)
class Piece:
    """Elements ``start .. start + count`` of tensor ``name`` (flattened), stored in a chunk under ``key``."""

    name: str
    key: str
    shape: tuple[int, ...]  # the whole tensor's shape
    start: int
    count: int


@dataclass(frozen=True)
class WeightChunk:
    index: int
    data: bytes  # safetensors: one flat tensor per piece
    checksum: str  # sha256 of data
    pieces: tuple[Piece, ...]

    @property
    def nbytes(self) -> int:
        return len(self.data)

    def to_wire(self) -> dict[str, Any]:
        """Plain types only (str, int, bytes, lists), for RPC layers that serialize with msgpack."""
        return {"index": self.index, "data": self.data, "checksum": self.checksum,
                "pieces": [[p.name, p.key, list(p.shape), p.start, p.count] for p in self.pieces]}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> "WeightChunk":
        pieces = tuple(Piece(str(n), str(k), tuple(int(x) for x in s), int(a), int(c)) for n, k, s, a, c in wire["pieces"])
        return cls(int(wire["index"]), bytes(wire["data"]), str(wire["checksum"]), pieces)


@dataclass(frozen=True)
class StreamSummary:
    """What the sender sent, for the receiver to check against what it got."""

    chunks: int
    tensors: int
    nbytes: int


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class ChunkWriter:
    """Packs (name, tensor) pairs into chunks of at most ``max_bytes`` of tensor data, in order.

    `add` returns the chunks completed by that tensor (none, one, or several for a tensor larger than
    a chunk); `close` returns the last, partly filled one. ``dtype`` casts every tensor first (the
    generators' dtype: a bf16 engine needs no fp32 copy of the learner's master weights).
    """

    def __init__(self, max_bytes: int = DEFAULT_CHUNK_BYTES, dtype: "torch.dtype | None" = None):
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.max_bytes = max_bytes
        self.dtype = dtype
        self._tensors: dict[str, torch.Tensor] = {}
        self._pieces: list[Piece] = []
        self._bytes = 0
        self._index = 0
        self.tensors = 0
        self.nbytes = 0
        self.names: set[str] = set()

    def add(self, name: str, tensor: "torch.Tensor") -> list[WeightChunk]:
        if name in self.names:
            raise WeightTransferError(f"tensor {name!r} sent twice in one sync")
        self.names.add(name)
        t = tensor.detach()
        if self.dtype is not None and t.is_floating_point():
            t = t.to(self.dtype)
        flat = t.to("cpu").contiguous().view(-1)
        shape = tuple(int(d) for d in tensor.shape)
        self.tensors += 1
        per_element, total = flat.element_size(), flat.numel()
        out: list[WeightChunk] = []
        start = 0
        while True:
            left = total - start
            room = (self.max_bytes - self._bytes) // per_element
            if not self._pieces:
                room = max(room, 1)
            if left <= room:
                self._put(name, shape, flat, start, left)
                if self._bytes >= self.max_bytes:
                    out.append(self._flush())
                return out
            if self._pieces and (left * per_element <= self.max_bytes or room < 1):
                out.append(self._flush())  # a tensor that fits in a fresh chunk is not split
                continue
            self._put(name, shape, flat, start, room)
            start += room
            out.append(self._flush())

    def _put(self, name: str, shape: tuple[int, ...], flat: "torch.Tensor", start: int, count: int) -> None:
        key = str(len(self._pieces))
        # a copy: pieces must not share storage (safetensors refuses shared tensors, e.g. tied weights)
        self._tensors[key] = flat[start : start + count].clone()
        self._pieces.append(Piece(name, key, shape, start, count))
        self._bytes += count * flat.element_size()

    def close(self) -> list[WeightChunk]:
        return [self._flush()] if self._pieces else []

    def summary(self) -> StreamSummary:
        return StreamSummary(chunks=self._index, tensors=self.tensors, nbytes=self.nbytes)

    def _flush(self) -> WeightChunk:
        from safetensors.torch import save

        data = save(self._tensors)
        chunk = WeightChunk(self._index, data, sha256(data), tuple(self._pieces))
        self._index += 1
        self.nbytes += len(data)
        self._tensors, self._pieces, self._bytes = {}, [], 0
        return chunk


def chunk_weights(
    weights: "Iterable[tuple[str, torch.Tensor]]", max_bytes: int = DEFAULT_CHUNK_BYTES,
    dtype: "torch.dtype | None" = None,
) -> Iterator[WeightChunk]:
    """All of ``weights`` as a stream of chunks (see `ChunkWriter`)."""
    writer = ChunkWriter(max_bytes, dtype)
    for name, tensor in weights:
        yield from writer.add(name, tensor)
    yield from writer.close()


class ChunkAssembler:
    """The receiving end: verifies each chunk's checksum and order, yields whole tensors as they complete."""

    def __init__(self) -> None:
        self._partial: dict[str, tuple[torch.Tensor, int]] = {}
        self._next = 0
        self.tensors = 0
        self.nbytes = 0

    def add(self, chunk: WeightChunk) -> "list[tuple[str, torch.Tensor]]":
        from safetensors.torch import load

        if chunk.index != self._next:
            raise WeightTransferError(f"weight chunk {chunk.index} arrived where chunk {self._next} was expected")
        got = sha256(chunk.data)
        if got != chunk.checksum:
            raise WeightTransferError(
                f"weight chunk {chunk.index}: checksum mismatch (expected {chunk.checksum[:12]}..., got {got[:12]}...)")
        self._next += 1
        self.nbytes += chunk.nbytes
        stored = load(chunk.data)
        done: list[tuple[str, torch.Tensor]] = []
        for piece in chunk.pieces:
            flat = stored[piece.key]
            numel = _numel(piece.shape)
            if flat.numel() != piece.count or piece.start + piece.count > numel:
                raise WeightTransferError(f"weight chunk {chunk.index}: piece of {piece.name!r} does not fit its shape")
            if piece.start == 0 and piece.count == numel:
                done.append((piece.name, flat.view(piece.shape)))
                continue
            buffer, filled = self._partial.get(piece.name, (None, 0))
            if buffer is None:
                import torch

                buffer = torch.empty(numel, dtype=flat.dtype)
            buffer[piece.start : piece.start + piece.count] = flat
            filled += piece.count
            if filled == numel:
                del self._partial[piece.name]
                done.append((piece.name, buffer.view(piece.shape)))
            else:
                self._partial[piece.name] = (buffer, filled)
        self.tensors += len(done)
        return done

    def finish(self, sent: StreamSummary) -> None:
        """Every chunk and tensor the sender announced arrived, and no tensor is left half-filled."""
        if self._partial:
            raise WeightTransferError(f"weights incomplete: {sorted(self._partial)[:3]} missing pieces")
        if self._next != sent.chunks or self.tensors != sent.tensors:
            raise WeightTransferError(f"weights incomplete: got {self._next} chunks / {self.tensors} tensors, "
                                      f"the learner sent {sent.chunks} / {sent.tensors}")


def assemble(chunks: Iterable[WeightChunk], sent: StreamSummary | None = None) -> "Iterator[tuple[str, torch.Tensor]]":
    """Whole, verified tensors from a chunk stream, in the order they complete."""
    assembler = ChunkAssembler()
    for chunk in chunks:
        yield from assembler.add(chunk)
    if sent is not None:
        assembler.finish(sent)
