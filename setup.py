"""Packaging details pyproject.toml cannot express (everything else is in pyproject.toml).

The YAML cases (``testcases/``) and the reference target profiles (``targets/reference-*.yaml``)
stay at the top of the repository, where users read them, and ship inside the package as
``conformance/testcases`` and ``conformance/profiles``: ``package_dir`` maps the two data
packages onto those folders.  ``conformance.resources`` finds them in a checkout and in an
installed package alike.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=find_namespace_packages(include=["conformance", "conformance.*"],
                                     exclude=["*.__pycache__", "*.__pycache__.*"])
    + ["conformance.testcases", "conformance.profiles"],
    package_dir={"conformance.testcases": "testcases", "conformance.profiles": "targets"},
    package_data={
        "conformance": ["schema/*.yaml", "catalogue/*.yaml", "catalogue/clauses/*.yaml"],
        "conformance.testcases": ["**/*.yaml"],
        "conformance.profiles": ["reference-*.yaml"],
    },
)
