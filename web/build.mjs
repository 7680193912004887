// Builds the explorer into ../vitals/api/static/: one hashed JS bundle (uPlot inside),
// one hashed CSS file, index.html naming them, and uPlot's licence. The output is
// committed, so the Python package ships it and CI needs no Node.
//   cd web && npm ci && npm run build
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "vitals", "api", "static");
mkdirSync(out, { recursive: true });
for (const name of readdirSync(out)) rmSync(join(out, name));

const result = await build({
  entryPoints: { app: join(here, "src", "main.js") },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  outdir: out,
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "eof",
  logLevel: "info",
});

const names = {};
for (const file of Object.keys(result.metafile.outputs)) {
  const name = basename(file);
  names[`app${name.slice(name.lastIndexOf("."))}`] = name;
}
let html = readFileSync(join(here, "index.html"), "utf8");
html = html.replace(/\{\{(app\.(?:js|css))\}\}/g, (_, key) => {
  if (!names[key]) throw new Error(`build produced no ${key}`);
  return names[key];
});
writeFileSync(join(out, "index.html"), html);
copyFileSync(join(here, "node_modules", "uplot", "LICENSE"), join(out, "uPlot-LICENSE.txt"));
console.log("built", Object.values(names).join(", "), "+ index.html, uPlot-LICENSE.txt ->", out);
