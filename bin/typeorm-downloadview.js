#!/usr/bin/env node
// The typeorm-downloadview command line. In a checkout of this repository (src/ is here) it runs the
// TypeScript source through tsx, so that it shares the column and storage registries with a
// DataSource file that imports ./src; a built dist/ would be a second copy that sees none of them.
// An installed package has no src/ and runs the compiled dist/cli/main.js.
const { existsSync } = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const source = path.join(root, 'src', 'cli', 'main.ts')
const built = path.join(root, 'dist', 'cli', 'main.js')

let entry = built
if (existsSync(source)) {
  require('tsx/cjs/api').register()
  entry = source
} else if (!existsSync(built)) {
  process.stderr.write(`typeorm-downloadview: neither ${built} nor ${source} exists; run npm run build\n`)
  process.exit(2)
}
require(entry).run()
