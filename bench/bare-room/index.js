// The baseline for the fan-out benchmark: a bare broadcast room with no protocol at all.
// One Durable Object per topic, hibernating sockets, every message relayed to every other socket.
import { DurableObject } from 'cloudflare:workers'

export class BareRoom extends DurableObject {
  async fetch() {
    const [client, server] = Object.values(new WebSocketPair())
    this.ctx.acceptWebSocket(server)
    return new Response(null, { status: 101, webSocket: client })
  }
  webSocketMessage(ws, message) {
    for (const peer of this.ctx.getWebSockets()) if (peer !== ws) try { peer.send(message) } catch {}
  }
  webSocketClose(ws) { try { ws.close() } catch {} }
}

export default {
  fetch(req, env) {
    const topic = new URL(req.url).searchParams.get('topic') ?? 'bench'
    return env.BARE.get(env.BARE.idFromName(topic)).fetch(req)
  },
}
