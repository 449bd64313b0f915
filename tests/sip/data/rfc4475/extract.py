"""Extract the RFC 4475 section 3.1.1 / 3.1.2 torture messages into ``.dat`` files.

Usage: ``python extract.py [path/to/rfc4475.txt]`` (defaults to /work/shared/spec/rfc/rfc4475.txt).

The messages are read from the RFC's text using its own rendering conventions (RFC 4475 §2):
``<allOneLine>`` blocks are joined without line breaks (§2.1), ``<hex>`` runs are hex-decoded
(§2.2), ``<repeat count=N>`` runs are repeated (§2.3); every other line ends with CRLF.  The
RFC text cannot show the empty line ending a body-less message (added here) nor blank lines
next to a page break, so the result is then compared with the
bit-exact archive of Appendix A (a base64 gzip tar): the archive is used only for a message that
differs and spans a page break; ``MANIFEST`` records which source each file came from.
"""

from __future__ import annotations

import base64
import io
import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_RFC = Path("/work/shared/spec/rfc/rfc4475.txt")
SECTIONS = {"3.1.1": "valid", "3.1.2": "invalid"}

_PAGE_NOISE = re.compile(r"^(Sparks, et al\.\s.*\[Page \d+\]|RFC 4475\s+SIP Torture.*|\f)$")
_HEADING = re.compile(r"^(\d+(?:\.\d+)+)\.\s+\S")


def _decode_inline(text: str) -> bytes:
    """Apply the <hex> and <repeat> conventions to one logical line."""
    def repeat(m: re.Match) -> str:
        return m.group(2) * int(m.group(1))

    while "<repeat" in text:
        text = re.sub(r"<repeat count=(\d+)>((?:(?!<repeat).)*?)</repeat>", repeat, text)
    out = bytearray()
    pos = 0
    for m in re.finditer(r"<hex>(.*?)</hex>", text, re.S):
        out += text[pos:m.start()].encode("utf-8")
        out += bytes.fromhex(re.sub(r"\s+", "", m.group(1)))
        pos = m.end()
    out += text[pos:].encode("utf-8")
    return bytes(out)


def _message_lines(lines: list[str], start: int) -> tuple[list[str], bool]:
    """Lines of one rendered message (6-space indent removed) and whether a page break fell
    inside it (page furniture is dropped, and with it any blank line next to the break)."""
    body: list[str] = []
    broken = False
    i = start
    while i < len(lines):
        line = lines[i]
        if _PAGE_NOISE.match(line.strip("\n")) or line.startswith("\f"):
            # a page break: drop the blank padding before it as well
            while body and body[-1] == "":
                body.pop()
            broken = broken or bool(body)
            i += 1
            while i < len(lines) and (not lines[i].strip() or _PAGE_NOISE.match(lines[i])):
                i += 1
            continue
        if line.strip() and not line.startswith("      "):
            break
        body.append(line[6:] if line.strip() else "")
        i += 1
    while body and body[-1] == "":
        body.pop()
    while body and body[0] == "":
        body.pop(0)
    return body, broken


def render(body: list[str]) -> bytes:
    """Turn rendered lines into message bytes following RFC 4475 §2."""
    out = bytearray()
    i = 0
    while i < len(body):
        line = body[i]
        if line.strip() == "<allOneLine>":
            j = body.index("</allOneLine>", i)
            out += _decode_inline("".join(body[i + 1:j])) + b"\r\n"
            i = j + 1
        elif line.strip() == "<hex>":
            j = body.index("</hex>", i)
            out += bytes.fromhex("".join(body[i + 1:j]))
            i = j + 1
        else:
            out += _decode_inline(line) + b"\r\n"
            i += 1
    if "" not in body:
        out += b"\r\n"  # no body: the empty line ending the headers is not visible in the text
    return bytes(out)


def extract_text(rfc_text: str) -> dict[str, tuple[str, str, bytes, bool]]:
    """name -> (section, valid|invalid, bytes, page_break) for the §3.1.1/§3.1.2 messages."""
    lines = rfc_text.split("\n")
    found: dict[str, tuple[str, str, bytes]] = {}
    section = None
    for i, line in enumerate(lines):
        m = _HEADING.match(line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^\s+Message Details : (\S+)", line)
        if m and section:
            kind = next((v for k, v in SECTIONS.items() if section.startswith(k + ".")), None)
            if kind:
                body, broken = _message_lines(lines, i + 1)
                found[m.group(1)] = (section, kind, render(body), broken)
    return found


def extract_archive(rfc_text: str) -> dict[str, bytes]:
    """The Appendix A archive: name (without .dat) -> bytes."""
    lines = rfc_text.split("\n")
    begin = lines.index("   -- BEGIN MESSAGE ARCHIVE --")
    end = lines.index("   -- END MESSAGE ARCHIVE --")
    b64 = "".join(l.strip() for l in lines[begin + 1:end] if re.match(r"^\s*\S+\s*$", l))
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(b64))) as tar:
        return {m.name[:-4]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def main(argv: list[str]) -> int:
    rfc = Path(argv[1]) if len(argv) > 1 else DEFAULT_RFC
    text = rfc.read_text(encoding="ascii")
    messages = extract_text(text)
    archive = extract_archive(text)
    manifest = []
    for name, (section, kind, data, broken) in sorted(messages.items(), key=lambda kv: kv[1][0]):
        ref = archive.get(name)
        # The text is the reference; the archive only replaces it where a page break may have
        # eaten a blank line.  (The archive itself has slips: trws reads "examle.com" and
        # baddn lacks the final empty line, so it is not taken blindly.)
        source = "text" if ref is None or ref == data or not broken else "archive"
        target = HERE / kind / f"{name}.dat"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data if source == "text" else ref)
        manifest.append(f"{section}\t{kind}\t{name}\t{source}")
        if ref is not None and ref != data:
            print(f"{name}: text and archive differ, {source} bytes used")
    (HERE / "MANIFEST").write_text("\n".join(manifest) + "\n")
    print(f"{len(messages)} messages written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
