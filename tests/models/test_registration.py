"""Registration by discovery: a model module dropped into the package (or shipped by a plugin through the
`dgm.models` entry point) appears in the registry with no import list to edit; each registered model's
`tiny` settings name real config fields (a typo fails here, not silently in the contract tests)."""
import dataclasses
import importlib.metadata
import sys
import textwrap

import pytest

import dgm.models
from dgm.models import discover, models
from dgm.models.base import contract_settings


@pytest.fixture
def fresh_names():
    before = set(models.names())
    yield before
    for name in set(models.names()) - before:  # leave the registry as the other tests expect it
        models.unregister(name)


def test_a_new_module_in_a_model_package_is_discovered(tmp_path, monkeypatch, fresh_names):
    pkg = tmp_path / "newfamily"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "energy.py").write_text(textwrap.dedent("""
        from dgm.models import register_model
        from dgm.models.vae import VAE
        register_model("discovered-test-model", VAE, "registered by existing")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    imported = discover("newfamily", [str(pkg)], entry_points=False)
    assert "newfamily.sub.energy" in imported and "discovered-test-model" in models.names()
    sys.modules.pop("newfamily.sub.energy", None)


def test_plugins_register_through_entry_points(monkeypatch, fresh_names, caplog):
    class EntryPoint:
        def __init__(self, name, value, load):
            self.name, self.value, self.load = name, value, load

    def load_good():
        from dgm.models.vae import VAE
        dgm.models.register_model("plugin-test-model", VAE, "from a plugin")

    def load_bad():
        raise ImportError("missing dependency")

    eps = [EntryPoint("good", "plugin:good", load_good), EntryPoint("bad", "plugin:bad", load_bad)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps if group == "dgm.models" else [])
    discover("dgm.models", [], entry_points=True)
    assert "plugin-test-model" in models.names()
    assert "bad" in caplog.text and "missing dependency" in caplog.text


def test_every_registered_family_is_found_without_an_import_list():
    import dgm.models as package

    source = open(package.__file__).read()
    assert "from . import" not in source  # discovery, not a list
    assert {"vae", "pixelcnn", "glow", "dcgan", "ae"} <= set(models.names())


@pytest.mark.parametrize("name", models.names())
def test_tiny_settings_are_config_fields(name):
    cls = models.get(name).cls
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = set(cls.tiny) - fields
    assert not unknown, f"{cls.__name__}.tiny names {sorted(unknown)}, not fields of {cls.Config.__name__}"


@pytest.mark.parametrize("name", models.names())
def test_contract_settings_are_known_keys(name):
    settings = contract_settings(models.get(name).cls)  # raises on an unknown key
    c, h, w = settings["image_shape"]
    assert c in (1, 3) and h > 0 and w > 0 and isinstance(settings["slow_sample"], bool)
    assert settings["data"] in ("images", "codes", "points")


def test_an_unknown_contract_key_fails_loudly(monkeypatch):
    monkeypatch.setattr(models.get("vae").cls, "contract", {"image_size": 8})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['image_size'\]; known: \['data', 'image_shape', 'slow_sample'\]"):
        contract_settings(models.get("vae").cls)
