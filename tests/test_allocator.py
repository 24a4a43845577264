"""The extraction workers' C allocator (extractors/allocator.py): chosen by config, preloaded into
the forkserver and so into every worker, never into the pipeline's own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from extractors.allocator import JEMALLOC, find_jemalloc, preloading, worker_allocator
from newswatch.config import ConfigError, load_settings, settings_from_dict

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter: the forkserver is per process, and the one of the test process may
# already have been started (without an allocator) by an earlier test's pool.
POOL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datetime import UTC, datetime
    from pathlib import Path

    from extractors.articles import ExtractionPool, build_article
    from flows.demo import COVERAGE, render
    from newswatch.records import FeedItem, FetchedPage


    def loaded_libraries():
        # file names of the shared libraries mapped into this process
        lines = Path("/proc/self/maps").read_text().splitlines()
        return {Path(line.split()[-1]).name for line in lines if line.count(" ") >= 5 and "/" in line}


    def libraries(items):
        return [sorted(loaded_libraries()) for _ in items]


    def demo_pages():
        now = datetime.now(UTC)
        pages = []
        for number, path in enumerate(sorted((COVERAGE / "sites").rglob("*.html"))[:6]):
            url = f"http://127.0.0.1/p/{number}.html"
            item = FeedItem(feed_name="demo", url=url, url_key=url[7:], guid=url, title="Artikel",
                            summary="Kurz", published_at=None, feed_language="de")
            body = render(path.read_text(encoding="utf-8"), "http://127.0.0.1", now).encode()
            pages.append(FetchedPage(item=item, final_url=url, http_status=200, content_type="text/html",
                                     body=body, charset="utf-8", fetched_at=now))
        return pages


    if __name__ == "__main__":
        allocator = Path(sys.argv[1]) if sys.argv[1] != "none" else None
        pages = demo_pages()
        with ExtractionPool(workers=2, allocator=allocator) as pool:
            workers = pool.map(libraries, list(range(8)))
            texts = [a.text for a in pool.build_articles(pages)]
        print(json.dumps({
            "workers": workers,
            "main": sorted(loaded_libraries()),
            "same_text": texts == [build_article(p).text for p in pages],
            "pages": len(pages),
        }))
    """
)


def run_pool(tmp_path: Path, allocator: str) -> dict:
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LD_PRELOAD", None)
    done = subprocess.run(
        [sys.executable, str(script), allocator], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_workers_preload_the_allocator_and_the_main_process_does_not(tmp_path: Path) -> None:
    library = find_jemalloc()
    if library is None:
        pytest.skip("no jemalloc on this machine: `make` unpacks Debian's libjemalloc2 into .cache/jemalloc "
                    "(scripts/fetch-jemalloc), or install it (docs/operations.md)")
    result = run_pool(tmp_path, str(library))
    assert result["pages"] > 0 and result["same_text"]  # an allocator changes no result
    assert len(result["workers"]) == 8 and all(library.name in libs for libs in result["workers"])
    assert library.name not in result["main"]


def test_without_an_allocator_the_workers_keep_the_c_librarys(tmp_path: Path) -> None:
    result = run_pool(tmp_path, "none")
    assert result["same_text"]
    assert not any(JEMALLOC in libs for libs in result["workers"])


def test_preloading_sets_ld_preload_only_inside_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    with preloading(Path("/opt/lib/libjemalloc.so.2")):
        assert os.environ["LD_PRELOAD"] == "/opt/lib/libjemalloc.so.2"
    assert "LD_PRELOAD" not in os.environ

    monkeypatch.setenv("LD_PRELOAD", "/opt/lib/libtrace.so")
    with pytest.raises(RuntimeError):
        with preloading(Path("/opt/lib/libjemalloc.so.2")):
            assert os.environ["LD_PRELOAD"] == "/opt/lib/libjemalloc.so.2 /opt/lib/libtrace.so"
            raise RuntimeError
    assert os.environ["LD_PRELOAD"] == "/opt/lib/libtrace.so"

    with preloading(None):
        assert os.environ["LD_PRELOAD"] == "/opt/lib/libtrace.so"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD and the forkserver are Linux's")
def test_auto_finds_the_system_library_before_the_project_copy(tmp_path: Path) -> None:
    system, project = tmp_path / "system", tmp_path / "project" / JEMALLOC
    system.mkdir()
    assert find_jemalloc((str(system),), project) is None
    project.parent.mkdir()
    project.write_bytes(b"")
    assert find_jemalloc((str(system),), project) == project
    (system / JEMALLOC).write_bytes(b"")
    assert find_jemalloc((str(system),), project) == system / JEMALLOC


def test_auto_leaves_an_allocator_the_operator_preloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("extractors.allocator.find_jemalloc", lambda: Path("/found/libjemalloc.so.2"))
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    expected = Path("/found/libjemalloc.so.2") if sys.platform.startswith("linux") else None
    assert worker_allocator("auto") == expected
    assert worker_allocator("system") is None
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libmimalloc.so.2")
    assert worker_allocator("auto") is None


def test_config_takes_auto_system_or_an_existing_library(tmp_path: Path) -> None:
    assert settings_from_dict({}).fetch.extraction_allocator == "auto"
    assert settings_from_dict({"fetch": {"extraction_allocator": "system"}}).fetch.extraction_allocator == "system"
    library = tmp_path / "libmimalloc.so.2"
    library.write_bytes(b"")
    settings = settings_from_dict({"fetch": {"extraction_allocator": str(library)}})
    assert settings.fetch.extraction_allocator == str(library)
    with pytest.raises(ConfigError, match=r"fetch\.extraction_allocator: .*no such file"):
        settings_from_dict({"fetch": {"extraction_allocator": str(tmp_path / "missing.so")}})
    with pytest.raises(ConfigError, match=r"fetch\.extraction_allocator"):
        settings_from_dict({"fetch": {"extraction_allocator": "jemalloc"}})


def test_a_relative_library_path_is_the_config_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "libmimalloc.so.2").write_bytes(b"")
    config = folder / "newswatch.toml"
    config.write_text('[fetch]\nextraction_allocator = "lib/libmimalloc.so.2"\n')
    monkeypatch.chdir(tmp_path)  # the working directory has no lib/ folder
    assert load_settings(config).fetch.extraction_allocator == str(folder / "lib" / "libmimalloc.so.2")
    config.write_text('[fetch]\nextraction_allocator = "lib/missing.so"\n')
    with pytest.raises(ConfigError, match=r"newswatch\.toml: fetch\.extraction_allocator: .*lib/missing\.so.*no such file"):
        load_settings(config)
