#!/usr/bin/env python3
"""Renders a `tmux capture-pane -p -e` dump (text with SGR colour codes) as an SVG of the
terminal's cells, for the README's screenshot. Usage: ansi2svg.py COLS ROWS < dump > out.svg"""
import html, re, sys

BASE = ["#1d1f21", "#cc6666", "#b5bd68", "#f0c674", "#81a2be", "#b294bb", "#8abeb7", "#c5c8c6",
        "#666666", "#d54e53", "#b9ca4a", "#e7c547", "#7aa6da", "#c397d8", "#70c0b1", "#eaeaea"]
FG, BG = "#c5c8c6", "#1d1f21"


def xterm(n):
    if n < 16:
        return BASE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    v = 8 + 10 * (n - 232)
    return "#%02x%02x%02x" % (v, v, v)


def main():
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    cw, ch = 8.4, 17
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{cols * cw:.0f}" height="{rows * ch}" '
           f'font-family="DejaVu Sans Mono" font-size="14"><rect width="100%" height="100%" fill="{BG}"/>']
    for y, line in enumerate(sys.stdin.read().split("\n")[:rows]):
        fg, bg, bold, rev, x = FG, None, False, False, 0
        for part in re.split(r"(\x1b\[[0-9;:]*m)", line):
            if part.startswith("\x1b["):
                codes = [int(c or 0) for c in re.split("[;:]", part[2:-1])] or [0]
                i = 0
                while i < len(codes):
                    c = codes[i]
                    if c == 0:
                        fg, bg, bold, rev = FG, None, False, False
                    elif c == 1:
                        bold = True
                    elif c == 22:
                        bold = False
                    elif c == 7:
                        rev = True
                    elif c == 27:
                        rev = False
                    elif 30 <= c <= 37 or 90 <= c <= 97:
                        fg = BASE[c - 30 if c < 90 else c - 82]
                    elif 40 <= c <= 47 or 100 <= c <= 107:
                        bg = BASE[c - 40 if c < 100 else c - 92]
                    elif c in (38, 48) and i + 1 < len(codes):
                        if codes[i + 1] == 5 and i + 2 < len(codes):
                            col, i = xterm(codes[i + 2]), i + 2
                        elif codes[i + 1] == 2 and i + 4 < len(codes):
                            col, i = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5]), i + 4
                        else:
                            col = FG
                        if c == 38:
                            fg = col
                        else:
                            bg = col
                    elif c == 58 and i + 1 < len(codes):  # underline colour: skipped
                        i += 4 if codes[i + 1] == 2 else 2
                    elif c == 39:
                        fg = FG
                    elif c == 49:
                        bg = None
                    i += 1
                continue
            if not part:
                continue
            f, b = (bg or BG, fg) if rev else (fg, bg)
            if b:
                out.append(f'<rect x="{x * cw:.1f}" y="{y * ch}" width="{len(part) * cw:.1f}" height="{ch}" fill="{b}"/>')
            weight = ' font-weight="bold"' if bold else ""
            # One element per word, at its exact column (renderers collapse blanks).
            for m in re.finditer(r"\S+", part):
                w = m.group()
                out.append(f'<text x="{(x + m.start()) * cw:.1f}" y="{y * ch + 13}" fill="{f}"{weight} '
                           f'textLength="{len(w) * cw:.1f}" lengthAdjust="spacingAndGlyphs">{html.escape(w)}</text>')
            x += len(part)
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
