// Regenerates src/api/schema.d.ts from the OpenAPI document of `crm serve`'s API:
// `crm schemas openapi` writes the document, openapi-typescript turns it into types.
// tests/unit/test_web_api_types.py fails while the committed file differs from this output.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const web = fileURLToPath(new URL("..", import.meta.url));
const repository = join(web, "..", "..");
const python = process.env.CRM_PYTHON ?? join(repository, ".venv", "bin", "python");
const scratch = mkdtempSync(join(tmpdir(), "crm-api-types-"));
try {
  const document = join(scratch, "openapi.json");
  execFileSync(python, ["-m", "services.cli", "schemas", "openapi", "--output", document], {
    cwd: repository,
    stdio: "inherit",
  });
  execFileSync(
    process.execPath,
    [join(web, "node_modules", "openapi-typescript", "bin", "cli.js"), document, "--output", join(web, "src", "api", "schema.d.ts")],
    { cwd: web, stdio: "inherit" },
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
