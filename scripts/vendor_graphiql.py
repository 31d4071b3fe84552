"""Copy the scripts and styles of Strawberry's GraphiQL page from the npm registry into the package.

`make vendor-graphiql` (after upgrading Strawberry, when the service says the assets are missing):
reads the installed Strawberry's page, and for each file it loads from the CDN
(`https://unpkg.com/PACKAGE@VERSION/PATH`) downloads that package's tarball from the npm registry, checks
the tarball against the registry's sha512 and the file against the sha384 that the page pins, and writes
it to gql_server/api/graphiql_assets/PACKAGE@VERSION/PATH with the package's licence beside it. Versions
the page no longer loads are removed. `--check` verifies the kept copies without the network.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import shutil
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strawberry.http.ides import get_graphql_ide_html

from gql_server.api.graphiql import ASSETS, CdnAsset, GraphiQLPageChanged, cdn_assets, sri, vendored

REGISTRY = "https://registry.npmjs.org/"
# unpkg's path: a package name (maybe @scoped), its exact version, and a file inside the package.
_UNPKG_PATH = re.compile(r"^((?:@[^/@]+/)?[^/@]+)@([^/]+)/(.+)$")
# Licence files as packages name them; copied beside the files because we redistribute them.
_LICENCES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE")


@dataclass(frozen=True)
class Package:
    """One npm package at one version, as the page names it."""

    name: str
    version: str

    @property
    def folder(self) -> str:
        """Its folder under ASSETS (unpkg's path prefix)."""
        return f"{self.name}@{self.version}"


def package_of(asset: CdnAsset) -> tuple[Package, str]:
    """The package of a CDN asset and the file's path inside it."""
    match = _UNPKG_PATH.match(asset.path)
    if match is None:
        raise SystemExit(f"cannot read a package and version from {asset.url}")
    return Package(match[1], match[2]), match[3]


def _get(url: str) -> bytes:
    if not url.startswith(REGISTRY):
        raise SystemExit(f"refusing to download {url}: not from {REGISTRY}")
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - https to the registry, checked above
        body: bytes = answer.read()
    return body


def tarball(package: Package) -> tuple[tarfile.TarFile, dict[str, Any]]:
    """The package's published tarball, checked against the registry's sha512, and its package.json."""
    meta = json.loads(_get(f"{REGISTRY}{package.name}/{package.version}"))
    dist = meta["dist"]
    data = _get(dist["tarball"])
    algorithm, _, expected = str(dist["integrity"]).partition("-")
    if algorithm != "sha512" or base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise SystemExit(f"{dist['tarball']} does not match the registry's integrity {dist['integrity']}")
    archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    return archive, meta


def _member(archive: tarfile.TarFile, path: str) -> bytes | None:
    try:
        member = archive.extractfile(f"package/{path}")
    except KeyError:
        return None
    return None if member is None else member.read()


def fetch(assets: Path) -> list[str]:
    """Download every asset of the installed Strawberry's page into `assets`; the lines of its README."""
    page = get_graphql_ide_html("graphiql")
    wanted: dict[Package, list[tuple[CdnAsset, str]]] = {}
    for asset in cdn_assets(page):
        package, path = package_of(asset)
        wanted.setdefault(package, []).append((asset, path))
    readme = [
        "# GraphiQL's scripts and styles",
        "",
        "Copied by `make vendor-graphiql` (scripts/vendor_graphiql.py) from the npm registry, at the versions and",
        "SRI hashes of Strawberry's GraphiQL page, so that /graphql works offline (gql_server/api/graphiql.py).",
        "Do not edit: the page pins each file's sha384.",
        "",
        "| Package | Licence | Tarball (sha512 checked) |",
        "| --- | --- | --- |",
    ]
    for package, files in wanted.items():
        archive, meta = tarball(package)
        folder = assets / package.folder
        shutil.rmtree(folder, ignore_errors=True)
        for asset, path in files:
            content = _member(archive, path)
            if content is None:
                raise SystemExit(f"{package.folder} has no {path}")
            if sri(content) != asset.integrity:
                raise SystemExit(f"{package.folder}/{path} is {sri(content)}, the page pins {asset.integrity}")
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            print(f"{asset.path}  {asset.integrity}")
        for name in _LICENCES:
            licence = _member(archive, name)
            if licence is not None:
                (folder / name).write_bytes(licence)
        readme.append(f"| {package.folder} | {meta.get('license', '?')} | {meta['dist']['tarball']} |")
    # Versions the page no longer loads.
    kept = {package.folder for package in wanted}
    for folder in _package_folders(assets):
        if folder.relative_to(assets).as_posix() not in kept:
            shutil.rmtree(folder)
            print(f"removed {folder.relative_to(assets)}")
    return readme


def _package_folders(assets: Path) -> list[Path]:
    folders = []
    for child in sorted(assets.iterdir()) if assets.is_dir() else []:
        if child.is_dir():
            scoped = child.name.startswith("@")
            folders.extend(sorted(p for p in child.iterdir() if p.is_dir()) if scoped else [child])
    return folders


def check(assets: Path) -> int:
    """0 when every asset of the installed Strawberry's page is kept with the pinned hash; 1 otherwise."""
    try:
        for asset in cdn_assets(get_graphql_ide_html("graphiql")):
            vendored(asset, assets)
            print(f"ok {asset.path}")
    except GraphiQLPageChanged as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def main() -> int:
    """Fetch (default) or `--check` the copies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the kept copies, without the network")
    parser.add_argument("--assets", type=Path, default=ASSETS, help=f"the folder of the copies (default {ASSETS})")
    options = parser.parse_args()
    if options.check:
        return check(options.assets)
    options.assets.mkdir(parents=True, exist_ok=True)
    readme = fetch(options.assets)
    (options.assets / "README.md").write_text("\n".join(readme) + "\n", encoding="utf-8")
    return check(options.assets)


if __name__ == "__main__":
    sys.exit(main())
