import { readFileSync } from 'node:fs'
import path from 'node:path'
import { apacheSiteBlock } from '../../helpers/apache'
import { lighttpdProxyBlock } from '../../helpers/lighttpd'

const docs = readFileSync(path.join(__dirname, '../../../docs/apache-lighttpd.md'), 'utf8')

describe('docs/apache-lighttpd.md', () => {
  it('shows the Apache site lines that the X-Sendfile server test runs', () => {
    expect(docs).toContain(apacheSiteBlock({ appPort: 3000, sendfilePaths: ['/srv/media'] }))
  })

  it('shows the lighttpd proxy.server block that the X-Sendfile server test runs', () => {
    expect(docs).toContain(lighttpdProxyBlock({ appPort: 3000, docroots: ['/srv/media/'] }))
  })
})
