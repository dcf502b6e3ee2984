"""dlbridge's post-import hook (``dlbridge/_hooks.py``), which registers dlbridge
with Dask and ``multiprocessing`` when they load, without importing them."""

import importlib
import importlib.util
import sys
import textwrap

import pytest

from dlbridge import _hooks


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("hooked_")]:
        del sys.modules[name]
    _hooks._watched.clear()
    if _hooks._finder in sys.meta_path:
        sys.meta_path.remove(_hooks._finder)


def _write(directory, name, body="VALUE = 1\n"):
    (directory / f"{name}.py").write_text(textwrap.dedent(body))
    importlib.invalidate_caches()


def test_a_loaded_module_is_called_back_at_once():
    seen = []
    _hooks.when_imported("json", seen.append)
    assert seen == [sys.modules["json"]]


def test_a_later_import_calls_back_once_after_the_module_ran(module_dir):
    _write(module_dir, "hooked_later")
    seen = []
    _hooks.when_imported("hooked_later", lambda module: seen.append(module.VALUE))
    assert "hooked_later" not in sys.modules and seen == []
    import hooked_later  # noqa: F401

    assert seen == [1]
    importlib.reload(sys.modules["hooked_later"])
    assert seen == [1]
    assert _hooks._finder not in sys.meta_path  # nothing watched any more


def test_a_find_spec_probe_does_not_use_the_callback_up(module_dir):
    _write(module_dir, "hooked_probe")
    seen = []
    _hooks.when_imported("hooked_probe", seen.append)
    assert importlib.util.find_spec("hooked_probe") is not None
    assert seen == []
    import hooked_probe

    assert seen == [hooked_probe]


def test_a_failing_callback_warns_and_the_import_succeeds(module_dir):
    _write(module_dir, "hooked_failing")

    def fail(module):
        raise RuntimeError("registry changed")

    _hooks.when_imported("hooked_failing", fail)
    with pytest.warns(RuntimeWarning, match="could not register with hooked_failing"):
        import hooked_failing
    assert hooked_failing.VALUE == 1


def test_a_module_still_loading_is_noticed_by_the_next_import(module_dir):
    # The module watches itself while it loads: it was found before the finder
    # could wrap its loader, so the next import of anything notices it.
    _write(
        module_dir,
        "hooked_loading",
        """
        from dlbridge import _hooks
        SEEN = []
        _hooks.when_imported("hooked_loading", lambda module: SEEN.append(module))
        """,
    )
    _write(module_dir, "hooked_other")
    import hooked_loading

    assert hooked_loading.SEEN == []
    import hooked_other  # noqa: F401

    assert hooked_loading.SEEN == [hooked_loading]
