"""requirements.lock (what scripts/venv.sh installs) is made from requirements.txt: every
package pinned there is in the lock at the same version, and every line of the lock has hashes."""

import re

from app import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def pins(path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_the_lock_has_every_pin_of_requirements_txt_at_its_version():
    chosen, locked = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements.lock")
    differ = {name: (version, locked.get(name)) for name, version in chosen.items() if locked.get(name) != version}
    assert differ == {}, (
        "run: uv pip compile requirements.txt --universal --python-version 3.11 --generate-hashes --no-header -o requirements.lock"
    )


def test_every_locked_package_has_its_hashes():
    for lock in ("requirements.lock", "requirements-uv.lock"):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text().strip())
        assert blocks and all("--hash=sha256:" in block for block in blocks if PIN.match(block)), lock
