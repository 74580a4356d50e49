/**
 * The dashboard's browser app (served by maglevd-frontend, src/frontend/).
 * `npm run build:web` writes web/dist/, which is committed: `npm ci && npm
 * start` needs no build step, and test/frontend/webBuild.test.ts fails when
 * the committed files are not what this config builds from web/src/.
 *
 * The output is deterministic: fixed file names (no content hashes) and
 * relative URLs (`base: "./"`), so the same files serve under /view/ and
 * /admin/.
 */
import { fileURLToPath } from "node:url"
import { defineConfig } from "vite"

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  // Preact's automatic JSX runtime through Vite's own esbuild: no Babel preset needed.
  // jsxDev off even when NODE_ENV is not "production" (vitest sets "test"): the build must not depend on it.
  esbuild: { jsx: "automatic", jsxImportSource: "preact", jsxDev: false },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: false,
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]"
      }
    }
  }
})
