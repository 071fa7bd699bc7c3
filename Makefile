# Developer shortcuts; the README's two commands (./run.sh demo, ./run.sh test) need no make.
.PHONY: demo test lint types unit bench clean

demo:
	./run.sh demo --no-serve

test:
	./run.sh test

lint:
	.venv/bin/ruff check src tests bench && .venv/bin/ruff format --check src tests bench

types:
	.venv/bin/mypy

unit:
	.venv/bin/python -m pytest -x -q

bench:
	./run.sh bench

clean:
	rm -rf .venv demo-workspace bench/out .mypy_cache .ruff_cache .pytest_cache
