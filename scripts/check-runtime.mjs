#!/usr/bin/env node
// Refuses to go on unless this script itself runs on the project's pinned Node
// line. The root scripts (`start`, `bench`, `verify`, `test`) call it first:
// pnpm puts node_modules/.bin ahead of PATH, so `node` there is the binary of
// the optional dependency `node-<platform>-<arch>` (pinned in package.json)
// and every later `node` in the same script is the same binary. Written for
// any Node (it runs on the old system Node when that pin is missing).
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const wanted = pkg.optionalDependencies?.[`node-${process.platform}-${process.arch}`];
const pinned = Object.values(pkg.optionalDependencies ?? {})[0];
const wantedMajor = String(wanted ?? pinned).split('.')[0];
const major = process.versions.node.split('.')[0];

if (major !== wantedMajor) {
  const covered = Object.keys(pkg.optionalDependencies ?? {})
    .filter((name) => name.startsWith('node-'))
    .map((name) => name.slice('node-'.length))
    .join(', ');
  const lines =
    wanted === undefined
      ? [
          `session-cluster runs on Node ${wantedMajor} (pinned ${pinned} for ${covered}),`,
          `and the npm registry's Node binaries are not pinned here for ${process.platform}-${process.arch}.`,
          `Install Node ${wantedMajor} yourself (nvm, your package manager) and put it first on PATH,`,
          `then run the same command again. This process runs Node ${process.version}.`,
        ]
      : [
          `session-cluster runs on Node ${wanted} (the optional dependency node-${process.platform}-${process.arch}),`,
          `but this process runs Node ${process.version}: the install did not link it.`,
          `Run \`npx -y pnpm@${pkg.engines?.pnpm ?? '12.21.0'} install --frozen-lockfile\` first, and start`,
          `scripts through pnpm (\`npx -y pnpm@${pkg.engines?.pnpm ?? '12.21.0'} start\`), not with a bare \`node\`.`,
        ];
  console.error(lines.join('\n'));
  process.exit(1);
}
console.log(`runtime: Node ${process.version} (${process.execPath})`);
