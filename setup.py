"""Package discovery for setuptools: the checks/ and lab/ folders install as the packages
``readiness_checks`` and ``readiness_lab`` (a generic name like ``checks`` would collide
with other installed packages), and every sub-package under them is found here, so a new
family package needs no packaging edit. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

FOLDERS = {"readiness": "readiness", "readiness_checks": "checks", "readiness_lab": "lab"}


def packages() -> list[str]:
    found = []
    for name, folder in FOLDERS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return sorted(found)


if __name__ == "__main__":
    setup(packages=packages(), package_dir=FOLDERS)
