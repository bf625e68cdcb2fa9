import { readFileSync } from 'node:fs'
import path from 'node:path'
import { internalLocationBlock } from '../../helpers/nginx'

const docs = readFileSync(path.join(__dirname, '../../../docs/nginx.md'), 'utf8')

describe('docs/nginx.md', () => {
  it('shows the internal location that the integration test runs against nginx', () => {
    expect(docs).toContain(internalLocationBlock({ location: '/protected/media/', alias: '/srv/media' }))
  })

  it('shows how to restore a header added by a view', () => {
    expect(docs).toContain('add_header X-Demo $upstream_http_x_demo;')
  })

  it('explains every directive of the internal location', () => {
    const block = internalLocationBlock({ location: '/protected/media/', alias: '/srv/media' }, [], 0)
    const directives = block
      .split('\n')
      .slice(1, -1)
      .map((line) => line.trim())
    for (const directive of directives)
      expect([directive, docs.includes(`- \`${directive}\`: `)]).toEqual([directive, true])
  })
})
