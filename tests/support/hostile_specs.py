"""Spec files written to hurt the loader: each must cost only itself (shared by the limit, loader and fuzz tests)."""

from __future__ import annotations

from pathlib import Path


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": each anchor repeats the previous one ``width`` times (9 x 9: 387 million values)."""
    lines = ["description: lol", 'a0: &a0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


#: Texts that must each be refused by a limit (name -> (text, what the error says)).
HOSTILE = {
    "bomb_9x9": (alias_bomb(), "aliases expand this document"),
    # 2 aliases per level, 40 levels: 80 aliases (under a naive alias count) but 2^40 values
    "bomb_few_aliases": (alias_bomb(levels=40, width=2), "aliases expand this document"),
    "mapping_bomb": (
        "a0: &a0 {k0: 1, k1: 2, k2: 3, k3: 4}\n"
        + "".join(f"a{i}: &a{i} {{" + ", ".join(f"m{j}: *a{i - 1}" for j in range(8)) + "}\n" for i in range(1, 9)),
        "aliases expand this document",
    ),
    "endless_alias": ("description: x\nloop: &loop [1, *loop]\n", "refers to a list or mapping that contains it"),
    "deep_nesting": ("description: x\nbronze: " + "[" * 50_000 + "\n", "nested more than"),
    "closed_deep_nesting": ("description: x\nx: " + "{a: " * 200 + "1" + "}" * 200 + "\n", "nested more than"),
    "too_many_values": ("tags:\n" + "".join(f"  - t{i}\n" for i in range(60_000)), "more than 50,000 values"),
    "too_many_aliases": (
        "a: &a 1\nb: [" + ", ".join(["*a"] * 150) + "]\n",
        "more than 100 aliases",
    ),
}


def write_large_spec(path: Path, megabytes: int = 20) -> Path:
    """A spec that starts like a real one and goes on for ``megabytes`` MB (a generated value list)."""
    line = "  - " + "x" * 95 + "\n"
    with path.open("w", encoding="utf-8") as out:
        out.write("description: a spec with a generated list\nstart_date: 2026-11-01\ntags:\n")
        out.write(line * (megabytes * 10_000))
    return path


def good_spec(i: int) -> str:
    """A small valid bronze-only pipeline, distinct per ``i`` (no table shared with another pipeline)."""
    return (
        f"description: generated pipeline {i}\n"
        "owners: [{name: Load Test, email: load@example.com}]\n"
        "start_date: 2026-11-01\n"
        "bronze:\n"
        "  sources:\n"
        f"    - {{kind: sql, name: t{i}, conn_id: shop_db, query: 'SELECT {i} AS n'}}\n"
    )
