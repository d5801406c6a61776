// Builds the web UI (gateway/ui) into gateway/dist/public with esbuild: one minified bundle, the
// HTML shell and the stylesheet. Run by `npm run build`.
import { copyFileSync, mkdirSync } from "node:fs";
import process from "node:process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "public");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, "ui", "src", "main.tsx")],
  bundle: true,
  minify: true,
  sourcemap: true,
  target: "es2020",
  jsx: "automatic",
  jsxImportSource: "preact",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
for (const file of ["index.html", "styles.css"]) copyFileSync(join(root, "ui", file), join(out, file));
process.stdout.write(`web UI built into ${out}\n`);
