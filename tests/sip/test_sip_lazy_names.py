"""conformance.sip's names come from their modules on first use: importing one module of the
package does not import the others."""

import json
import os
import subprocess
import sys
from pathlib import Path

import conformance.sip as sip
from conformance.sip import headers, message

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_s_names_are_its_modules_objects():
    assert sip.parse_uri is headers.parse_uri and sip.Request is message.Request
    from conformance.sip import StreamFramer, classify_datagram  # noqa: F401  (framing's)

    assert set(sip.__all__) <= set(dir(sip))
    for name in sip.__all__:
        assert getattr(sip, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    try:
        sip.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_message_module_leaves_the_others_unimported():
    code = ("import json, sys; import conformance.sip.message; "
            "print(json.dumps([m in sys.modules for m in ('conformance.sip.headers', 'conformance.sip.framing')]))")
    out = subprocess.run([sys.executable, "-S", "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [False, False]
