import { readFileSync } from 'node:fs'
import path from 'node:path'
import { bucketLocationBlock, bucketUpstreamBlock } from '../../helpers/nginx-bucket'

const docs = readFileSync(path.join(__dirname, '../../../docs/scale-out.md'), 'utf8')
const LOCATION = { location: '/_bucket/', upstream: 'bucket', host: 'minio.internal:9000' }

describe('docs/scale-out.md', () => {
  it('shows the bucket location that the x-accel integration test runs against nginx', () => {
    expect(docs).toContain(bucketLocationBlock(LOCATION))
  })

  it('shows the upstream block of the test', () => {
    expect(docs).toContain(bucketUpstreamBlock('bucket', 'minio.internal:9000', 0))
  })

  it('explains every kind of directive of the bucket location', () => {
    const block = bucketLocationBlock(LOCATION, 0)
    const directives = new Set(
      block
        .split('\n')
        .map((line) => line.trim().split(' ')[0] ?? '')
        .filter((word) => word !== '' && word !== '}' && word !== 'location' && word !== 'return'),
    )
    const explained = docs.slice(docs.indexOf('What the bucket location does'))
    for (const directive of directives)
      expect([directive, explained.includes(`\`${directive}`)]).toEqual([directive, true])
  })

  it('shows how to keep a header added by a view', () => {
    const block = bucketLocationBlock({ ...LOCATION, extraHeaders: ['X-Demo'] }, 0)
    for (const line of ['set $dv_x_demo $upstream_http_x_demo;', 'add_header X-Demo $dv_x_demo;']) {
      expect(block).toContain(line)
      expect(docs).toContain(line)
    }
  })
})
