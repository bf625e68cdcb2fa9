/**
 * A loopback TCP proxy between an app and its database that a test can break in the ways a network
 * breaks: refuse connections (nothing listens), kill the connections there are, or go silent (a
 * partition: bytes stop flowing, nobody is told; new connections are accepted and never answered).
 */
import net from 'node:net'

/** `forward`: a working network; `silent`: a partition; `refused`: nothing listens on the port. */
export type ProxyMode = 'forward' | 'silent' | 'refused'

export interface FaultProxy {
  readonly port: number
  readonly mode: ProxyMode
  /** Connections from the app that are open now. */
  readonly connections: number
  /** Connections from the app accepted since the start. */
  readonly accepted: number
  /** Back to a working network: listens again if needed, and live connections flow again. */
  forward(): Promise<void>
  /** A partition: live connections stop flowing (and stay open); new ones are accepted and never answered. */
  silence(): Promise<void>
  /** Kills every connection and stops listening: connecting is refused. */
  refuse(): Promise<void>
  /** Kills every live connection (both ends), as a database restart or a firewall reset does. */
  killConnections(): void
  close(): Promise<void>
}

interface Pair {
  client: net.Socket
  upstream?: net.Socket
}

/** Starts a proxy on a free loopback port, forwarding to `target`. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>()
  let server: net.Server | undefined
  let port = 0
  let mode: ProxyMode = 'forward'
  let accepted = 0

  const destroy = (pair: Pair) => {
    pair.client.destroy()
    pair.upstream?.destroy()
    pairs.delete(pair)
  }
  const relay = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause()
    })
    to.on('drain', () => {
      if (mode === 'forward') from.resume()
    })
  }

  const onConnection = (client: net.Socket) => {
    accepted++
    const pair: Pair = { client }
    pairs.add(pair)
    client.on('error', () => destroy(pair))
    client.on('close', () => destroy(pair))
    if (mode !== 'forward') {
      // Accepted, never answered: the app's connect waits for a startup reply that never comes.
      client.pause()
      return
    }
    const upstream = net.connect(target.port, target.host)
    pair.upstream = upstream
    upstream.on('error', () => destroy(pair))
    upstream.on('close', () => destroy(pair))
    relay(client, upstream)
    relay(upstream, client)
  }

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const listening = net.createServer(onConnection)
      listening.once('error', reject)
      listening.listen(port, '127.0.0.1', () => {
        const address = listening.address()
        if (typeof address === 'object' && address) port = address.port
        server = listening
        resolve()
      })
    })
  const stopListening = () =>
    new Promise<void>((resolve) => {
      const listening = server
      server = undefined
      if (listening) listening.close(() => resolve())
      else resolve()
    })
  const killConnections = () => {
    for (const pair of [...pairs]) destroy(pair)
  }

  await listen()
  return {
    get port() {
      return port
    },
    get mode() {
      return mode
    },
    get connections() {
      return pairs.size
    },
    get accepted() {
      return accepted
    },
    async forward() {
      mode = 'forward'
      // Connections accepted during a partition were never connected upstream: drop them.
      for (const pair of [...pairs]) {
        if (pair.upstream) {
          pair.client.resume()
          pair.upstream.resume()
        } else destroy(pair)
      }
      if (!server) await listen()
    },
    async silence() {
      mode = 'silent'
      for (const pair of pairs) {
        pair.client.pause()
        pair.upstream?.pause()
      }
      if (!server) await listen()
    },
    async refuse() {
      mode = 'refused'
      killConnections()
      await stopListening()
    },
    killConnections,
    async close() {
      killConnections()
      await stopListening()
    },
  }
}
