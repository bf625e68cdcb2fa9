/**
 * @module `npm run downloads`: prints how many times each document was downloaded, from the demo's
 * `download_event` audit table, on the database at DATABASE_URL (else the embedded Postgres that
 * `npm start` runs, on EMBEDDED_PG_PORT, default 54329). `--json` prints the rows as JSON.
 */
import 'reflect-metadata'
import { createDataSource } from '../ormconfig'
import { downloadSummary } from './download-audit'

async function main(): Promise<void> {
  const json = process.argv.includes('--json')
  const url =
    process.env.DATABASE_URL ||
    `postgres://postgres:postgres@127.0.0.1:${process.env.EMBEDDED_PG_PORT ?? 54329}/downloadview`
  const dataSource = createDataSource(url)
  await dataSource.initialize()
  try {
    const rows = await downloadSummary(dataSource)
    if (json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`)
      return
    }
    if (rows.length === 0) {
      process.stdout.write('No downloads recorded yet.\n')
      return
    }
    const header = ['document', 'downloads', 'complete', 'handed off', 'bytes', 'last']
    const lines = rows.map((row) => [
      row.slug,
      String(row.downloads),
      String(row.complete),
      String(row.handedOff),
      String(row.bytes),
      row.last.toISOString(),
    ])
    const widths = header.map((title, column) =>
      Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)),
    )
    for (const line of [header, ...lines])
      process.stdout.write(
        `${line
          .map((cell, column) => cell.padEnd(widths[column] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
      )
  } finally {
    await dataSource.destroy()
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
