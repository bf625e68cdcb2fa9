import { Client } from 'pg'
import { DataSource } from 'typeorm'
import { listenerClientClass, listenerClientConfig } from '../../../src/cache/listener-connection'
import { ConfigurationError } from '../../../src/errors'

describe('listenerClientConfig()', () => {
  it('takes the url, with keep-alive and the default connect timeout', () => {
    const dataSource = new DataSource({ type: 'postgres', url: 'postgres://u:p@db.example:6543/app' })
    expect(listenerClientConfig(dataSource, 5000)).toEqual({
      connectionString: 'postgres://u:p@db.example:6543/app',
      connectionTimeoutMillis: 5000,
      keepAlive: true,
    })
  })

  it('takes host, port, username, password, database, ssl and the application name', () => {
    const dataSource = new DataSource({
      type: 'postgres',
      host: 'db.example',
      port: 6543,
      username: 'u',
      password: 'p',
      database: 'app',
      ssl: { rejectUnauthorized: false },
      applicationName: 'shop',
      connectTimeoutMS: 1500,
    })
    expect(listenerClientConfig(dataSource, 5000)).toEqual({
      host: 'db.example',
      port: 6543,
      user: 'u',
      password: 'p',
      database: 'app',
      ssl: { rejectUnauthorized: false },
      application_name: 'shop',
      connectionTimeoutMillis: 1500,
      keepAlive: true,
    })
  })

  it('connects to the replication primary, never a replica (a standby cannot LISTEN)', () => {
    const dataSource = new DataSource({
      type: 'postgres',
      replication: {
        master: { host: 'primary', username: 'u', database: 'app' },
        slaves: [{ host: 'replica', username: 'u', database: 'app' }],
      },
    })
    expect(listenerClientConfig(dataSource, 5000)).toMatchObject({
      host: 'primary',
      user: 'u',
      database: 'app',
    })
  })

  it('lets `extra` override, as TypeORM does for its pool', () => {
    const dataSource = new DataSource({
      type: 'postgres',
      url: 'postgres://db/app',
      extra: { keepAlive: false, connectionTimeoutMillis: 250, query_timeout: 1000 },
    })
    expect(listenerClientConfig(dataSource, 5000)).toMatchObject({
      keepAlive: false,
      connectionTimeoutMillis: 250,
      query_timeout: 1000,
    })
  })

  it('is a ConfigurationError for a DataSource that is not Postgres', () => {
    // Only its options are read: a MySQL DataSource as far as this check can tell.
    const dataSource = { options: { type: 'mysql' }, driver: {} } as unknown as DataSource
    expect(() => listenerClientConfig(dataSource, 5000)).toThrow(ConfigurationError)
    expect(() => listenerClientConfig(dataSource, 5000)).toThrow(
      /option "dataSource" must be a Postgres DataSource/,
    )
  })
})

describe('listenerClientClass()', () => {
  it("is the Client of the pg module TypeORM's driver loaded", () => {
    const dataSource = new DataSource({ type: 'postgres', url: 'postgres://db/app' })
    expect(listenerClientClass(dataSource)).toBe(Client)
  })

  it("is pg's own Client when the driver loaded none", () => {
    const bare = { options: { type: 'postgres' }, driver: {} } as unknown as DataSource
    expect(listenerClientClass(bare)).toBe(Client)
  })

  it('is the Client of the driver the DataSource was given', () => {
    class OwnClient extends Client {}
    const driver = { ...require('pg'), Client: OwnClient }
    const dataSource = new DataSource({ type: 'postgres', url: 'postgres://db/app', driver })
    expect(listenerClientClass(dataSource)).toBe(OwnClient)
  })
})
