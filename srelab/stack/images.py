"""Local images for machines with no container registry (LAB_IMAGES=local).

A Debian bookworm base is made with debootstrap and imported into Docker; every core image is
then built from it at the version pinned in compose/lab.env (images/local/<name>/Dockerfile
checks the version). The web and Locust images are built by compose from their own Dockerfiles
with PYTHON_IMAGE pointing at the base. Services with no local build (Grafana, Loki, Promtail,
the Elastic stack) are never faked: `srelab up` skips them with a message.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException
from rich.console import Console

from srelab.errors import LabError
from srelab.stack.settings import BASE_IMAGE_VARIABLE, LOCAL_IMAGES, ROOT, LocalImage, Settings

LOCAL_DIR = ROOT / "images" / "local"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def version_of(tag: str) -> str:
    """The release in an image reference: traefik:v3.7.15 -> 3.7.15, redis:7.0.15-bookworm -> 7.0.15."""
    match = re.search(r":v?(\d+(?:\.\d+)+)", tag)
    if not match:
        raise LabError(f"cannot read a version from image tag {tag!r}")
    return match.group(1)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (never a hard-coded host)."""
    sources = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in sources:
        if not path.exists():
            continue
        text = path.read_text()
        deb822 = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M)
        one_line = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s+bookworm", text, re.M)
        if deb822 or one_line:
            return (deb822 or one_line).group(1)  # type: ignore[union-attr]
    raise LabError("no Debian mirror found in /etc/apt/sources.list[.d]: cannot debootstrap a base image")


def has_image(docker: DockerClient, name: str) -> bool:
    return docker.image.exists(name)


def build_base(docker: DockerClient, name: str, console: Console) -> None:
    """debootstrap bookworm (python3, venv, CA certificates) and import it as `name`."""
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap not found: apt-get install -y debootstrap (needed for LAB_IMAGES=local)")
    with tempfile.TemporaryDirectory(prefix="srelab-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        console.print(f"  debootstrap bookworm from {apt_mirror()} (about a minute)")
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
                apt_mirror(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # TLS to the package index verifies only with this machine's CA bundle.
        if HOST_CA_BUNDLE.exists():
            shutil.copy(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        docker.image.import_(
            tarball,
            tag=name,
            changes=[
                "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                "ENV LANG=C.UTF-8",
                'CMD ["/bin/bash"]',
            ],
        )


def _stage_context(image: LocalImage, dest: Path) -> Path:
    shutil.copytree(LOCAL_DIR / image.folder, dest)
    for name in image.venv_files:
        source = Path(sys.prefix) / "bin" / name
        if not source.exists():
            raise LabError(f"{source} missing: run `make install` (it comes from a pinned wheel)")
        shutil.copy(source, dest / name)
    return dest


def build_local_images(
    settings: Settings, docker: DockerClient, console: Console, force: bool = False
) -> list[str]:
    """Build the base and every local image that is missing (all with force); return their names."""
    base = settings.local_image(getattr(settings, BASE_IMAGE_VARIABLE.lower()))
    built = []
    if force or not has_image(docker, base):
        console.print(f"[bold]building base image[/] {base}")
        build_base(docker, base, console)
        built.append(base)
    for image in LOCAL_IMAGES:
        upstream = getattr(settings, image.variable.lower())
        name = settings.local_image(upstream)
        if not force and has_image(docker, name):
            continue
        console.print(f"[bold]building[/] {name} (same version as {upstream})")
        with tempfile.TemporaryDirectory(prefix="srelab-img-") as tmp:
            context = _stage_context(image, Path(tmp) / image.folder)
            try:
                docker.legacy_build(
                    context,
                    tags=[name],
                    build_args={"BASE_IMAGE": base, "VERSION": version_of(upstream)},
                )
            except DockerException as exc:
                tail = (exc.stderr or exc.stdout or str(exc)).strip().splitlines()[-3:]
                raise LabError(f"building {name} failed: {' | '.join(tail)}") from None
        built.append(name)
    return built
