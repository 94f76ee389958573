# pixel/: the browser tracker, built with npm (esbuild + terser, pinned in
# pixel/package-lock.json) into pixel/dist/pixel.min.js. Included by the
# top-level Makefile; paths are relative to the repository root.

PIXEL_JS    := pixel/dist/pixel.min.js
PIXEL_SRCS  := $(shell find pixel/src -type f -name '*.js' 2>/dev/null) \
               pixel/build.mjs pixel/package.json
# npm ci writes this file; it is older than the lock when the lock changed.
PIXEL_NPM   := pixel/node_modules/.package-lock.json

BUILD_TARGETS += $(PIXEL_JS) pixel-size

$(PIXEL_NPM): pixel/package-lock.json pixel/package.json
	cd pixel && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(PIXEL_JS): $(PIXEL_SRCS) $(PIXEL_NPM)
	@cd pixel && node build.mjs

# Prints the sizes on every make (make test included); the budget itself is
# checked by pixel/test/size.test.mjs.
.PHONY: pixel-size
pixel-size: $(PIXEL_JS)
	@node -e 'const f=require("fs").readFileSync(process.argv[1]),z=require("zlib").gzipSync(f,{level:9});console.log("pixel: "+process.argv[1]+" "+f.length+" B minified (budget 8192), "+z.length+" B gzipped (budget 3584)")' $(PIXEL_JS)
