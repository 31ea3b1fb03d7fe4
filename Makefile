# Convenience targets; the README's Quick start uses scripts/demo and scripts/test directly
# because a fresh Debian 12 machine may not have make yet.
.PHONY: demo test build deps clean
demo:
	scripts/demo $(ARGS)
test:
	scripts/test
build:
	scripts/install-deps.sh && scripts/build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
deps:
	scripts/install-deps.sh
clean:
	rm -rf build build-asan
