# The two set-up commands are `make run` and `make test`; the rest are conveniences.
.PHONY: run test web executor-image lint bench clean

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh $(ARGS)

web:
	@bash scripts/build_web.sh --force

executor-image:
	@bash scripts/bootstrap.sh && bash scripts/ensure_docker.sh && bash scripts/build_executor_image.sh

lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	@bash scripts/bootstrap.sh && bash scripts/ensure_services.sh && .venv/bin/python benchmarks/api_resources.py

clean:
	rm -rf .wegent .cache
