"""A flow's diagram as SVG, drawn on the server from the loaded flow: pure.

States are laid out in rows by their distance from the start state (breadth first); a
way forward is a straight arrow, a way back (to an earlier row or the same row) a grey
curve, so the main path reads from top to bottom.
"""

from __future__ import annotations

from collections import deque
from html import escape

from bot.flow.schema import FlowSpec
from bot.flowcheck import edges as state_edges

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 150, 28, 24, 46, 16


def edges_of(spec: FlowSpec) -> list[tuple[str, str, str]]:
    """Every (from, to, label) of the flow, in the order the YAML gives them."""
    return [(name, dest, label) for name, state in spec.states.items()
            for dest, label in state_edges(state) if dest in spec.states]


def layers(spec: FlowSpec) -> list[list[str]]:
    """States by breadth-first distance from the start; unreachable ones last."""
    out_edges: dict[str, list[str]] = {name: [] for name in spec.states}
    for src, dest, _ in edges_of(spec):
        out_edges[src].append(dest)
    depth = {spec.start: 0}
    queue = deque([spec.start])
    while queue:
        name = queue.popleft()
        for dest in out_edges[name]:
            if dest not in depth:
                depth[dest] = depth[name] + 1
                queue.append(dest)
    last = max(depth.values(), default=0) + 1
    rows: list[list[str]] = [[] for _ in range(last + 1)]
    for name in spec.states:
        rows[depth.get(name, last)].append(name)
    return [row for row in rows if row]


def svg(spec: FlowSpec) -> str:
    """The diagram as an inline `<svg>` element (text escaped)."""
    rows = layers(spec)
    width = max(len(r) for r in rows) * (BOX_W + GAP_X) - GAP_X + 2 * PAD
    height = len(rows) * (BOX_H + GAP_Y) - GAP_Y + 2 * PAD
    pos: dict[str, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        row_w = len(row) * (BOX_W + GAP_X) - GAP_X
        x0 = (width - row_w) / 2
        for c, name in enumerate(row):
            pos[name] = (x0 + c * (BOX_W + GAP_X), PAD + r * (BOX_H + GAP_Y))
    row_of = {name: r for r, row in enumerate(rows) for name in row}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
             f'aria-label="diagram of the {escape(spec.name)} flow">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#456"/></marker></defs>']
    for src, dest, label in edges_of(spec):
        parts.append(_edge(pos[src], pos[dest], row_of[dest] > row_of[src], label))
    for name, (x, y) in pos.items():
        state = spec.states[name]
        kind = ("start" if name == spec.start else "end" if state.end
                else "action" if state.action else "ask" if state.on else "say")
        parts.append(f'<g class="state {kind}"><rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" '
                     f'height="{BOX_H}" rx="6"/><text x="{x + BOX_W / 2:.0f}" '
                     f'y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle">{escape(name)}</text>'
                     f'<title>{escape(name)} ({kind})</title></g>')
    parts.append("</svg>")
    return "".join(parts)


def _edge(a: tuple[float, float], b: tuple[float, float], forward: bool, label: str) -> str:
    title = f"<title>{escape(label)}</title>"
    if forward:
        x1, y1 = a[0] + BOX_W / 2, a[1] + BOX_H
        x2, y2 = b[0] + BOX_W / 2, b[1]
        return (f'<path class="edge" d="M{x1:.0f},{y1:.0f} L{x2:.0f},{y2:.0f}" '
                f'marker-end="url(#arrow)">{title}</path>')
    x1, y1 = a[0], a[1] + BOX_H / 2
    x2, y2 = b[0], b[1] + BOX_H / 2
    bend = min(x1, x2) - 40 - abs(y1 - y2) / 6
    return (f'<path class="edge back" d="M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} '
            f'{bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}" marker-end="url(#arrow)">{title}</path>')
