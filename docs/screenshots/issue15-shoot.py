"""Before/after screenshots: the provider page (watchdog serve on a copy of one demo journal) and the pack chart."""
import re, shutil, socket, subprocess, sys, time, zipfile, io
from pathlib import Path
sys.path.insert(0, "/work/wt/first15/tests")
from web_helpers import chromium, full_screenshot
from PIL import Image

PY = "/work/wt/first15/.venv/bin/python"
SRC = Path("/tmp/first15-demo-ru")
OUT = Path(sys.argv[1])
TREES = {"before": "/tmp/first15-before", "after": "/work/wt/first15"}
WORK = Path("/tmp/first15-shots/work")

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def small(src: Path, dst: Path, width: int | None = None):
    im = Image.open(src).convert("RGB")
    if width and im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)

OUT.mkdir(parents=True, exist_ok=True)
for ver, tree in TREES.items():
    for lang in ("ru", "en"):
        d = WORK / f"{ver}-{lang}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        shutil.copytree(SRC / "data", d / "data")
        shutil.copy(SRC / "demo-ca.pem", d / "demo-ca.pem")
        port = free_port()
        cfg = (SRC / "watchdog.yaml").read_text(encoding="utf-8")
        cfg = cfg.replace(str(SRC), str(d)).replace("language: ru", f"language: {lang}")
        cfg = re.sub(r'web: \{listen: "127.0.0.1:\d+"', f'web: {{listen: "127.0.0.1:{port}"', cfg)
        (d / "watchdog.yaml").write_text(cfg, encoding="utf-8")
        env = {"PYTHONPATH": tree, "PATH": "/usr/bin:/bin", "HOME": str(d)}
        now = "2026-12-06T03:50:00Z"
        r = subprocess.run([PY, "-m", "watchdog", "evidence", "-c", str(d / "watchdog.yaml"), "--provider", "broker",
                            "-o", str(d / "pack.zip"), "--lang", lang, "--no-seal"], env=env, cwd=d, capture_output=True, text=True)
        print(ver, lang, "evidence", r.returncode, r.stderr[-300:])
        png = zipfile.ZipFile(d / "pack.zip").read("timeline.png")
        (d / "timeline.png").write_bytes(png)
        small(d / "timeline.png", OUT / f"chart-{lang}-{ver}.png")
        serve = subprocess.Popen([PY, "-m", "watchdog", "serve", "-c", str(d / "watchdog.yaml")], env=env, cwd=d,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close(); break
                except OSError:
                    time.sleep(0.1)
            with chromium(1100, 900) as driver:
                driver.get(f"http://127.0.0.1:{port}/providers/broker")
                time.sleep(1.0)
                full_screenshot(driver, d / "page.png")
            small(d / "page.png", OUT / f"page-{lang}-{ver}.png", 1100)
        finally:
            serve.terminate(); serve.wait(10)
for p in sorted(OUT.glob("*.png")):
    print(p.name, p.stat().st_size, Image.open(p).size)
