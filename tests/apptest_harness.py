"""Make Streamlit's AppTest stop redoing per test what does not change within a test session.

Every `AppTest` builds a fresh registry of Components v2 and, at every run, a fresh cache of the
page scripts' bytecode. So each test scanned the metadata of every installed package (torch,
Ray, ...: about 0.1 s) and each run parsed, rewrote for "magic" and compiled its page scripts
again. py-spy over the side-by-side lane (2026-12-07): 19.6 CPU-seconds in the scans, 17.6 in
the compiling, of 389 for its two pytest processes. The pages run as before; only these two
results are kept for the test process.
"""

from __future__ import annotations

import functools
import os
import threading


def scan_components_once() -> None:
    """Keep the first scan of installed Components v2 packages for the rest of the process."""
    from streamlit.components.v2 import manifest_scanner

    scan = manifest_scanner.scan_component_manifests
    if getattr(scan, "kept", False):
        return
    found = functools.cache(scan)

    def scan_once(max_workers: int | None = None) -> list:
        return list(found(max_workers))  # a list of its own for each caller, as before

    scan_once.kept = True
    # the component manager imports the function from its module at each scan
    manifest_scanner.scan_component_manifests = scan_once


def share_compiled_scripts() -> None:
    """Let every AppTest's script cache reuse a page's bytecode while the file is unchanged."""
    from streamlit import config
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    compile_script = ScriptCache.get_bytecode
    if getattr(compile_script, "shared", False):
        return
    compiled: dict[tuple, object] = {}
    lock = threading.Lock()

    def get_bytecode(self: ScriptCache, script_path: str):
        path = os.path.abspath(script_path)
        stat = os.stat(path)  # an edited file (a test that writes a page) compiles anew
        key = (path, stat.st_mtime_ns, stat.st_size, config.get_option("runner.magicEnabled"))
        with lock:
            code = compiled.get(key)
        if code is None:
            code = compile_script(self, script_path)
            with lock:
                compiled[key] = code
        return code

    get_bytecode.shared = True
    ScriptCache.get_bytecode = get_bytecode
