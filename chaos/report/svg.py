"""A minimal SVG writer for the report's charts: elements with escaped text, numbers rounded to 0.01 px.

The charts are static markup: they need no script to draw, scale with ``viewBox`` and carry a ``<title>``
per mark, which browsers show as a tooltip and screen readers read out.
"""

from __future__ import annotations

import html

__all__ = ["Svg", "number"]


def number(value: float) -> str:
    """``value`` with at most two decimals and no trailing zeros (``12.5``, ``3``, ``-0.25``)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _attrs(attributes: dict[str, object]) -> str:
    parts = []
    for key, value in attributes.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        text = number(value) if isinstance(value, float) else str(value)
        parts.append(f' {name}="{html.escape(text, quote=True)}"')
    return "".join(parts)


class Svg:
    """An ``<svg>`` document built mark by mark; :meth:`render` returns it as text.

    >>> chart = Svg(100, 20, title="one bar")
    >>> chart.rect(0, 0, 50.0, 20, fill="#2e7d32", title="half")
    >>> chart.render().count("<rect")
    1
    """

    def __init__(
        self,
        width: float,
        height: float,
        *,
        title: str,
        desc: str = "",
        css_class: str = "chart",
        stretch: bool = False,
    ) -> None:
        self.width = width
        self.stretch = stretch
        self.height = height
        self.title = title
        self.desc = desc
        self.css_class = css_class
        self._parts: list[str] = []

    def _element(self, tag: str, attributes: dict[str, object], *, text: str | None, title: str | None) -> None:
        inner = f"<title>{html.escape(title)}</title>" if title else ""
        inner += html.escape(text) if text is not None else ""
        self._parts.append(f"<{tag}{_attrs(attributes)}>{inner}</{tag}>" if inner else f"<{tag}{_attrs(attributes)}/>")

    def rect(
        self, x: float, y: float, width: float, height: float, *, title: str | None = None, **style: object
    ) -> None:
        """A rectangle; ``style`` keywords become attributes (``fill``, ``class_``, ``stroke_width``...)."""
        attributes: dict[str, object] = {"x": float(x), "y": float(y), "width": float(max(width, 0.0))}
        self._element("rect", {**attributes, "height": float(height), **style}, text=None, title=title)

    def line(self, x1: float, y1: float, x2: float, y2: float, **style: object) -> None:
        """A straight line."""
        coordinates: dict[str, object] = {"x1": float(x1), "y1": float(y1), "x2": float(x2), "y2": float(y2)}
        self._element("line", {**coordinates, **style}, text=None, title=None)

    def circle(self, cx: float, cy: float, r: float, *, title: str | None = None, **style: object) -> None:
        """A circle (a data point)."""
        self._element("circle", {"cx": float(cx), "cy": float(cy), "r": float(r), **style}, text=None, title=title)

    def text(self, x: float, y: float, content: str, *, title: str | None = None, **style: object) -> None:
        """A text label at (x, y), its baseline at y."""
        self._element("text", {"x": float(x), "y": float(y), **style}, text=content, title=title)

    def open_group(self, *, title: str | None = None, **attributes: object) -> None:
        """Start a ``<g>`` (close it with :meth:`close_group`); its title covers every mark inside."""
        inner = f"<title>{html.escape(title)}</title>" if title else ""
        self._parts.append(f"<g{_attrs(attributes)}>{inner}")

    def close_group(self) -> None:
        """End the innermost ``<g>``."""
        self._parts.append("</g>")

    def render(self) -> str:
        """The document as text (an inline ``<svg>`` element, valid XML)."""
        head = _attrs(
            {
                "xmlns": "http://www.w3.org/2000/svg",
                "viewBox": f"0 0 {number(self.width)} {number(self.height)}",
                "width": number(self.width),
                "class": self.css_class,
                "preserveAspectRatio": "none" if self.stretch else None,
                "role": "img",
                "aria-label": self.title,
                "font-family": "system-ui, sans-serif",
                "font-size": "12",
            }
        )
        desc = f"<desc>{html.escape(self.desc)}</desc>" if self.desc else ""
        return f"<svg{head}><title>{html.escape(self.title)}</title>{desc}{''.join(self._parts)}</svg>"
