/// <reference types="node" />
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/**
 * The API docs page, offline: our page and start-up script (api-docs/) and Swagger UI's
 * files from the installed `swagger-ui-dist` package, written to dist/api-docs/ for the
 * server to serve at /docs. Nothing of Swagger UI is kept in the repository.
 */
function offlineApiDocs(): Plugin {
  const files: Record<string, string> = {
    "index.html": here("./api-docs/index.html"),
    "docs.js": here("./api-docs/docs.js"),
    "swagger-ui-bundle.js": here("./node_modules/swagger-ui-dist/swagger-ui-bundle.js"),
    "swagger-ui.css": here("./node_modules/swagger-ui-dist/swagger-ui.css"),
    "LICENSE": here("./node_modules/swagger-ui-dist/LICENSE"),
    "NOTICE": here("./node_modules/swagger-ui-dist/NOTICE"),
    "swagger-ui-bundle.js.LICENSE.txt": here("./node_modules/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt"),
  };
  return {
    name: "chronicle-offline-api-docs",
    apply: "build",
    generateBundle() {
      for (const [name, source] of Object.entries(files)) {
        this.emitFile({ type: "asset", fileName: `api-docs/${name}`, source: readFileSync(source) });
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), offlineApiDocs()],
  server: {
    // `npm run dev` next to a running `crm serve`: the API answers on its own port.
    proxy: Object.fromEntries(
      ["/v1", "/openapi.json", "/health"].map((path) => [path, process.env.CRM_API ?? "http://127.0.0.1:8000"]),
    ),
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // index.html is the only file not named by its content; everything it loads is.
    assetsDir: "assets",
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
