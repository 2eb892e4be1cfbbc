"""Helpers for the test suite: doubles, fake servers, the editor harness, shared test data.

Test modules import from here (``from support.lsp_harness import Editor``), never from one
another; ``tests/`` is on ``sys.path`` (conftest.py), and the language server under test gets
it on ``PYTHONPATH`` so ``python -m support.lsp_serve_double support.lsp_double:DoubleEngine``
serves the real language server over that double.

- ``lsp_harness``: a pytest-lsp editor over the real server; ``lsp_double``,
  ``lsp_phase2_double``, ``noisy_engine``: engine doubles; ``lsp_serve_double``: ``dise serve``
  with a double's class as ``create_server``'s engine factory.
- ``fake_ollama``, ``scripted_ollama``: Ollama's HTTP API over scripted answers;
  ``standin_openai``: an OpenAI-compatible server that fails on demand;
  ``scripted_backend``: a scripted model and ``BackendSlot`` (``Engine(backend_factory=…)``).
- ``weak_setup``: the weak first version the Phase 2 tests start from; ``optimize_worker``:
  the background optimiser as a subprocess.
- ``store_data``, ``index_data``, ``neovim``: data and helpers shared by test modules.
"""
