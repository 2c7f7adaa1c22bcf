"""Before/after screenshots: the provider page (watchdog serve on a copy of one demo journal) and the pack chart.

    python docs/screenshots/issue15-shoot.py --demo DEMO_DIR --before TREE --after TREE OUT_DIR

``DEMO_DIR`` is a ``watchdog demo --lang ru`` output (its ``watchdog.yaml``, ``data/`` and ``demo-ca.pem``);
``TREE`` is a checkout of the code to shoot (run with this interpreter, ``PYTHONPATH=TREE``). Needs Debian's
chromium and chromium-driver and the test extras (selenium, Pillow), as the web tests do.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from web_helpers import chromium, full_screenshot  # the tests' helpers, found through sys.path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def small(src: Path, dst: Path, width: int | None = None) -> None:
    """``src`` quantised to 128 colours (and narrowed to ``width``) to keep the repository small."""
    im = Image.open(src).convert("RGB")
    if width and im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
    im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)


def wait_for(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)


def shoot(src: Path, tree: Path, ver: str, lang: str, work: Path, out: Path) -> None:
    d = work / f"{ver}-{lang}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    shutil.copytree(src / "data", d / "data")
    shutil.copy(src / "demo-ca.pem", d / "demo-ca.pem")
    port = free_port()
    cfg = (src / "watchdog.yaml").read_text(encoding="utf-8")
    cfg = cfg.replace(str(src), str(d)).replace("language: ru", f"language: {lang}")
    cfg = re.sub(r'web: \{listen: "127.0.0.1:\d+"', f'web: {{listen: "127.0.0.1:{port}"', cfg)
    (d / "watchdog.yaml").write_text(cfg, encoding="utf-8")
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "HOME": str(d)}
    py = sys.executable
    evidence = [py, "-m", "watchdog", "evidence", "-c", str(d / "watchdog.yaml"), "--provider", "broker"]
    evidence += ["-o", str(d / "pack.zip"), "--lang", lang, "--no-seal"]
    r = subprocess.run(evidence, env=env, cwd=d, capture_output=True, text=True)
    print(ver, lang, "evidence", r.returncode, r.stderr[-300:])
    (d / "timeline.png").write_bytes(zipfile.ZipFile(d / "pack.zip").read("timeline.png"))
    small(d / "timeline.png", out / f"issue15-chart-{lang}-{ver}.png")
    serve = subprocess.Popen(
        [py, "-m", "watchdog", "serve", "-c", str(d / "watchdog.yaml")],
        env=env,
        cwd=d,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(port)
        with chromium(1100, 900) as driver:
            driver.get(f"http://127.0.0.1:{port}/providers/broker")
            time.sleep(1.0)
            full_screenshot(driver, d / "page.png")
        small(d / "page.png", out / f"issue15-page-{lang}-{ver}.png", 1100)
    finally:
        serve.terminate()
        serve.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, required=True, help="a `watchdog demo --lang ru` output directory")
    parser.add_argument("--before", type=Path, required=True, help="the code tree before the change")
    parser.add_argument("--after", type=Path, required=True, help="the code tree after the change")
    parser.add_argument("--work", type=Path, default=Path("/tmp/issue15-shots"), help="scratch directory")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for ver, tree in (("before", args.before), ("after", args.after)):
        for lang in ("ru", "en"):
            shoot(args.demo.resolve(), tree.resolve(), ver, lang, args.work, args.out)
    for p in sorted(args.out.glob("*.png")):
        print(p.name, p.stat().st_size, Image.open(p).size)


if __name__ == "__main__":
    main()
